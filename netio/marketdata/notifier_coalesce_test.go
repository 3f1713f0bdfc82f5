package marketdata

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"
)

func TestCoalesceWindow(t *testing.T) {
	for _, tc := range []struct{ pass, max, want time.Duration }{
		{0, 20 * time.Millisecond, 0},
		{300 * time.Microsecond, 20 * time.Millisecond, 0},
		{minCoalescePass - 1, 20 * time.Millisecond, 0},
		{minCoalescePass, 20 * time.Millisecond, minCoalescePass},
		{4 * time.Millisecond, 20 * time.Millisecond, 4 * time.Millisecond},
		{time.Second, 20 * time.Millisecond, 20 * time.Millisecond},
		{5 * time.Millisecond, 0, 0}, // off
	} {
		if got := coalesceWindow(tc.pass, tc.max); got != tc.want {
			t.Errorf("coalesceWindow(%v, %v) = %v, want %v", tc.pass, tc.max, got, tc.want)
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
// pass a batch is drained at once; after a long pass the drain waits for a
// window as long as the pass, bounded by MaxCoalesce; stop cancels a
// pending delayed drain (it is queued at once instead) and ends delays.
func TestFeedLoopCoalesce(t *testing.T) {
	const max = 40 * time.Millisecond
	n := NewNotifier(NotifierConfig{MaxCoalesce: max})
	el := &fakeLoop{ran: make(chan gnet.Runnable, 4)}
	fl := newFeedLoop(n, 0, el)
	push := func() {
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
	drain := func(pass time.Duration) {
		t.Helper()
		n.drainHook = func() { time.Sleep(pass) } // a pass that takes this long
		if err := fl.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		n.drainHook = nil
	}

	// Short passes: no delay.
	push()
	immediate("first batch")
	drain(0)
	if fl.window != 0 {
		t.Fatalf("window after a short pass: %v, want 0", fl.window)
	}
	push()
	immediate("after a short pass")

	// A long pass: the next drain waits for about the pass.
	drain(10 * time.Millisecond)
	if fl.window < 10*time.Millisecond || fl.window > max {
		t.Fatalf("window after a 10ms pass: %v, want 10ms-%v", fl.window, max)
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

	// A pass longer than MaxCoalesce: the window is MaxCoalesce.
	drain(2 * max)
	if fl.window != max {
		t.Fatalf("window after a %v pass: %v, want the bound %v", 2*max, fl.window, max)
	}
	// A batch arriving after the window has passed goes out at once.
	fl.mu.Lock()
	fl.passEnd = time.Now().Add(-2 * max)
	fl.mu.Unlock()
	push()
	immediate("after the window")
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
	delayed, fired := fl.delayed, fl.timer.Stop()
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
