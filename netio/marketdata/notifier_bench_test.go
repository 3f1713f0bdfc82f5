package marketdata

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/ringex/ringex/engine"
	"github.com/ringex/ringex/netio/internal/nettest"
	"github.com/ringex/ringex/pipeline"
)

// BenchmarkFanout measures trade fan-out over loopback: subs subscribers
// of the trades channel, each trade made by a resting sell and a crossing
// buy; one op is one trade delivered to every subscriber. rate=0 runs as
// fast as the pipeline takes orders (throughput); a fixed rate paces the
// trades open loop and stamps each with its scheduled time, so the delivery
// latency (event time to the subscriber's read) includes any queueing.
// RINGEX_FANOUT_SUBS overrides the subscriber counts (comma-separated).
func BenchmarkFanout(b *testing.B) {
	subsList := []int{100, 1000}
	if s := os.Getenv("RINGEX_FANOUT_SUBS"); s != "" {
		subsList = subsList[:0]
		for _, f := range splitComma(s) {
			n, err := strconv.Atoi(f)
			if err != nil {
				b.Fatalf("RINGEX_FANOUT_SUBS: %v", err)
			}
			subsList = append(subsList, n)
		}
	}
	for _, subs := range subsList {
		for _, rate := range []int{0, 1000} {
			b.Run(fmt.Sprintf("subs=%d/rate=%d", subs, rate), func(b *testing.B) { benchFanout(b, subs, rate) })
		}
	}
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}

// receiptSink notes when the notifier received each event (by sequence),
// so that the benchmark can tell the fan-out's share of the delivery
// latency from the pipeline's.
type receiptSink struct {
	n    *Notifier
	recv []atomic.Int64
}

func (r *receiptSink) HandleOutput(a *pipeline.Asset, lo, hi int64) {
	now := time.Now().UnixNano()
	for s := lo; s <= hi; s++ {
		if o := a.Output(s); !o.IsLevel && o.Event.Seq < uint64(len(r.recv)) {
			r.recv[o.Event.Seq].Store(now)
		}
	}
	r.n.HandleOutput(a, lo, hi)
}

// maxSampled bounds the subscribers that record latencies (recording is
// the benchmark's own cost, not the notifier's).
const maxSampled = 64

func newLatencyHist() *hdrhistogram.Histogram { return hdrhistogram.New(1, 60_000_000, 3) } // µs

func benchFanout(b *testing.B, subs, rate int) {
	rs := &receiptSink{recv: make([]atomic.Int64, 4*b.N+16)}
	h := startFeedSink(b, "", NotifierConfig{MaxQueuedBytes: 64 << 20}, func(n *Notifier) pipeline.OutputSink {
		rs.n = n
		return rs
	})
	feeds := make([]*testFeed, subs)
	for i := range feeds {
		f := dialTestFeed(b, h.addr)
		defer f.close()
		if err := f.subscribe(feedSpec.Config.Symbol, chTrades); err != nil {
			b.Fatal(err)
		}
		feeds[i] = f
	}
	for _, f := range feeds {
		if _, err := f.waitFor(mAck); err != nil {
			b.Fatal(err)
		}
	}
	every := max(1, subs/maxSampled)
	var mu sync.Mutex
	e2e, fan := newLatencyHist(), newLatencyHist()
	var wg sync.WaitGroup
	want := b.N
	for i, f := range feeds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sample := i%every == 0
			var mine, myFan *hdrhistogram.Histogram
			if sample {
				mine, myFan = newLatencyHist(), newLatencyHist()
			}
			f.c.SetReadDeadline(time.Now().Add(5 * time.Minute))
			for n := 0; n < want; {
				m, err := f.next()
				if err != nil {
					b.Errorf("subscriber %d after %d trades: %v", i, n, err)
					return
				}
				if m.kind != mTrade {
					continue
				}
				n++
				if sample {
					now := time.Now().UnixNano()
					mine.RecordValue(max((now-m.time)/1e3, 1))
					myFan.RecordValue(max((now-rs.recv[m.seq].Load())/1e3, 1))
				}
			}
			if sample {
				mu.Lock()
				e2e.Merge(mine)
				fan.Merge(myFan)
				mu.Unlock()
			}
		}()
	}
	a := h.asset
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		at := time.Now()
		if rate > 0 {
			at = start.Add(time.Duration(i) * time.Second / time.Duration(rate))
			if d := time.Until(at); d > 0 {
				time.Sleep(d)
			}
		}
		for _, side := range []engine.Side{engine.Sell, engine.Buy} {
			c := engine.Command{Kind: engine.CmdNew, UserID: nettest.Alice.ID, Side: side, Type: engine.Limit,
				TIF: engine.GTC, Price: 1000, Qty: 1, Time: at.UnixNano()}
			if _, err := a.Submit(&c, 0, time.Second); err != nil {
				b.Fatal(err)
			}
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "trades/s")
	b.ReportMetric(float64(b.N)*float64(subs)/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(float64(fan.ValueAtQuantile(50)), "fanout-p50-µs")
	b.ReportMetric(float64(fan.ValueAtQuantile(99)), "fanout-p99-µs")
	b.ReportMetric(float64(e2e.ValueAtQuantile(50)), "e2e-p50-µs")
	b.ReportMetric(float64(e2e.ValueAtQuantile(99)), "e2e-p99-µs")
	b.ReportMetric(float64(e2e.Max()), "e2e-max-µs")
}

// outSlice serves a fixed batch as an output ring would.
type outSlice []pipeline.Out

func (s *outSlice) Output(seq int64) *pipeline.Out { return &(*s)[seq] }

// BenchmarkHandleOutput measures the notifier goroutine's cost per output
// batch (one trade and two level changes) with 100 subscribers of every
// public channel on loopback, and the allocations per batch of the whole
// path, event loops included.
func BenchmarkHandleOutput(b *testing.B) {
	h := startFeed(b, "", NotifierConfig{MaxQueuedBytes: 1 << 30})
	const subs = 100
	var wg sync.WaitGroup
	for range subs {
		f := dialTestFeed(b, h.addr)
		defer f.close()
		for _, ch := range []channel{chTrades, chBook, chBBO} {
			if err := f.subscribe(feedSpec.Config.Symbol, ch); err != nil {
				b.Fatal(err)
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			io.Copy(io.Discard, f.c)
		}()
	}
	time.Sleep(100 * time.Millisecond) // let the subscriptions land
	fa := h.n.byID[feedSpec.ID]
	batch := outSlice{
		{Event: engine.Event{Kind: engine.EvTrade, Side: engine.Buy, Price: 1000, Qty: 1, UserID: 1, MakerUserID: 2}},
		{Level: engine.LevelChange{Side: engine.Sell, Price: 1000, Qty: 5, Count: 1}, IsLevel: true},
		{Level: engine.LevelChange{Side: engine.Buy, Price: 999, Qty: 7, Count: 2}, IsLevel: true},
	}
	step := func(i int) {
		seq := uint64(i + 1)
		batch[0].Event.Seq, batch[0].Event.Time = seq, time.Now().UnixNano()
		batch[1].EventSeq, batch[2].EventSeq = seq, seq
		batch[1].Level.Qty = int64(1 + i%5) // the top changes: a BBO every batch
		h.n.handle(fa, &batch, 0, 2)
	}
	// Each op waits for the event loops to finish the batch (its loop
	// batches back in the free list), so this is the steady state of a
	// notifier that keeps up, not a backlog.
	idle := func(base int) {
		for len(h.n.batches.list.c) < base {
			runtime.Gosched()
		}
	}
	for i := range 1000 {
		step(i)
	}
	time.Sleep(200 * time.Millisecond)
	base := len(h.n.batches.list.c)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		step(1000 + i)
		idle(base)
	}
	b.StopTimer()
}
