package perf

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestScheduleIntended(t *testing.T) {
	start := time.Unix(100, 0)
	// 1000/s over 4 streams: each stream every 4 ms, offset by 1 ms each.
	for k := range 4 {
		s := NewSchedule(start, 1000, 4, k)
		if s.Interval != 4*time.Millisecond {
			t.Fatalf("interval %v, want 4ms", s.Interval)
		}
		for i := int64(0); i < 10; i++ {
			want := start.Add(time.Duration(k)*time.Millisecond + time.Duration(i)*4*time.Millisecond)
			if got := s.Intended(i); !got.Equal(want) {
				t.Fatalf("stream %d op %d: %v, want %v", k, i, got, want)
			}
		}
	}
	s := NewSchedule(start, 1000, 1, 0)
	if s.Due(start.Add(-time.Millisecond)) != 0 || s.Due(start) != 1 || s.Due(start.Add(2500*time.Microsecond)) != 3 {
		t.Fatal("Due counts ops whose intended time has come")
	}
	// After a 100 ms stall, every op of the stall is due at once, each
	// keeping its own intended time.
	if got := s.Due(start.Add(100 * time.Millisecond)); got != 101 {
		t.Fatalf("due after a 100ms stall: %d, want 101", got)
	}
}

func TestMixPercentages(t *testing.T) {
	mix, err := ParseMix("market=5,ioc=10,fok=3,postonly=7,cancel=20,replace=15")
	if err != nil {
		t.Fatal(err)
	}
	assets := []AssetParams{{Symbol: "A", Tick: 5, Lot: 10, Mid: 1000, SpreadTicks: 3, MaxLots: 4}, {Symbol: "B", Tick: 1, Lot: 1, Mid: 50, SpreadTicks: 2, MaxLots: 1}}
	g := NewGenerator(mix, assets, 42)
	const n = 200000
	var counts [numKinds]int
	for range n {
		o := g.Next(true)
		counts[o.Kind]++
		a := assets[o.Asset]
		if o.Price%a.Tick != 0 || o.Qty%a.Lot != 0 || o.Qty <= 0 || o.Qty > a.MaxLots*a.Lot || o.Price < a.Mid-a.SpreadTicks*a.Tick || o.Price > a.Mid+a.SpreadTicks*a.Tick {
			t.Fatalf("order %+v invalid for %+v", o, a)
		}
	}
	want := map[Kind]float64{KindMarket: 5, KindIOC: 10, KindFOK: 3, KindPostOnly: 7, KindCancel: 20, KindReplace: 15, KindLimit: 40}
	for k, pct := range want {
		got := 100 * float64(counts[k]) / n
		if math.Abs(got-pct) > 0.5 {
			t.Errorf("%s: %.2f%%, want %.0f%%", k, got, pct)
		}
	}
	// Reproducible: the same seed gives the same stream.
	a, b := NewGenerator(mix, assets, 7), NewGenerator(mix, assets, 7)
	for range 1000 {
		if a.Next(true) != b.Next(true) {
			t.Fatal("same seed, different stream")
		}
	}
	// Without resting orders, cancels and replaces become limits.
	for range 1000 {
		if k := g.Next(false).Kind; k == KindCancel || k == KindReplace {
			t.Fatal("a cancel with nothing to cancel")
		}
	}
	if _, err := ParseMix("cancel=60,replace=50"); err == nil {
		t.Fatal("a mix over 100% was accepted")
	}
}

func TestSummaryAndOutputs(t *testing.T) {
	l := NewLatency("ack")
	for i := 1; i <= 1000; i++ {
		l.Record(time.Duration(i) * time.Microsecond)
	}
	s := l.Summary()
	if s.Count != 1000 || math.Abs(s.P50-500) > 1 || math.Abs(s.P99-990) > 2 || math.Abs(s.Max-1000) > 2 {
		t.Fatalf("summary %+v", s)
	}
	r := &Result{Mode: "open-loop", TargetRate: 1000, Duration: 1, Sent: 10, Acked: 7, Rejected: 2, Lost: 1,
		Latencies: []Percentiles{s}, Rejects: map[string]int{"2 price off tick": 2}}
	if r.OK() {
		t.Fatal("a run with a lost order is OK")
	}
	var buf bytes.Buffer
	r.Print(&buf)
	for _, want := range []string{"sent 10, acked 7, rejected 2, lost 1", "ack", "2 price off tick: 2"} {
		if !strings.Contains(buf.String(), want) {
			t.Fatalf("summary lacks %q:\n%s", want, buf.String())
		}
	}
	dir := t.TempDir()
	if err := WriteOutputs(dir, r, []*Latency{l}, true); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"ack.hgrm", "latency.png", "summary.json"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Fatalf("%s not written: %v", f, err)
		}
	}
}
