package marketdata

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"
)

func TestCoalesceWindow(t *testing.T) {
	const w = minCoalesceWrites
	for _, tc := range []struct {
		pass      time.Duration
		writes    int
		max, want time.Duration
	}{
		{0, 0, 5 * time.Millisecond, 0},
		{300 * time.Microsecond, 10 * w, 5 * time.Millisecond, 0},
		{minCoalescePass - 1, 10 * w, 5 * time.Millisecond, 0},
		{minCoalescePass, w, 5 * time.Millisecond, 5 * time.Millisecond},
		// The window does not follow the pass: a short pass over many
		// connections waits as long as a long one.
		{3 * time.Millisecond, 2 * w, 5 * time.Millisecond, 5 * time.Millisecond},
		{time.Second, 10 * w, 5 * time.Millisecond, 5 * time.Millisecond},
		// A long pass over few connections (a small loop that lost its
		// core) delays nothing.
		{time.Second, w - 1, 5 * time.Millisecond, 0},
		{5 * time.Millisecond, 10 * w, 0, 0}, // off
	} {
		if got := coalesceWindow(tc.pass, tc.writes, tc.max); got != tc.want {
			t.Errorf("coalesceWindow(%v, %d writes, %v) = %v, want %v", tc.pass, tc.writes, tc.max, got, tc.want)
		}
	}
}

// fakeLoop is a gnet.EventLoop whose Execute reports the task on a channel
// instead of running it, or fails once the engine is "stopped".
type fakeLoop struct {
	gnet.EventLoop
	ran     chan gnet.Runnable
	stopped bool
}

func (f *fakeLoop) Execute(_ context.Context, r gnet.Runnable) error {
	if f.stopped {
		return errors.New("engine stopped")
	}
	f.ran <- r
	return nil
}

// TestFeedLoopCoalesce drives one feedLoop's drain scheduling: after a short
// pass, or a long one over few connections, a batch is drained at once;
// after a long pass over many connections the drain waits for MaxCoalesce;
// stop cancels a pending delayed drain (it is queued at once instead) and
// ends delays.
func TestFeedLoopCoalesce(t *testing.T) {
	const max = 40 * time.Millisecond
	n := NewNotifier(NotifierConfig{MaxCoalesce: max})
	el := &fakeLoop{ran: make(chan gnet.Runnable, 4)}
	fl := newFeedLoop(n, 0, el)
	push := func() { fl.push(n.getBatch()) } // a batch of no asset: nothing to write
	pushControl := func() {
		b := n.getBatch()
		b.control = true
		fl.push(b)
	}
	immediate := func(what string) {
		t.Helper()
		select {
		case <-el.ran:
		default:
			t.Fatalf("%s: the drain was not queued at once", what)
		}
	}
	// drainN runs a drain pass that takes pass and counts as writes
	// connection writes.
	drainN := func(pass time.Duration, writes int) {
		t.Helper()
		n.drainHook = func() { time.Sleep(pass); fl.passWrites = writes }
		if err := fl.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		n.drainHook = nil
	}
	drain := func(pass time.Duration) { t.Helper(); drainN(pass, minCoalesceWrites) }

	// Short passes: no delay.
	push()
	immediate("first batch")
	drain(0)
	if fl.window != 0 {
		t.Fatalf("window after a short pass: %v, want 0", fl.window)
	}
	push()
	immediate("after a short pass")

	// A long pass over few connections (preempted): no delay.
	drainN(10*time.Millisecond, minCoalesceWrites-1)
	if fl.window != 0 {
		t.Fatalf("window after a long pass over %d connections: %v, want 0", minCoalesceWrites-1, fl.window)
	}
	push()
	immediate("after a long pass over few connections")

	// A long pass over many: the next drain waits for MaxCoalesce.
	drain(10 * time.Millisecond)
	if fl.window != max {
		t.Fatalf("window after a 10ms pass: %v, want %v", fl.window, max)
	}
	end := fl.passEnd
	push()
	select {
	case <-el.ran:
		t.Fatal("the drain was queued at once after a long pass")
	default:
	}
	select {
	case <-el.ran:
		if waited := time.Since(end); waited < fl.window {
			t.Fatalf("drain queued %v after the pass, before its window %v", waited, fl.window)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the delayed drain never came")
	}
	// A control batch (a subscriber's reply) inside the window is not
	// held back: its step is queued at once, and the window still holds
	// the round after it.
	drain(10 * time.Millisecond)
	end = fl.passEnd
	push()
	pushControl()
	immediate("a control batch inside the window")
	drain(0) // a step inside the window: no round, the window stays
	if fl.passEnd != end {
		t.Fatalf("a step inside the window ended a round")
	}
	push()
	select {
	case <-el.ran:
		t.Fatal("a batch after a control step inside the window was drained at once")
	default:
	}
	select {
	case <-el.ran:
		if waited := time.Since(end); waited < fl.window {
			t.Fatalf("step queued %v after the round, before its window %v", waited, fl.window)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the delayed step never came")
	}

	// A pass longer than MaxCoalesce: the window is still MaxCoalesce.
	drain(2 * max)
	if fl.window != max {
		t.Fatalf("window after a %v pass: %v, want %v", 2*max, fl.window, max)
	}
	// A batch arriving after the window has passed goes out at once.
	fl.mu.Lock()
	fl.passEnd = time.Now().Add(-2 * max)
	fl.mu.Unlock()
	push()
	immediate("after the window")
	drain(0)

	// A batch pushed during a pass is drained when the pass ends: at once
	// after a short pass, and after the window that follows a long pass
	// over many connections, not at once because the window of the pass
	// before had gone by (the old scheduling: every other pass had no
	// window).
	during := func(pass time.Duration, writes int) {
		t.Helper()
		n.drainHook = func() { time.Sleep(pass); fl.passWrites = writes; push() }
		if err := fl.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		n.drainHook = nil
	}
	during(0, 0)
	immediate("a batch pushed during a short pass")
	fl.mu.Lock()
	fl.passEnd = time.Now().Add(-2 * max) // the window before has gone by
	fl.mu.Unlock()
	during(10*time.Millisecond, minCoalesceWrites)
	end = fl.passEnd
	select {
	case <-el.ran:
		t.Fatal("a batch pushed during a long pass was drained at once after it")
	default:
	}
	select {
	case <-el.ran:
		if waited := time.Since(end); waited < max {
			t.Fatalf("drain queued %v after the pass, before its window %v", waited, max)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the drain of a batch pushed during a long pass never came")
	}
	drain(0)

	// stop cancels a pending delayed drain: it is queued at once, the
	// timer is stopped, and later batches are not delayed.
	fl.mu.Lock()
	fl.window, fl.passEnd = time.Hour, time.Now()
	fl.mu.Unlock()
	push()
	select {
	case <-el.ran:
		t.Fatal("the drain was queued at once inside the window")
	default:
	}
	fl.stop()
	immediate("stop with a delayed drain")
	fl.mu.Lock()
	delayed := fl.delayed
	fired := fl.timer.Stop()
	fl.mu.Unlock()
	if delayed || fired {
		t.Fatalf("after stop: delayed %v, timer still armed %v", delayed, fired)
	}
	drain(0)
	fl.mu.Lock()
	fl.window, fl.passEnd = time.Hour, time.Now()
	fl.mu.Unlock()
	push()
	immediate("a batch after stop")

	// With the engine stopped, a drain that cannot be queued releases the
	// inbox instead of leaving it pending.
	drain(0)
	el.stopped = true
	push()
	fl.mu.Lock()
	left, scheduled := len(fl.inbox), fl.scheduled
	fl.mu.Unlock()
	if left != 0 || scheduled {
		t.Fatalf("engine stopped: %d batches left in the inbox, scheduled %v", left, scheduled)
	}
}
