package perf

import (
	"context"
	"time"
)

// Window bounds the requests a connection has in flight: a request takes a
// slot before it is sent and gives it back when its answer arrives. A nil
// *Window is unbounded.
//
// In max-throughput mode the window is the pipeline depth. In open-loop
// mode a window makes each connection behave like a wrk2 connection: when
// it is full the sender waits, and the requests that fall due meanwhile
// keep their intended times, so the wait is charged to them.
type Window struct {
	slots chan struct{}
}

// NewWindow returns a window of depth slots, or nil (unbounded) if depth
// is not positive.
func NewWindow(depth int) *Window {
	if depth <= 0 {
		return nil
	}
	return &Window{slots: make(chan struct{}, depth)}
}

// TryAcquire takes a slot if one is free.
func (w *Window) TryAcquire() bool {
	if w == nil {
		return true
	}
	select {
	case w.slots <- struct{}{}:
		return true
	default:
		return false
	}
}

// Acquire waits for a slot until ctx ends or the deadline passes.
func (w *Window) Acquire(ctx context.Context, deadline time.Time) bool {
	if w.TryAcquire() {
		return true
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case w.slots <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	case <-t.C:
		return false
	}
}

// Release gives a slot back.
func (w *Window) Release() {
	if w == nil {
		return
	}
	select {
	case <-w.slots:
	default:
		panic("perf: Window.Release without a slot taken")
	}
}

// InFlight is the number of slots taken.
func (w *Window) InFlight() int {
	if w == nil {
		return 0
	}
	return len(w.slots)
}
