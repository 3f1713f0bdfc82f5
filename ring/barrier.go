package ring

// barrier is what a consumer waits on: the sequences of its dependencies,
// or, with none, the producers' cursor. It keeps the second gating
// invariant: waitFor never returns a sequence that some dependency has not
// released (or, for a first-stage consumer, that is not fully published).
type barrier struct {
	core     *core
	deps     []*sequence // the dependencies' sequences; empty for a first stage
	upstream []*Consumer // the dependencies themselves
}

// waitResult says why waitFor returned.
type waitResult int

const (
	gotSequences   waitResult = iota // hi >= next is available
	drainedClosed                    // the ring is closed and drained up to next
	upstreamFailed                   // the ring is closed and a dependency's Run failed
)

// available returns the highest sequence the consumer may handle now; it
// is below next when nothing new is available.
func (b *barrier) available(next int64) int64 {
	if len(b.deps) > 0 {
		// Dependencies only release published sequences, so their minimum
		// is published too.
		m := b.deps[0].load()
		for _, s := range b.deps[1:] {
			if v := s.load(); v < m {
				m = v
			}
		}
		return m
	}
	c := b.core
	if !c.multi {
		return c.cursor.load()
	}
	return c.highestPublished(next)
}

// drained reports whether the ring is closed and next will never be
// published: the consumer is done. On a multi-producer ring the frozen
// cursor counts claims not yet published, which the producers will
// publish, so those are waited for too.
func (b *barrier) drained(next int64) bool {
	c := b.core
	if !c.closed.Load() {
		return false
	}
	if c.multi {
		claimed, closed := decodeCursor(c.cursor.load())
		return closed && claimed < next
	}
	// closed before cursor: everything published before Close is seen.
	return c.cursor.load() < next
}

// waitFor returns the highest available sequence, at least next, waiting
// per the ring's strategy, unless the ring is closed and the consumer has
// nothing more to do.
func (b *barrier) waitFor(next int64) (int64, waitResult) {
	if hi := b.available(next); hi >= next {
		return hi, gotSequences
	}
	return b.waitSlow(next)
}

func (b *barrier) waitSlow(next int64) (int64, waitResult) {
	bo := backoff{strategy: b.core.wait}
	for {
		if hi := b.available(next); hi >= next {
			return hi, gotSequences
		}
		if b.drained(next) {
			return 0, drainedClosed
		}
		// A dependency whose Run failed (it could not pin its CPU) will
		// never release anything: without this, Close would hang.
		if b.core.closed.Load() && b.failedUpstream() != nil {
			return 0, upstreamFailed
		}
		if bo.pause() {
			b.park(next)
		}
	}
}

// failedUpstream returns a dependency whose Run failed, if any.
func (b *barrier) failedUpstream() *Consumer {
	for _, d := range b.upstream {
		if d.failed.Load() {
			return d
		}
	}
	return nil
}

// park parks the consumer (Blocking strategy) on one sequence it waits for:
// a dependency that has not released next, or the cursor. Its wake-up
// condition must depend only on that sequence (and on Close, which wakes
// everyone): a condition on the minimum of several dependencies would miss
// the wake-up of a dependency it is not parked on. So it wakes when that one
// dependency moves past next, and the caller re-checks the others. Close
// wakes every parked goroutine, so drained and a failed upstream are seen.
func (b *barrier) park(next int64) {
	c := b.core
	for _, s := range b.deps {
		if s.load() < next {
			s.park(func() bool {
				return s.load() >= next || b.drained(next) ||
					(c.closed.Load() && b.failedUpstream() != nil)
			})
			return
		}
	}
	if len(b.deps) > 0 {
		return // all moved meanwhile
	}
	// Every publish wakes the cursor's waiters (publishSingle, publishMulti).
	c.cursor.park(func() bool {
		return b.available(next) >= next || b.drained(next)
	})
}
