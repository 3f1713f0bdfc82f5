package ring

import (
	"fmt"
	"time"
)

// singleClaimer is the producer side of a single-producer ring. Only the
// producer goroutine touches it, so it needs no atomics: a claim is a plain
// add checked against gateCache, the slowest last-stage consumer as last
// seen, and only when that check fails does the producer read the
// consumers' sequences (which costs cache-line transfers) and perhaps wait.
// It is padded so that the consumers' traffic never evicts it.
type singleClaimer struct {
	_         [cacheLinePad]byte
	claimed   int64 // highest claimed sequence
	gateCache int64 // slowest last-stage consumer, as last read
	_         [cacheLinePad - 16]byte
}

func (c *core) initSingle() {
	c.single.claimed = initialSequence
	c.single.gateCache = initialSequence
}

func (c *core) claimSingle(n int64, mode claimMode, d time.Duration) (int64, error) {
	if c.closed.Load() {
		return 0, ErrClosed
	}
	p := &c.single
	hi := p.claimed + n
	// Gating: the slot of hi was last used by sequence hi-Size, which the
	// slowest last-stage consumer must have released.
	if wrap := hi - c.size; wrap > p.gateCache {
		clock := claimClock{d: d}
		g, err := c.waitForSpace(wrap, mode, &clock)
		if err != nil {
			return 0, err
		}
		p.gateCache = g
	}
	p.claimed = hi
	return hi, nil
}

func (c *core) publishSingle(lo, hi int64) {
	// Only this goroutine writes the cursor, so loading it is a hit in
	// this core's cache (or its store buffer).
	if published := c.cursor.load(); lo != published+1 || hi < lo || hi > c.single.claimed {
		panic(fmt.Sprintf("ring: publish [%d, %d] out of order: published=%d claimed=%d",
			lo, hi, published, c.single.claimed))
	}
	c.cursor.store(hi, c.wait)
}
