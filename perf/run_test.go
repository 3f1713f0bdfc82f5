package perf

import (
	"bytes"
	"encoding/json"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestResultCounts: the summary adds up every tracker, names the rejects
// by reason, and fails the run for each kind of loss.
func TestResultCounts(t *testing.T) {
	run := NewRun(time.Now())
	run.ReasonText = func(code uint16) string { return map[uint16]string{108: "busy", 110: "too many"}[code] }
	a, b := run.NewTracker(nil), run.NewTracker(nil)
	for range 100 {
		a.Add(time.Now(), 0)
		b.Add(time.Now(), 0)
	}
	for n := uint64(1); n <= 100; n++ {
		switch {
		case n <= 90:
			a.Ack(n)
		case n <= 95:
			a.Reject(n, 108)
		default:
			a.Reject(n, 110)
		}
		if n != 50 {
			b.Ack(n) // b's request 50 is lost
		}
	}
	b.Ack(7) // a duplicate
	run.Refused("7 FOK unfillable")
	run.Refused("7 FOK unfillable")
	run.Fills.Trade(0, 1, 5)
	run.Fills.Fill(0, 1, 5)
	run.Fills.Fill(0, 1, 5)
	s1, s2 := run.NewSubscriber(run.Delivery.Recorder()), run.NewSubscriber(run.Delivery.Recorder())
	s1.Trade(time.Now().UnixNano())

	res := run.Result("open-loop", 1000, 2*time.Second)
	if res.Sent != 200 || res.Acked != 189 || res.Rejected != 10 || res.Lost != 1 || res.Duplicates != 1 || res.Unknown != 0 {
		t.Fatalf("counts %+v", res)
	}
	if math.Abs(res.Rate-199.0/2) > 1e-9 {
		t.Fatalf("rate %v, want 99.5", res.Rate)
	}
	if res.Rejects["108 busy"] != 5 || res.Rejects["110 too many"] != 5 || len(res.Rejects) != 2 {
		t.Fatalf("rejects %v", res.Rejects)
	}
	if res.Refusals["7 FOK unfillable"] != 2 || res.Trades != 1 || res.Fills != 2 || res.Subscribers != 2 {
		t.Fatalf("refusals %v, trades %d, fills %d, subscribers %d", res.Refusals, res.Trades, res.Fills, res.Subscribers)
	}
	if res.OK() {
		t.Fatal("a run with a lost request is OK")
	}
	want := []string{"1 requests never answered (first: [50])", "1 requests answered more than once", "1 of 2 subscribers"}
	if len(res.Failures) != len(want) {
		t.Fatalf("failures %q, want %q", res.Failures, want)
	}
	for i, w := range want {
		if !strings.Contains(res.Failures[i], w) {
			t.Fatalf("failure %q, want %q", res.Failures[i], w)
		}
	}
	if res.Latencies[0].Name != "ack" || res.Latencies[0].Count != 189 {
		t.Fatalf("ack latency %+v", res.Latencies[0])
	}

	var buf bytes.Buffer
	res.Print(&buf)
	for _, w := range []string{
		"open loop at 1000 orders/s",
		"sent 200, acked 189, rejected 10, lost 1, duplicates 1: 100 answers/s",
		"rejects: 108 busy: 5, 110 too many: 5",
		"refused by the matcher: 7 FOK unfillable: 2",
		"public trades 1, fill notifications 2",
		"FAILED: 1 requests never answered",
	} {
		if !strings.Contains(buf.String(), w) {
			t.Errorf("summary lacks %q:\n%s", w, buf.String())
		}
	}

	s2.Trade(time.Now().UnixNano())
	run.Error("session 1: connection reset")
	b.Ack(50)
	b.Ack(7)
	res = run.Result("open-loop", 1000, 2*time.Second)
	if res.Lost != 0 || res.Duplicates != 2 || len(res.Failures) != 2 || res.Errors["session 1: connection reset"] != 1 {
		t.Fatalf("after the late answer: %+v", res)
	}

	clean := NewRun(time.Now())
	tr := clean.NewTracker(nil)
	tr.Ack(tr.Add(time.Now(), 0))
	if res := clean.Result("max-throughput", 0, time.Second); !res.OK() {
		t.Fatalf("a clean run failed: %q", res.Failures)
	}
}

func TestWriteOutputs(t *testing.T) {
	run := NewRun(time.Now())
	rec := run.Ack.Recorder()
	for i := 1; i <= 10000; i++ {
		rec.Record(time.Duration(i) * time.Microsecond)
	}
	run.Delivery.Recorder().Record(time.Millisecond)
	s := run.Ack.Summary()
	if s.Count != 10000 || math.Abs(s.P50-5000) > 5 || math.Abs(s.P99-9900) > 10 || math.Abs(s.P9999-9999) > 10 || math.Abs(s.Max-10000) > 10 {
		t.Fatalf("summary %+v", s)
	}
	res := run.Result("open-loop", 1000, time.Second)
	dir := filepath.Join(t.TempDir(), "out")
	if err := WriteOutputs(dir, res, run.Latencies(), true); err != nil {
		t.Fatal(err)
	}
	// Empty distributions get no file.
	for name, want := range map[string]bool{"ack.hgrm": true, "trade-delivery.hgrm": true, "order-to-fill.hgrm": false, "latency.png": true, "summary.json": true} {
		if _, err := os.Stat(filepath.Join(dir, name)); (err == nil) != want {
			t.Errorf("%s: exists %v, want %v", name, err == nil, want)
		}
	}
	hgrm, err := os.ReadFile(filepath.Join(dir, "ack.hgrm"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(hgrm), " Value\tPercentile\tTotalCount\t1/(1-Percentile)") ||
		!strings.Contains(string(hgrm), "Total count    =        10000") {
		t.Fatalf("ack.hgrm is not in HdrHistogram's format:\n%.300s", hgrm)
	}
	f, err := os.Open(filepath.Join(dir, "latency.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil || img.Bounds().Dx() < 500 {
		t.Fatalf("latency.png: %v, %v", err, img.Bounds())
	}
	var back Result
	b, _ := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err := json.Unmarshal(b, &back); err != nil || back.Latencies[0].Count != 10000 || back.Mode != "open-loop" {
		t.Fatalf("summary.json: %v, %+v", err, back)
	}
}

func TestCurveAxis(t *testing.T) {
	l := NewLatency("x")
	r := l.Recorder()
	for i := 1; i <= 1000; i++ {
		r.Record(time.Duration(i) * time.Microsecond)
	}
	pts := curve(l)
	last := pts[len(pts)-1]
	if last.X < 1000 || last.X > 2000 || math.Abs(last.Y-1000) > 1 {
		t.Fatalf("the maximum is plotted at %+v, want (1000 or a little more, 1000 us)", last)
	}
	for i := 1; i < len(pts); i++ {
		if pts[i].X < pts[i-1].X || pts[i].Y < pts[i-1].Y {
			t.Fatalf("curve not monotonic at %d: %+v then %+v", i, pts[i-1], pts[i])
		}
	}
	// The 90th percentile sits at x = 10.
	for _, p := range pts {
		if math.Abs(p.X-10) < 0.01 && math.Abs(p.Y-900) > 2 {
			t.Fatalf("at x=10 (p90) the curve is %.1f us, want 900", p.Y)
		}
	}
}

func TestProgress(t *testing.T) {
	run := NewRun(time.Now())
	tr := run.NewTracker(nil)
	for range 10 {
		tr.Add(time.Now(), 0)
	}
	tr.Ack(1)
	var buf bytes.Buffer // written by Progress only until done
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { run.Progress(&buf, 20*time.Millisecond, stop); close(done) }()
	time.Sleep(70 * time.Millisecond)
	close(stop)
	<-done
	out := buf.String()
	if !strings.Contains(out, "in flight      9") || strings.Count(out, "\n") < 2 {
		t.Fatalf("progress:\n%s", out)
	}
}

// TestWriteOutputsZeros: a distribution of zeros (the send lag of a
// closed loop, where each request goes out at its intended time) is
// written but not plotted: a log axis has no place for it.
func TestWriteOutputsZeros(t *testing.T) {
	run := NewRun(time.Now())
	lag, ack := run.SendLag.Recorder(), run.Ack.Recorder()
	for i := range 1000 {
		lag.Record(0)
		ack.Record(time.Duration(i+1) * time.Microsecond)
	}
	dir := t.TempDir()
	if err := WriteOutputs(dir, run.Result("max-throughput", 0, time.Second), run.Latencies(), false); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"send-lag.hgrm", "ack.hgrm", "latency.png"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Error(err)
		}
	}
}
