package perf

import (
	"math"
	"sync"
	"time"
)

// Request states, the bits of a slot's state.
const (
	stAcked    uint8 = 1 << iota // answered with an ack
	stRejected                   // answered with a reject
	stRested                     // the order rested on the book (an accepted event)
	stTaker                      // its first fill as a taker has been timed
	stEnded                      // the order left the book (done, canceled)
)

// maxRecordedLost bounds the lost request numbers a Tracker lists.
const maxRecordedLost = 10

// Ring sizes of a Tracker: it starts small and keeps at least
// trackerRetain recent requests (16 bytes each) once it has sent that
// many, more only while older requests are unanswered.
const (
	trackerMinRing = 1 << 10
	trackerRetain  = 1 << 16
)

// Tracker is the request table of one connection. Requests are numbered
// 1, 2, 3, ... as they are sent (the caller builds its client order ids
// from the number, and the answers name it again). That is what lets it
// prove exactly-once with compact state: the tracker holds a ring of
// slots (intended send time, send lag, tag, state) for the numbers from
// low to the last one sent, and every number below low was answered.
//
// The ring's invariant: every unanswered request has a slot. A slot is
// given up only when it is the oldest, it was answered, and the ring holds
// at least trackerRetain requests; otherwise the ring doubles. So an
// answer for a number below low is a duplicate, one above the last number
// sent is unknown, and a slot still unanswered at the end is lost. The
// memory is that of the requests in flight, or of the last trackerRetain
// requests (1 MiB), whichever is more, however long the run.
//
// The later events of an order (rested, filled, ended) are kept while its
// slot is: the order-to-fill latency of a taker whose fill comes after
// trackerRetain more requests is not timed, and such an old order counts
// as live for cancel and replace targets (a cancel of an order gone
// meanwhile is refused by the matcher, an outcome the report counts).
//
// Latencies are charged from the intended time: the ack latency when the
// answer arrives, the order-to-fill latency when the first fill of an order
// that took liquidity on arrival is notified. The batch methods (AddBatch,
// Answered) take the tracker's lock once per batch, and each recorder's
// once.
type Tracker struct {
	base   time.Time
	window *Window
	ack    *Recorder // from the intended send time
	svc    *Recorder // from the actual send time
	fill   *Recorder
	lag    *Recorder

	mu       sync.Mutex
	ring     []slot // by number & (len-1); the length is a power of two
	low      uint64 // the oldest number with a slot (numbers below were answered)
	last     uint64 // the last number handed out (0: none)
	acked    int64
	rejected int64
	dupes    int64
	unknown  int64
	rejects  map[uint16]int64 // rejects by reason code
}

// slot is one request's record.
type slot struct {
	intended int64 // nanoseconds from base
	lag      int32 // actual minus intended send time, ns, saturated
	tag      uint8 // the caller's tag (the request's kind)
	state    uint8 // stXxx bits
}

// Answer is one answer of a batch given to Answered: N, Reject and Code
// come from the caller; Tag and OK are set by Answered.
type Answer struct {
	N      uint64 // the request number the answer names (0: none)
	Reject bool   // a reject rather than an ack
	Code   uint16 // the reject's reason
	Tag    uint8  // the request's tag
	OK     bool   // false for a duplicate or unknown answer, which records nothing
}

// Add registers a request meant to go out at intended and returns its
// number. It must be called before the request is sent (so that no answer
// can come first). The send lag (now minus intended) is recorded here.
func (t *Tracker) Add(intended time.Time, tag uint8) uint64 {
	return t.AddBatch(time.Now(), []time.Time{intended}, []uint8{tag})
}

// AddBatch registers len(intended) requests about to be sent at now, the
// i-th meant to go out at intended[i] with tags[i], and returns the number
// of the first (the others follow in order). As Add, it must be called
// before they are sent.
func (t *Tracker) AddBatch(now time.Time, intended []time.Time, tags []uint8) (first uint64) {
	at := int64(now.Sub(t.base))
	t.mu.Lock()
	t.lag.mu.Lock()
	first = t.last + 1
	for i, it := range intended {
		n := t.last + 1
		t.reserve(n)
		in := int64(it.Sub(t.base))
		lag := min(max(at-in, 0), math.MaxInt32)
		t.ring[n&uint64(len(t.ring)-1)] = slot{intended: in, lag: int32(lag), tag: tags[i]}
		t.last = n
		t.lag.record(lag)
	}
	t.lag.mu.Unlock()
	t.mu.Unlock()
	return first
}

// reserve makes room for number n = t.last+1 in the ring, by giving up the
// oldest answered slots or by growing. Called with t.mu held.
func (t *Tracker) reserve(n uint64) {
	if t.ring == nil {
		t.ring = make([]slot, trackerMinRing)
		t.low = 1
	}
	mask := uint64(len(t.ring) - 1)
	for n-t.low >= uint64(len(t.ring)) {
		if len(t.ring) >= trackerRetain && t.ring[t.low&mask].state&(stAcked|stRejected) != 0 {
			t.low++
			continue
		}
		bigger := make([]slot, 2*len(t.ring))
		bmask := uint64(len(bigger) - 1)
		for m := t.low; m < n; m++ {
			bigger[m&bmask] = t.ring[m&mask]
		}
		t.ring, mask = bigger, bmask
	}
}

// get returns request n's slot, or nil if n has none (never sent, or
// answered long ago). Called with t.mu held.
func (t *Tracker) get(n uint64) *slot {
	if n < t.low || n > t.last || n == 0 {
		return nil
	}
	return &t.ring[n&uint64(len(t.ring)-1)]
}

// answer marks request n answered with bit; it returns its slot, and
// false if n is a duplicate or unknown. Called with t.mu held.
func (t *Tracker) answer(n uint64, bit uint8) (*slot, bool) {
	if n == 0 || n > t.last {
		t.unknown++
		return nil, false
	}
	s := t.get(n)
	if s == nil || s.state&(stAcked|stRejected) != 0 {
		t.dupes++ // below low: answered before its slot was given up
		return s, false
	}
	s.state |= bit
	return s, true
}

// Answered records a batch of answers that arrived at now: for each ack
// its latency from the intended send time (and, for comparison, from the
// actual send time), for each reject its reason, and the window slots
// they give back. It sets each answer's Tag and OK.
func (t *Tracker) Answered(now time.Time, as []Answer) {
	at := int64(now.Sub(t.base))
	freed := 0
	t.mu.Lock()
	t.ack.mu.Lock()
	t.svc.mu.Lock()
	for i := range as {
		a := &as[i]
		bit := stAcked
		if a.Reject {
			bit = stRejected
		}
		s, ok := t.answer(a.N, bit)
		a.OK, a.Tag = ok, 0
		if s != nil {
			a.Tag = s.tag
		}
		if !ok {
			continue
		}
		freed++
		if a.Reject {
			t.rejected++
			if t.rejects == nil {
				t.rejects = make(map[uint16]int64)
			}
			t.rejects[a.Code]++
			continue
		}
		t.acked++
		t.ack.record(at - s.intended)
		t.svc.record(at - s.intended - int64(s.lag))
	}
	t.svc.mu.Unlock()
	t.ack.mu.Unlock()
	t.mu.Unlock()
	t.window.ReleaseN(freed)
}

// Ack records the ack of request n (Answered for one answer). It returns
// the request's tag, and false (recording nothing) for a duplicate or
// unknown answer.
func (t *Tracker) Ack(n uint64) (tag uint8, ok bool) {
	a := [1]Answer{{N: n}}
	t.Answered(time.Now(), a[:])
	return a[0].Tag, a[0].OK
}

// Reject records the reject of request n with a reason code, as Ack.
// Rejects are counted by reason, not timed.
func (t *Tracker) Reject(n uint64, code uint16) (tag uint8, ok bool) {
	a := [1]Answer{{N: n, Reject: true, Code: code}}
	t.Answered(time.Now(), a[:])
	return a[0].Tag, a[0].OK
}

// Rested records that order n rested on the book: fills after this are
// fills as a maker.
func (t *Tracker) Rested(n uint64) { t.setState(n, stRested) }

// Ended records that order n left the book (done or canceled).
func (t *Tracker) Ended(n uint64) { t.setState(n, stEnded) }

func (t *Tracker) setState(n uint64, bit uint8) {
	t.mu.Lock()
	if s := t.get(n); s != nil {
		s.state |= bit
	}
	t.mu.Unlock()
}

// Filled records a fill notification of order n. A fill that comes before
// the order rested is a fill as a taker, caused by the order itself (a
// user's events of one asset arrive in sequence order, and an order's
// taker fills precede its accepted event); the first such fill is timed
// from the order's intended send time. It reports whether it was timed.
func (t *Tracker) Filled(n uint64) bool {
	now := int64(time.Since(t.base))
	t.mu.Lock()
	s := t.get(n)
	if s == nil || s.state&(stRested|stTaker) != 0 {
		t.mu.Unlock()
		return false
	}
	s.state |= stTaker
	intended := s.intended
	t.mu.Unlock()
	t.fill.Record(time.Duration(now - intended))
	return true
}

// Live reports whether order n may still rest on the book: a candidate
// for a cancel or a replace. An order whose slot is still held is live if
// it was acked and not seen to leave the book; an older one is taken to
// be live.
func (t *Tracker) Live(n uint64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if n == 0 || n > t.last {
		return false
	}
	s := t.get(n)
	return s == nil || s.state&(stAcked|stEnded) == stAcked
}

// Counts are a tracker's totals, or a run's.
type Counts struct {
	Sent, Acked, Rejected, Duplicates, Unknown int64
	Rejects                                    map[uint16]int64
	LostNumbers                                []uint64 // the first few lost request numbers
}

// InFlight is the number of requests sent and not answered (at the end of
// a run: lost).
func (c Counts) InFlight() int64 { return c.Sent - c.Acked - c.Rejected }

// Counts returns the tracker's totals. withLost lists the first lost
// request numbers (a scan of the ring: for the end of a run).
func (t *Tracker) Counts(withLost bool) Counts {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := Counts{Sent: int64(t.last), Acked: t.acked, Rejected: t.rejected, Duplicates: t.dupes, Unknown: t.unknown,
		Rejects: make(map[uint16]int64, len(t.rejects))}
	for k, v := range t.rejects {
		c.Rejects[k] = v
	}
	if withLost && c.InFlight() > 0 {
		for n := t.low; n <= t.last && n > 0; n++ {
			if t.get(n).state&(stAcked|stRejected) == 0 {
				c.LostNumbers = append(c.LostNumbers, n)
				if len(c.LostNumbers) == maxRecordedLost {
					break
				}
			}
		}
	}
	return c
}

func (c *Counts) add(o Counts) {
	c.Sent += o.Sent
	c.Acked += o.Acked
	c.Rejected += o.Rejected
	c.Duplicates += o.Duplicates
	c.Unknown += o.Unknown
	if c.Rejects == nil {
		c.Rejects = make(map[uint16]int64)
	}
	for k, v := range o.Rejects {
		c.Rejects[k] += v
	}
}
