package ring

import (
	"sync"
	"sync/atomic"
)

// cacheLinePad separates the hot words of the ring from each other.
//
// A CPU moves memory between cores a cache line (64 bytes on x86) at a time,
// and a core must own a line exclusively to write any byte of it. If the
// producer's cursor and a consumer's sequence shared a line, every publish
// would steal the line from the consumer and every release would steal it
// back, although the two never touch the same word: "false sharing", which
// turns a few-nanosecond store into a cross-core round trip. Padding each
// sequence to lines of its own keeps one writer per line. We pad with 128
// bytes rather than 64 because Intel's spatial prefetcher fetches lines in
// 128-byte pairs and some arm64 cores have 128-byte lines; the cost is a few
// hundred bytes per ring.
const cacheLinePad = 128

// initialSequence is the value of every sequence before anything happened:
// the first claim is sequence 0.
const initialSequence = -1

// sequence is a counter that one goroutine advances and others read: the
// producers' cursor or a consumer's position. It sits alone on its cache
// lines (see cacheLinePad).
//
// It is also the place where goroutines park under the Blocking strategy
// while they wait for it to move: waiters counts them, and the writer takes
// the mutex to wake them only when it is non-zero, so that the fast path of
// a publish is one extra load of a word on a line it already owns.
//
// A sequence that a Group member waits on also rings that group's doorbell
// (bells) whenever it wakes its own waiters: the group parks on one doorbell
// for all its members rather than on any one sequence. bells is set before
// Start (NewGroup) and only read afterwards, so it shares the line of value
// without adding traffic: on a ring outside any group, a publish pays one
// more load, of a word on a line it already owns, to find bells empty.
type sequence struct {
	_       [cacheLinePad]byte
	value   atomic.Int64
	waiters atomic.Int32                    // goroutines parked in park, waiting for value to change
	bells   []*sequence                     // the bells of groups whose members wait on this sequence; read-only after Start
	_       [cacheLinePad - 8 - 8 - 24]byte // value, waiters (aligned to 8 by bells), bells' header

	// Parking lot, touched only by goroutines that park and by writers
	// that find waiters > 0.
	mu   sync.Mutex
	cond sync.Cond
}

func (s *sequence) init() {
	s.value.Store(initialSequence)
	s.cond.L = &s.mu
}

// load returns the current value.
func (s *sequence) load() int64 { return s.value.Load() }

// store publishes v and, under the Blocking strategy, wakes the goroutines
// parked on s.
//
// The lost-wakeup argument: store writes value and then reads waiters;
// park increments waiters and then re-reads value (through ready) under the
// mutex. Both are sequentially consistent atomics, so at least one side sees
// the other: either store sees waiters > 0 and broadcasts (which the parker
// receives, as it holds the mutex from its check until it waits), or the
// parker's check sees the new value and does not wait.
//
// Without parking (BusySpin, Yield) nobody waits on waiters, so a release
// store suffices, and it is much cheaper (see storeRelease).
func (s *sequence) store(v int64, w WaitStrategy) {
	if w != Blocking {
		storeRelease(&s.value, v)
		return
	}
	s.value.Store(v)
	s.wake()
}

// wake wakes the goroutines parked on s, if any, and the groups parked on
// a doorbell of s. It is small enough to be inlined into every Blocking
// publish and release: with nobody parked and no bells, it costs two loads
// of words on s's first line.
func (s *sequence) wake() {
	if s.waiters.Load() > 0 || len(s.bells) > 0 {
		s.wakeSome()
	}
}

func (s *sequence) wakeSome() {
	if s.waiters.Load() > 0 {
		s.broadcast()
	}
	for _, b := range s.bells {
		b.wake()
	}
}

// wakeAll wakes the goroutines parked on s unconditionally (Close and
// timeouts use it: their condition is not s's value), and the groups
// parked on a doorbell of s. A doorbell is rung only when a group waits on
// it; that is enough for Close, whose closed flag is written before and
// re-checked by the group after the doorbell's waiters (see Group.bell).
func (s *sequence) wakeAll() {
	s.broadcast()
	for _, b := range s.bells {
		b.wake()
	}
}

func (s *sequence) broadcast() {
	s.mu.Lock()
	s.cond.Broadcast()
	s.mu.Unlock()
}

// addBell makes s ring b. It is called before Start only.
func (s *sequence) addBell(b *sequence) {
	for _, have := range s.bells {
		if have == b {
			return
		}
	}
	s.bells = append(s.bells, b)
}

// park blocks until ready returns true. ready is evaluated with s's mutex
// held, after waiters was incremented; whatever makes it true must be
// followed by a wake (or wakeAll) of s.
func (s *sequence) park(ready func() bool) {
	s.mu.Lock()
	s.waiters.Add(1)
	for !ready() {
		s.cond.Wait()
	}
	s.waiters.Add(-1)
	s.mu.Unlock()
}
