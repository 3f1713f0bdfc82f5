package perf

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestScheduleIntended(t *testing.T) {
	start := time.Unix(100, 0)
	// 1000/s over 4 streams: each stream every 4 ms, offset by 1 ms each.
	for k := range 4 {
		s := NewSchedule(start, 1000, 4, k)
		for i := int64(0); i < 10; i++ {
			want := start.Add(time.Duration(k)*time.Millisecond + time.Duration(i)*4*time.Millisecond)
			if got := s.Intended(i); !got.Equal(want) {
				t.Fatalf("stream %d request %d: %v, want %v", k, i, got, want)
			}
		}
	}
}

// TestScheduleMergedRate: whatever the rate and the number of streams,
// the streams' intended times together are evenly spaced at 1/rate (to
// the nanosecond), and the total does not drift over a long run.
func TestScheduleMergedRate(t *testing.T) {
	start := time.Unix(100, 0)
	for _, tc := range []struct {
		rate    float64
		streams int
	}{{1000, 1}, {3000, 7}, {100000, 4}, {1e6 / 3, 3}, {12345, 16}} {
		var all []int64
		const perStream = 2000
		for k := range tc.streams {
			s := NewSchedule(start, tc.rate, tc.streams, k)
			for i := int64(0); i < perStream; i++ {
				all = append(all, int64(s.Intended(i).Sub(start)))
			}
		}
		slices.Sort(all)
		period := 1e9 / tc.rate
		for j, v := range all {
			if want := float64(j) * period; v < int64(want)-1 || v > int64(want)+1 {
				t.Fatalf("rate %v, %d streams: the %dth intended time is %d ns, want %.1f", tc.rate, tc.streams, j, v, want)
			}
		}
	}
}

// TestScheduleDue: Due counts the requests whose intended time has come,
// and after a stall everything scheduled during it is due at once.
func TestScheduleDue(t *testing.T) {
	start := time.Unix(100, 0)
	for _, s := range []Schedule{NewSchedule(start, 1000, 1, 0), NewSchedule(start, 3000, 7, 3), NewSchedule(start, 1e6/3, 1, 0)} {
		for i := int64(0); i < 5000; i++ {
			at := s.Intended(i)
			if got := s.Due(at); got != i+1 {
				t.Fatalf("%+v: due at request %d's time: %d, want %d", s, i, got, i+1)
			}
			if got := s.Due(at.Add(-1)); got != i {
				t.Fatalf("%+v: due 1 ns before request %d's time: %d, want %d", s, i, got, i)
			}
		}
		if s.Due(s.Start.Add(-time.Second)) != 0 {
			t.Fatal("requests due before the start")
		}
	}
	s := NewSchedule(start, 1000, 1, 0)
	if got := s.Due(start.Add(100 * time.Millisecond)); got != 101 {
		t.Fatalf("due after a 100 ms stall: %d, want 101", got)
	}
}

// fakeSender records what the drivers send and flush.
type fakeSender struct {
	mu       sync.Mutex
	intended []time.Time
	sentAt   []time.Time
	flushes  int
	unsent   int // sent since the last flush
	maxBatch int
	onFlush  func(n int) // called with the requests a flush writes
}

func (f *fakeSender) Send(intended time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.intended = append(f.intended, intended)
	f.sentAt = append(f.sentAt, time.Now())
	f.unsent++
	return nil
}

func (f *fakeSender) Flush() error {
	f.mu.Lock()
	n := f.unsent
	f.unsent = 0
	f.flushes++
	f.maxBatch = max(f.maxBatch, n)
	cb := f.onFlush
	f.mu.Unlock()
	if cb != nil && n > 0 {
		cb(n)
	}
	return nil
}

// TestOpenLoopIntended: the open loop sends exactly the scheduled
// requests with their scheduled times, never before those times.
func TestOpenLoopIntended(t *testing.T) {
	start := time.Now().Add(2 * time.Millisecond)
	sch := NewSchedule(start, 2000, 2, 1)
	f := &fakeSender{}
	n, err := OpenLoop(context.Background(), f, sch, start.Add(300*time.Millisecond), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Stream 1 of 2 at 2000/s: every 1 ms from start+0.5 ms, 300 of them.
	if n != 300 || len(f.intended) != 300 {
		t.Fatalf("sent %d (%d recorded), want 300", n, len(f.intended))
	}
	for i, it := range f.intended {
		if !it.Equal(sch.Intended(int64(i))) {
			t.Fatalf("request %d intended %v, want %v", i, it, sch.Intended(int64(i)))
		}
		if f.sentAt[i].Before(it) {
			t.Fatalf("request %d sent %v before its time", i, it.Sub(f.sentAt[i]))
		}
	}
	if f.unsent != 0 {
		t.Fatal("requests left unflushed")
	}
}

// TestOpenLoopWindow: with a window, the open loop waits for answers, and
// the requests that fall due meanwhile keep their own intended times.
func TestOpenLoopWindow(t *testing.T) {
	w := NewWindow(1)
	f := &fakeSender{}
	f.onFlush = func(n int) {
		// The server answers 20 ms after each flush.
		go func() {
			time.Sleep(20 * time.Millisecond)
			for range n {
				w.Release()
			}
		}()
	}
	start := time.Now()
	sch := NewSchedule(start, 1000, 1, 0)
	n, err := OpenLoop(context.Background(), f, sch, start.Add(100*time.Millisecond), w)
	if err != nil {
		t.Fatal(err)
	}
	if n < 3 || n > 8 {
		t.Fatalf("sent %d requests through a window of 1 answered every 20 ms in 100 ms", n)
	}
	for i, it := range f.intended {
		if !it.Equal(sch.Intended(int64(i))) {
			t.Fatalf("request %d intended %v, want %v: a wait must not move the schedule", i, it, sch.Intended(int64(i)))
		}
	}
	if late := f.sentAt[2].Sub(f.intended[2]); late < 15*time.Millisecond {
		t.Fatalf("request 2 sent %v after its time, want the window's wait", late)
	}
}

// TestMaxThroughputDepth: the closed loop keeps at most depth requests in
// flight and flushes each batch.
func TestMaxThroughputDepth(t *testing.T) {
	const depth = 8
	w := NewWindow(depth)
	f := &fakeSender{}
	var answered sync.WaitGroup
	f.onFlush = func(n int) {
		if w.InFlight() > depth {
			t.Errorf("%d in flight, depth %d", w.InFlight(), depth)
		}
		answered.Add(1)
		go func() {
			defer answered.Done()
			time.Sleep(time.Millisecond)
			for range n {
				w.Release()
			}
		}()
	}
	n, err := MaxThroughput(context.Background(), f, w, time.Now().Add(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	answered.Wait()
	if n == 0 || int(n) != len(f.intended) || f.unsent != 0 {
		t.Fatalf("sent %d, recorded %d, unflushed %d", n, len(f.intended), f.unsent)
	}
	if f.maxBatch > depth || f.maxBatch < 2 {
		t.Fatalf("largest batch %d, want 2..%d", f.maxBatch, depth)
	}
	if _, err := MaxThroughput(context.Background(), f, nil, time.Now()); err == nil {
		t.Fatal("max throughput without a window")
	}
}
