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

// fakeSender records what the drivers send; each Send is one write.
type fakeSender struct {
	mu       sync.Mutex
	intended []time.Time
	sentAt   []time.Time
	writes   int
	maxBatch int
	onSend   func(n int) // called with the requests a write carries
}

func (f *fakeSender) Send(now time.Time, intended []time.Time) error {
	f.mu.Lock()
	f.intended = append(f.intended, intended...)
	for range intended {
		f.sentAt = append(f.sentAt, now)
	}
	f.writes++
	f.maxBatch = max(f.maxBatch, len(intended))
	cb := f.onSend
	f.mu.Unlock()
	if cb != nil {
		cb(len(intended))
	}
	return nil
}

// TestOpenLoopIntended: the open loop sends exactly the scheduled
// requests of every stream with their scheduled times, never before those
// times.
func TestOpenLoopIntended(t *testing.T) {
	start := time.Now().Add(2 * time.Millisecond)
	end := start.Add(300 * time.Millisecond)
	schs := []Schedule{NewSchedule(start, 2000, 2, 0), NewSchedule(start, 2000, 2, 1)}
	fs := []*fakeSender{{}, {}}
	n, err := OpenLoop(context.Background(), []Sender{fs[0], fs[1]}, schs, []*Window{nil, nil}, end, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Each stream of 2 at 2000/s: every 1 ms, 300 of them.
	if n != 600 {
		t.Fatalf("sent %d, want 600", n)
	}
	for k, f := range fs {
		if len(f.intended) != 300 {
			t.Fatalf("stream %d: %d sent, want 300", k, len(f.intended))
		}
		for i, it := range f.intended {
			if !it.Equal(schs[k].Intended(int64(i))) {
				t.Fatalf("stream %d request %d intended %v, want %v", k, i, it, schs[k].Intended(int64(i)))
			}
			if f.sentAt[i].Before(it) {
				t.Fatalf("stream %d request %d sent %v before its time", k, i, it.Sub(f.sentAt[i]))
			}
		}
	}
}

// TestOpenLoopTick: with a tick longer than the period, the requests go
// out in bursts, one write per tick, each with its own intended time.
func TestOpenLoopTick(t *testing.T) {
	start := time.Now().Add(2 * time.Millisecond)
	sch := NewSchedule(start, 10000, 1, 0) // one every 100 us
	f := &fakeSender{}
	n, err := OpenLoop(context.Background(), []Sender{f}, []Schedule{sch}, []*Window{nil}, start.Add(200*time.Millisecond), 5*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2000 {
		t.Fatalf("sent %d, want 2000", n)
	}
	// 200 ms in ticks of 5 ms: about 40 writes (a few more if a wake-up is
	// late, never one per request).
	if f.writes > 60 || f.maxBatch < 40 {
		t.Fatalf("%d writes, largest %d: not bursts per tick", f.writes, f.maxBatch)
	}
	for i, it := range f.intended {
		if !it.Equal(sch.Intended(int64(i))) || f.sentAt[i].Before(it) {
			t.Fatalf("request %d intended %v (want %v), sent at %v", i, it, sch.Intended(int64(i)), f.sentAt[i])
		}
	}
}

// TestOpenLoopWindow: with a window, the open loop waits for answers, and
// the requests that fall due meanwhile keep their own intended times.
func TestOpenLoopWindow(t *testing.T) {
	w := NewWindow(1)
	f := &fakeSender{}
	f.onSend = func(n int) {
		// The server answers 20 ms after each write.
		go func() {
			time.Sleep(20 * time.Millisecond)
			w.ReleaseN(n)
		}()
	}
	start := time.Now()
	sch := NewSchedule(start, 1000, 1, 0)
	n, err := OpenLoop(context.Background(), []Sender{f}, []Schedule{sch}, []*Window{w}, start.Add(300*time.Millisecond), 0)
	if err != nil {
		t.Fatal(err)
	}
	// 300 requests due; about 15 answers (a busy machine makes fewer).
	if n < 4 || n > 16 {
		t.Fatalf("sent %d requests through a window of 1 answered every 20 ms in 300 ms", n)
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

// fakeReceiver answers, on each Receive, everything the fakeSender sent
// since the last one, after a short wait.
type fakeReceiver struct {
	w       *Window
	pending chan int
}

func (r *fakeReceiver) Receive() error {
	n := <-r.pending
	time.Sleep(100 * time.Microsecond)
	r.w.ReleaseN(n)
	return nil
}

// TestMaxThroughputDepth: the closed loop keeps at most depth requests in
// flight, refills the window in one write, and reads in between.
func TestMaxThroughputDepth(t *testing.T) {
	const depth = 8
	w := NewWindow(depth)
	f := &fakeSender{}
	r := &fakeReceiver{w: w, pending: make(chan int, 1000)}
	f.onSend = func(n int) {
		if w.InFlight() > depth {
			t.Errorf("%d in flight, depth %d", w.InFlight(), depth)
		}
		r.pending <- n
	}
	n, err := MaxThroughput(context.Background(), f, r, w, time.Now().Add(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 || int(n) != len(f.intended) || f.writes != int(n)/depth {
		t.Fatalf("sent %d, recorded %d, in %d writes: want a write per full window", n, len(f.intended), f.writes)
	}
	if f.maxBatch != depth {
		t.Fatalf("largest batch %d, want %d", f.maxBatch, depth)
	}
	if _, err := MaxThroughput(context.Background(), f, r, nil, time.Now()); err == nil {
		t.Fatal("max throughput without a window")
	}
}
