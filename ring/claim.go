package ring

import (
	"fmt"
	"time"
)

// claimMode says what a claim does when the ring is full.
type claimMode int

const (
	untilSpace    claimMode = iota // Claim: wait for room
	noWait                         // TryClaim: ErrFull at once
	untilDeadline                  // ClaimTimeout: ErrFull after a while
)

// claimClock is the deadline of one ClaimTimeout. It is read only on the
// slow path, so a claim that finds room never reads the clock.
type claimClock struct {
	d        time.Duration
	deadline time.Time
	set      bool
}

func (k *claimClock) expired() bool {
	now := time.Now()
	if !k.set {
		k.deadline, k.set = now.Add(k.d), true
	}
	return !now.Before(k.deadline)
}

func (k *claimClock) remaining() time.Duration { return time.Until(k.deadline) }

func (c *core) claim(n int, mode claimMode, d time.Duration) (int64, error) {
	if n < 1 || int64(n) > c.size {
		return 0, fmt.Errorf("ring: claim of %d slots from a ring of %d", n, c.size)
	}
	if c.multi {
		return c.claimMulti(int64(n), mode, d)
	}
	return c.claimSingle(int64(n), mode, d)
}

// waitForSpace waits until every last-stage consumer has released wrap (so
// that the slot of wrap+Size may be written) and returns the slowest
// consumer's sequence, or fails with ErrClosed or, per mode, ErrFull.
func (c *core) waitForSpace(wrap int64, mode claimMode, clock *claimClock) (int64, error) {
	if !c.started.Load() {
		panic("ring: claim beyond the ring's size before Start")
	}
	b := backoff{strategy: c.wait}
	for {
		if c.closed.Load() {
			return 0, ErrClosed
		}
		if g := c.minGating(); g >= wrap {
			return g, nil
		}
		switch mode {
		case noWait:
			return 0, ErrFull
		case untilDeadline:
			if clock.expired() {
				return 0, ErrFull
			}
		}
		if b.pause() {
			c.parkForSpace(wrap, mode, clock)
		}
	}
}

// parkForSpace parks a producer (Blocking strategy) until wrap is released
// by the lagging consumer it parks on, the ring closes or the deadline
// passes. Consumers wake it when they release (sequence.store); Close wakes
// everyone; a timer wakes it at the deadline.
func (c *core) parkForSpace(wrap int64, mode claimMode, clock *claimClock) {
	s := c.laggingGate(wrap)
	if mode == untilDeadline {
		t := time.AfterFunc(clock.remaining(), s.wakeAll)
		defer t.Stop()
	}
	s.park(func() bool {
		return s.load() >= wrap || c.closed.Load() ||
			(mode == untilDeadline && clock.expired())
	})
}
