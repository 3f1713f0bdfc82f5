package ring

import (
	"sync/atomic"
	"time"
)

// closedOffset is added to a multi-producer ring's cursor by Close. Claims
// compare-and-swap the cursor only while it is below closedOffset/2, so
// after Close the cursor is frozen at the last successful claim: the
// consumers know exactly which sequences they must still drain, even while
// producers race with Close. Sequences never come near 2^61.
const closedOffset = int64(1) << 62

// decodeCursor splits a multi-producer cursor into the highest claimed
// sequence and whether the ring is closed.
func decodeCursor(v int64) (claimed int64, closed bool) {
	if v >= closedOffset/2 {
		return v - closedOffset, true
	}
	return v, false
}

// multiClaimer is the shared claim state of a multi-producer ring.
//
// Producers claim by compare-and-swap on the cursor, and only after checking
// that the claim fits (so a claimed slot is always immediately writable and
// a producer that must wait holds no claim). Claims complete out of order:
// a producer may publish sequence 7 before another publishes 6. So the
// cursor says only what was claimed, and each slot of the availability
// buffer (core.avail) records the lap (sequence >> shift) of the last
// sequence published in it. A reader sees sequence s as published exactly
// when avail[s&mask] == lap(s), and the consumers' barrier returns the
// highest contiguous published sequence (see highestPublished).
// The lap is kept in an int32: it wraps after 2^32 laps, but a slot's
// marker only ever moves from lap(s)-1 to lap(s), so equality still
// identifies s.
type multiClaimer struct {
	_ [cacheLinePad]byte
	// gateCache is the slowest last-stage consumer as some producer last
	// read it. Concurrent refreshes may store an older value after a newer
	// one; that is harmless, because any value stored was the minimum at
	// some instant and the minimum only grows, so gateCache never exceeds
	// the true minimum.
	gateCache atomic.Int64
	_         [cacheLinePad - 8]byte
}

func (c *core) initMulti() {
	c.avail = make([]atomic.Int32, c.size)
	for i := range c.avail {
		c.avail[i].Store(-1)
	}
	c.multiC.gateCache.Store(initialSequence)
}

func (c *core) claimMulti(n int64, mode claimMode, d time.Duration) (int64, error) {
	clock := claimClock{d: d}
	b := backoff{strategy: c.wait}
	for {
		cur := c.cursor.load()
		if _, closed := decodeCursor(cur); closed {
			return 0, ErrClosed
		}
		hi := cur + n
		// Gating, as in claimSingle: the slowest last-stage consumer must
		// have released hi-Size before hi may be written.
		if wrap := hi - c.size; wrap > c.multiC.gateCache.Load() {
			g, err := c.waitForSpace(wrap, mode, &clock)
			if err != nil {
				return 0, err
			}
			c.multiC.gateCache.Store(g)
		}
		if c.cursor.value.CompareAndSwap(cur, hi) {
			return hi, nil
		}
		// Another producer claimed first. With more producers than cores,
		// an occasional yield lets them finish their claims.
		b.contended()
	}
}

func (c *core) publishMulti(lo, hi int64) {
	if c.wait != Blocking {
		for s := lo; s <= hi; s++ {
			storeRelease32(&c.avail[s&c.mask], int32(s>>c.shift))
		}
		return
	}
	for s := lo; s <= hi; s++ {
		c.avail[s&c.mask].Store(int32(s >> c.shift))
	}
	c.cursor.wake()
}

// highestPublished returns the highest sequence h >= next-1 such that
// every sequence from next to h is published.
//
// It reads only the availability buffer, not the cursor: the slot of s can
// hold lap(s) only once s itself was published (its previous occupant,
// s-Size, had lap(s)-1, and s+Size cannot be claimed before s is released),
// so a scan from next stops at the first sequence not yet published, at
// most Size slots on. Leaving the cursor alone matters: the producers
// compare-and-swap it on every claim, and a consumer polling it would make
// each of those a cache-line transfer.
func (c *core) highestPublished(next int64) int64 {
	for s := next; s < next+c.size; s++ {
		if c.avail[s&c.mask].Load() != int32(s>>c.shift) {
			return s - 1
		}
	}
	return next + c.size - 1
}

// closeMulti adds closedOffset to the cursor, freezing the claims.
func (c *core) closeMulti() {
	for {
		cur := c.cursor.load()
		if _, closed := decodeCursor(cur); closed || c.cursor.value.CompareAndSwap(cur, cur+closedOffset) {
			return
		}
	}
}
