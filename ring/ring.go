package ring

import (
	"errors"
	"fmt"
	"math/bits"
	"sync/atomic"
	"time"
	"unsafe"
)

var (
	// ErrClosed is returned by the claims of a closed ring.
	ErrClosed = errors.New("ring: closed")
	// ErrFull is returned by TryClaim, and by ClaimTimeout when its time
	// ran out, while the ring has no room for the claim.
	ErrFull = errors.New("ring: full")
)

// Config chooses a ring's shape. It is fixed at construction.
type Config struct {
	Size          int          // number of entries: a power of two
	Wait          WaitStrategy // how consumers and blocked producers wait
	MultiProducer bool         // claims may come from several goroutines at once
}

// Ring is a Disruptor ring buffer of entries of type T: see the package
// documentation for the protocol.
type Ring[T any] struct {
	buf []T
	core
}

// core is the part of a ring that does not depend on the entry type: the
// sequences, the claims and the consumers' barriers. Keeping it non-generic
// lets Consumer refer to it without a type parameter.
type core struct {
	// Read-only after Start.
	size      int64
	mask      int64
	shift     uint // log2(size): sequence >> shift is the lap of the ring
	wait      WaitStrategy
	multi     bool
	avail     []atomic.Int32 // multi-producer availability buffer (claim_multi.go)
	consumers []*Consumer
	gating    []*sequence // last-stage consumers' sequences, set by Start

	started atomic.Bool
	closed  atomic.Bool // written once, by Close

	// cursor is the highest published sequence on a single-producer ring,
	// and the highest claimed one (plus closedOffset after Close) on a
	// multi-producer ring. First-stage consumers wait on it.
	cursor sequence

	single singleClaimer // producer-owned state of a single-producer ring
	multiC multiClaimer  // shared state of a multi-producer ring
}

// New returns an empty ring. Declare its consumers with NewConsumer, then
// call Start before the first claim.
func New[T any](cfg Config) (*Ring[T], error) {
	if cfg.Size < 1 || cfg.Size&(cfg.Size-1) != 0 {
		return nil, fmt.Errorf("ring: size %d is not a power of two", cfg.Size)
	}
	if !cfg.Wait.valid() {
		return nil, fmt.Errorf("ring: invalid wait strategy %d", int(cfg.Wait))
	}
	r := &Ring[T]{buf: make([]T, cfg.Size)}
	prefault(r.buf)
	c := &r.core
	c.size = int64(cfg.Size)
	c.mask = c.size - 1
	c.shift = uint(bits.TrailingZeros64(uint64(cfg.Size)))
	c.wait = cfg.Wait
	c.multi = cfg.MultiProducer
	c.cursor.init()
	if c.multi {
		c.initMulti()
	} else {
		c.initSingle()
	}
	return r, nil
}

// prefault writes to every memory page of buf. A large slice is fresh
// memory from the operating system, which maps a page only when it is
// first written; without this, each page of the ring's first lap would
// cost its producer a page fault (a few microseconds each, in the middle of
// the hot path), and a ring of 128 Ki 150-byte entries has 5,000 of them.
func prefault[T any](buf []T) {
	const page = 4096
	size := int(unsafe.Sizeof(*new(T)))
	if size == 0 {
		return
	}
	var zero T
	for i := 0; i < len(buf); i += max(1, page/size) {
		buf[i] = zero
	}
}

// NewConsumer declares a consumer that runs behind deps, which must be
// consumers of the same ring; with no deps it runs behind the producers.
// Consumers must be declared before Start.
func (r *Ring[T]) NewConsumer(name string, deps ...*Consumer) *Consumer {
	c := &r.core
	if c.started.Load() {
		panic(fmt.Sprintf("ring: NewConsumer(%q) after Start", name))
	}
	cons := &Consumer{name: name, core: c}
	cons.seq.init()
	cons.barrier = barrier{core: c}
	for _, d := range deps {
		if d.core != c {
			panic(fmt.Sprintf("ring: consumer %q depends on %q of another ring", name, d.name))
		}
		cons.deps = append(cons.deps, d)
		cons.barrier.deps = append(cons.barrier.deps, &d.seq)
		cons.barrier.upstream = append(cons.barrier.upstream, d)
	}
	c.consumers = append(c.consumers, cons)
	return cons
}

// Start freezes the topology: producers gate on the last-stage consumers,
// those no other consumer depends on. It must be called once, after the
// consumers are declared and before the first claim or Run.
func (r *Ring[T]) Start() {
	c := &r.core
	if c.started.Load() {
		panic("ring: Start called twice")
	}
	if len(c.consumers) == 0 {
		panic("ring: Start with no consumers: nothing would gate the producers")
	}
	upstream := make(map[*Consumer]bool)
	for _, cons := range c.consumers {
		for _, d := range cons.deps {
			upstream[d] = true
		}
	}
	for _, cons := range c.consumers {
		if !upstream[cons] {
			c.gating = append(c.gating, &cons.seq)
		}
	}
	c.started.Store(true)
}

// At returns the entry of sequence seq, to be written in place between
// Claim and Publish, or read in place by a Handler.
func (r *Ring[T]) At(seq int64) *T { return &r.buf[seq&r.mask] }

// Claim reserves the next n sequences (1 <= n <= Size) and returns the
// highest; they are hi-n+1 through hi. It waits while the ring is full and
// returns ErrClosed once the ring is closed.
func (r *Ring[T]) Claim(n int) (hi int64, err error) { return r.claim(n, untilSpace, 0) }

// TryClaim is Claim that returns ErrFull instead of waiting.
func (r *Ring[T]) TryClaim(n int) (hi int64, err error) { return r.claim(n, noWait, 0) }

// ClaimTimeout is Claim that gives up with ErrFull after waiting d.
func (r *Ring[T]) ClaimTimeout(n int, d time.Duration) (hi int64, err error) {
	return r.claim(n, untilDeadline, d)
}

// Publish makes sequences lo through hi, claimed and written, visible to
// the consumers. A single producer must publish its claims in order.
func (r *Ring[T]) Publish(lo, hi int64) {
	if r.multi {
		r.publishMulti(lo, hi)
	} else {
		r.publishSingle(lo, hi)
	}
}

// Close shuts the ring: claims waiting for room and every later claim fail
// with ErrClosed, and the consumers return from Run once they have handled
// everything published. It is idempotent.
func (r *Ring[T]) Close() {
	c := &r.core
	if c.closed.Swap(true) {
		return
	}
	if c.multi {
		c.closeMulti()
	}
	// Wake every parked goroutine: they re-check with closed set.
	c.cursor.wakeAll()
	for _, cons := range c.consumers {
		cons.seq.wakeAll()
	}
}

// Cursor returns the highest published sequence of a single-producer ring,
// or the highest claimed sequence of a multi-producer ring (some of which
// may still be being written).
func (r *Ring[T]) Cursor() int64 {
	v := r.cursor.load()
	if r.multi {
		v, _ = decodeCursor(v)
	}
	return v
}

// Size returns the number of entries.
func (r *Ring[T]) Size() int { return int(r.size) }

// Occupancy returns how many sequences are published (claimed, on a
// multi-producer ring) but not yet released by the slowest last-stage
// consumer: how full the ring is, for metrics.
func (r *Ring[T]) Occupancy() int {
	c := &r.core
	if !c.started.Load() {
		return 0
	}
	// Read the consumers first: the cursor is never behind them.
	slowest := c.minGating()
	return int(r.Cursor() - slowest)
}

// minGating returns the sequence of the slowest last-stage consumer.
func (c *core) minGating() int64 {
	m := c.gating[0].load()
	for _, s := range c.gating[1:] {
		if v := s.load(); v < m {
			m = v
		}
	}
	return m
}

// laggingGate returns a last-stage consumer's sequence that is below seq,
// the one a producer waiting for seq parks on.
func (c *core) laggingGate(seq int64) *sequence {
	for _, s := range c.gating {
		if s.load() < seq {
			return s
		}
	}
	return c.gating[0]
}
