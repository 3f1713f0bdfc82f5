package perf

import "sync/atomic"

// Window bounds the requests a connection has in flight: a request takes a
// slot before it is sent and gives it back when its answer arrives. A nil
// *Window is unbounded. The count is one atomic integer: taking and giving
// back slots costs no lock and no channel operation, and batches take and
// give back many at once.
//
// In max-throughput mode the window is the pipeline depth. In open-loop
// mode a window makes each connection behave like a wrk2 connection: when
// it is full the requests that fall due wait, keep their intended times,
// and the wait is charged to them.
//
// A sender that finds the window full may ask to be woken when a slot is
// given back (Notify, then Wait): the waiting flag is set before the
// sender checks the window again and read after the releaser gives its
// slots back, so either the sender sees the free slots or the releaser
// sees the flag and signals. No wake-up is lost, and a release costs one
// atomic load more when no one waits.
type Window struct {
	depth   int64
	used    atomic.Int64
	waiting atomic.Bool
	wake    chan struct{} // capacity 1; set by Notify
}

// NewWindow returns a window of depth slots, or nil (unbounded) if depth
// is not positive.
func NewWindow(depth int) *Window {
	if depth <= 0 {
		return nil
	}
	return &Window{depth: int64(depth)}
}

// TryAcquire takes a slot if one is free.
func (w *Window) TryAcquire() bool { return w.TryAcquireN(1) == 1 }

// TryAcquireN takes up to n free slots and returns how many it took.
func (w *Window) TryAcquireN(n int) int {
	if w == nil {
		return n
	}
	for {
		used := w.used.Load()
		k := min(int64(n), w.depth-used)
		if k <= 0 {
			return 0
		}
		if w.used.CompareAndSwap(used, used+k) {
			return int(k)
		}
	}
}

// Release gives a slot back.
func (w *Window) Release() { w.ReleaseN(1) }

// ReleaseN gives n slots back.
func (w *Window) ReleaseN(n int) {
	if w == nil || n == 0 {
		return
	}
	if w.used.Add(-int64(n)) < 0 {
		panic("perf: Window released more slots than were taken")
	}
	if w.waiting.Load() {
		select {
		case w.wake <- struct{}{}:
		default: // a signal is already pending
		}
	}
}

// Notify makes the window signal wake (which must have a buffer of 1)
// when slots are given back while a sender waits (Wait). Several windows
// may share one channel. Call it before the window is used.
func (w *Window) Notify(wake chan struct{}) {
	if w != nil {
		w.wake = wake
	}
}

// Wait reports whether the window is still full after the sender flagged
// that it waits: if so, the sender may block on the Notify channel, which
// the next release signals. Done ends the wait.
func (w *Window) Wait() bool {
	w.waiting.Store(true)
	return w.used.Load() >= w.depth
}

// Done clears the waiting flag set by Wait.
func (w *Window) Done() { w.waiting.Store(false) }

// InFlight is the number of slots taken.
func (w *Window) InFlight() int {
	if w == nil {
		return 0
	}
	return int(w.used.Load())
}

// Depth is the number of slots (0 for an unbounded window).
func (w *Window) Depth() int {
	if w == nil {
		return 0
	}
	return int(w.depth)
}
