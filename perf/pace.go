package perf

import (
	"context"
	"time"
)

// coarseMargin is how much of a wait is left to the precise sleep: Go's
// timers may wake this late.
const coarseMargin = 2 * time.Millisecond

// pacer waits a sender until each intended send time.
//
// Go's timers are too coarse for it: on Linux a quiet process waits for
// timers in the netpoller with a millisecond timeout, so a 40 us sleep
// lasts about 1 ms, and the open loop would charge that lateness to every
// request. The pacer sleeps the last stretch of each wait with nanosleep,
// on a thread locked to the sender with its timer slack lowered to 1 ns,
// which wakes within tens of microseconds (measured on the 2-core
// machine: p50 1.07 ms with time.Sleep, 60 us this way). Long waits go
// through a timer first, so that a cancel still ends them.
type pacer struct {
	timer   *time.Timer
	release func()
}

// newPacer returns a pacer for the calling goroutine, which it locks to
// its thread until close.
func newPacer() *pacer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &pacer{timer: t, release: lockPrecise()}
}

// close unlocks the goroutine's thread.
func (p *pacer) close() {
	p.timer.Stop()
	p.release()
}

// sleepUntil waits until t, or until wake (nil: never) is signalled; it
// reports false if ctx ended first. A wait that wake may end goes through
// the timer alone, so it is as coarse as Go's timers.
func (p *pacer) sleepUntil(ctx context.Context, t time.Time, wake <-chan struct{}) bool {
	margin := coarseMargin
	if wake != nil {
		margin = 0
	}
	if d := time.Until(t) - margin; d > 0 {
		p.timer.Reset(d)
		select {
		case <-p.timer.C:
		case <-wake:
			p.timer.Stop()
			return ctx.Err() == nil
		case <-ctx.Done():
			p.timer.Stop()
			return false
		}
	}
	if d := time.Until(t); d > 0 {
		preciseSleep(d)
	}
	return ctx.Err() == nil
}

// Sleep waits d, or until ctx ends; it returns ctx's error then. A d of
// zero or less returns at once.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
