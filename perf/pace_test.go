package perf

import (
	"context"
	"testing"
	"time"
)

// TestPacer: the pacer never wakes before the time asked, and a cancel
// ends a long wait. Its lateness is logged next to time.Sleep's, for the
// record (too machine-dependent to assert).
func TestPacer(t *testing.T) {
	p := newPacer()
	defer p.close()
	ctx := context.Background()
	pl, sl := NewLatency("pacer"), NewLatency("sleep")
	pr, sr := pl.Recorder(), sl.Recorder()
	for i := range 200 {
		d := time.Duration(20+i%5*40) * time.Microsecond
		if i%50 == 0 {
			d = 3 * time.Millisecond // through the timer first
		}
		at := time.Now().Add(d)
		if !p.sleepUntil(ctx, at, nil) {
			t.Fatal("sleepUntil reports a cancel")
		}
		late := time.Since(at)
		if late < 0 {
			t.Fatalf("woke %v early", -late)
		}
		pr.Record(late)
		at = time.Now().Add(d)
		time.Sleep(time.Until(at))
		sr.Record(time.Since(at))
	}
	t.Logf("pacer lateness:      %+v", pl.Summary())
	t.Logf("time.Sleep lateness: %+v", sl.Summary())

	ctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	if p.sleepUntil(ctx, start.Add(10*time.Second), nil) {
		t.Fatal("a canceled wait reports success")
	}
	if waited := time.Since(start); waited > time.Second {
		t.Fatalf("the cancel took %v to end the wait", waited)
	}
}
