package perf

import (
	"io"
	"math"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram range: 1 ns to 100 s at 3 significant digits (about 230 KiB
// of counts per recorder). Latencies above the range are recorded as the
// highest value, so an outlier still counts.
const (
	lowestNanos  = 1
	highestNanos = int64(100 * time.Second)
	sigFigs      = 3
)

// Latency is one latency distribution of a run (ack, order-to-fill, ...),
// recorded by many goroutines. Each recording goroutine gets its own
// Recorder, so they do not contend on one lock; the distribution is their
// merge.
type Latency struct {
	Name string

	mu        sync.Mutex
	recorders []*Recorder
}

// NewLatency returns an empty distribution named name (the name is also
// the .hgrm file's).
func NewLatency(name string) *Latency { return &Latency{Name: name} }

// Recorder returns a new recorder whose values belong to l.
func (l *Latency) Recorder() *Recorder {
	r := &Recorder{h: hdrhistogram.New(lowestNanos, highestNanos, sigFigs)}
	l.mu.Lock()
	l.recorders = append(l.recorders, r)
	l.mu.Unlock()
	return r
}

// Include makes o's values part of l as well (recorded so far and
// later): a distribution pooled from several, such as the phases of one
// kind in a run that alternates them.
func (l *Latency) Include(o *Latency) {
	o.mu.Lock()
	rs := append([]*Recorder(nil), o.recorders...)
	o.mu.Unlock()
	l.mu.Lock()
	l.recorders = append(l.recorders, rs...)
	l.mu.Unlock()
}

// Histogram returns a merged copy of every recorder's values, in
// nanoseconds.
func (l *Latency) Histogram() *hdrhistogram.Histogram {
	h := hdrhistogram.New(lowestNanos, highestNanos, sigFigs)
	l.mu.Lock()
	rs := append([]*Recorder(nil), l.recorders...)
	l.mu.Unlock()
	for _, r := range rs {
		r.mu.Lock()
		h.Merge(r.h)
		r.mu.Unlock()
	}
	return h
}

// Count is the number of values recorded.
func (l *Latency) Count() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var n int64
	for _, r := range l.recorders {
		r.mu.Lock()
		n += r.h.TotalCount()
		r.mu.Unlock()
	}
	return n
}

// Summary returns the standard percentiles of l.
func (l *Latency) Summary() Percentiles { return summarize(l.Name, l.Histogram()) }

// WriteHgrm writes l's percentile distribution in HdrHistogram's text
// format, values in microseconds, as HdrHistogram's own tools print it
// and plot it (HistogramLogProcessor, the online plotter).
func (l *Latency) WriteHgrm(w io.Writer) error {
	_, err := l.Histogram().PercentilesPrint(w, 5, 1000)
	return err
}

// Recorder records latencies into a Latency. It is safe for concurrent
// use, but meant for one goroutine (its lock is then never contended).
type Recorder struct {
	mu sync.Mutex
	h  *hdrhistogram.Histogram
}

// Record adds one latency. Negative values (clock steps between the
// server's clock and ours) count as 0; values above 100 s as 100 s.
func (r *Recorder) Record(d time.Duration) {
	r.mu.Lock()
	r.record(int64(d))
	r.mu.Unlock()
}

// record is Record with r.mu held: a caller that records many values
// takes the lock once.
func (r *Recorder) record(ns int64) {
	r.h.RecordValue(min(max(ns, 0), highestNanos))
}

// Percentiles is one distribution's summary, in microseconds.
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

func summarize(name string, h *hdrhistogram.Histogram) Percentiles {
	us := func(ns int64) float64 { return math.Round(float64(ns)/10) / 100 }
	return Percentiles{
		Name: name, Count: h.TotalCount(),
		P50: us(h.ValueAtQuantile(50)), P90: us(h.ValueAtQuantile(90)), P99: us(h.ValueAtQuantile(99)),
		P999: us(h.ValueAtQuantile(99.9)), P9999: us(h.ValueAtQuantile(99.99)), Max: us(h.Max()),
	}
}

// RecordNanos adds latencies given in nanoseconds, taking the lock once: a
// reader that got many messages in one read records them together.
func (r *Recorder) RecordNanos(ns []int64) {
	r.mu.Lock()
	for _, v := range ns {
		r.record(v)
	}
	r.mu.Unlock()
}
