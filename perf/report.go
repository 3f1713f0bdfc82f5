package perf

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// Latency is a concurrency-safe latency histogram in nanoseconds, from
// 100 ns to 100 s with 3 significant digits.
type Latency struct {
	Name string
	mu   sync.Mutex
	h    *hdrhistogram.Histogram
}

// NewLatency returns an empty histogram.
func NewLatency(name string) *Latency {
	return &Latency{Name: name, h: hdrhistogram.New(100, int64(100*time.Second), 3)}
}

// Record adds one latency; values outside the range are clamped so that a
// pathological outlier still counts.
func (l *Latency) Record(d time.Duration) {
	v := max(int64(d), 100)
	v = min(v, l.h.HighestTrackableValue())
	l.mu.Lock()
	l.h.RecordValue(v)
	l.mu.Unlock()
}

// Count is how many latencies were recorded.
func (l *Latency) Count() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.h.TotalCount()
}

// Percentiles is the summary printed and written to JSON, in microseconds.
type Percentiles struct {
	Name  string  `json:"name"`
	Count int64   `json:"count"`
	P50   float64 `json:"p50_us"`
	P90   float64 `json:"p90_us"`
	P99   float64 `json:"p99_us"`
	P999  float64 `json:"p99_9_us"`
	P9999 float64 `json:"p99_99_us"`
	Max   float64 `json:"max_us"`
}

// Summary returns the standard percentiles.
func (l *Latency) Summary() Percentiles {
	l.mu.Lock()
	defer l.mu.Unlock()
	us := func(v int64) float64 { return math.Round(float64(v)/10) / 100 }
	return Percentiles{
		Name: l.Name, Count: l.h.TotalCount(),
		P50: us(l.h.ValueAtQuantile(50)), P90: us(l.h.ValueAtQuantile(90)), P99: us(l.h.ValueAtQuantile(99)),
		P999: us(l.h.ValueAtQuantile(99.9)), P9999: us(l.h.ValueAtQuantile(99.99)), Max: us(l.h.Max()),
	}
}

// WriteHgrm writes the percentile distribution in HdrHistogram's text
// format (values in microseconds), for HdrHistogram's plotter and others.
func (l *Latency) WriteHgrm(w io.Writer) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, err := l.h.PercentilesPrint(w, 5, 1000)
	return err
}

func (l *Latency) curve() plotter.XYs {
	l.mu.Lock()
	defer l.mu.Unlock()
	var pts plotter.XYs
	for _, b := range l.h.CumulativeDistributionWithTicks(5) {
		q := b.Quantile / 100
		if q >= 1 {
			q = 0.999999
		}
		pts = append(pts, plotter.XY{X: 1 / (1 - q), Y: float64(b.ValueAt) / 1000})
	}
	return pts
}

// Result is one run's outcome.
type Result struct {
	Mode       string         `json:"mode"`
	TargetRate float64        `json:"target_rate"`
	Duration   float64        `json:"duration_s"`
	Sent       int64          `json:"sent"`
	Acked      int64          `json:"acked"`
	Rejected   int64          `json:"rejected"`
	Lost       int64          `json:"lost"`
	Rate       float64        `json:"achieved_rate"`
	Rejects    map[string]int `json:"rejects_by_reason"`
	Errors     []string       `json:"errors"`
	Latencies  []Percentiles  `json:"latencies"`
	Checks     []string       `json:"failed_checks"`
}

// OK reports whether the run lost nothing and passed its checks.
func (r *Result) OK() bool { return r.Lost == 0 && len(r.Checks) == 0 && len(r.Errors) == 0 }

// Print writes the human summary.
func (r *Result) Print(w io.Writer) {
	fmt.Fprintf(w, "mode %s, target %.0f/s, %.1fs: sent %d, acked %d, rejected %d, lost %d, achieved %.0f orders/s\n",
		r.Mode, r.TargetRate, r.Duration, r.Sent, r.Acked, r.Rejected, r.Lost, r.Rate)
	fmt.Fprintf(w, "%-22s %10s %10s %10s %10s %10s %10s %10s\n", "latency (us)", "count", "p50", "p90", "p99", "p99.9", "p99.99", "max")
	for _, p := range r.Latencies {
		fmt.Fprintf(w, "%-22s %10d %10.1f %10.1f %10.1f %10.1f %10.1f %10.1f\n", p.Name, p.Count, p.P50, p.P90, p.P99, p.P999, p.P9999, p.Max)
	}
	if len(r.Rejects) > 0 {
		keys := make([]string, 0, len(r.Rejects))
		for k := range r.Rejects {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s: %d", k, r.Rejects[k]))
		}
		fmt.Fprintf(w, "rejects: %s\n", strings.Join(parts, ", "))
	}
	for _, e := range r.Errors {
		fmt.Fprintf(w, "error: %s\n", e)
	}
	for _, c := range r.Checks {
		fmt.Fprintf(w, "FAILED CHECK: %s\n", c)
	}
}

// WriteOutputs writes one .hgrm per histogram, a PNG plot of the
// latency-by-percentile curves and, if asked, summary.json, into dir.
func WriteOutputs(dir string, r *Result, lats []*Latency, withJSON bool) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("ringex latency by percentile (%s, %.0f/s)", r.Mode, r.TargetRate)
	p.X.Label.Text = "percentile"
	p.Y.Label.Text = "latency (us)"
	p.X.Scale = plot.LogScale{}
	p.Y.Scale = plot.LogScale{}
	p.X.Tick.Marker = percentileTicks{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	var lines []any
	for _, l := range lats {
		if l.Count() == 0 {
			continue
		}
		f, err := os.Create(filepath.Join(dir, l.Name+".hgrm"))
		if err != nil {
			return err
		}
		err = l.WriteHgrm(f)
		f.Close()
		if err != nil {
			return err
		}
		lines = append(lines, l.Name, l.curve())
	}
	if len(lines) > 0 {
		if err := plotutil.AddLines(p, lines...); err != nil {
			return err
		}
		if err := p.Save(8*vg.Inch, 5*vg.Inch, filepath.Join(dir, "latency.png")); err != nil {
			return err
		}
	}
	if withJSON {
		b, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, "summary.json"), b, 0o644)
	}
	return nil
}

// percentileTicks labels a 1/(1-p) axis with percentiles.
type percentileTicks struct{}

func (percentileTicks) Ticks(min, max float64) []plot.Tick {
	var ticks []plot.Tick
	for _, t := range []struct {
		x     float64
		label string
	}{{1, "0%"}, {2, "50%"}, {10, "90%"}, {100, "99%"}, {1000, "99.9%"}, {10000, "99.99%"}, {100000, "99.999%"}, {1000000, "99.9999%"}} {
		if t.x >= min && t.x <= max {
			ticks = append(ticks, plot.Tick{Value: t.x, Label: t.label})
		}
	}
	return ticks
}
