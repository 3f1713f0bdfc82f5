package orderentry

import (
	"math"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/ringex/ringex/netio/internal/nettest"
	"github.com/ringex/ringex/netio/wire"
)

// TestAckHistogramMatchesPrometheus: the pass-at-a-time histogram exports
// the same buckets, count and sum as the prometheus.Histogram it replaced,
// fed the same latencies, including those on and next to every bound,
// below the first and above the last.
func TestAckHistogramMatchesPrometheus(t *testing.T) {
	ours := newAckHistogram("lat", "h")
	theirs := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "lat", Help: "h", Buckets: prometheus.ExponentialBuckets(5e-6, 2, 16),
	})
	var ns []int64
	for i := range latencyBuckets + 2 {
		b := int64(latencyBase) << i
		ns = append(ns, b-1, b, b+1, b+b/3)
	}
	ns = append(ns, 0, 1, -5, 3_000_000_000)
	// In passes of uneven sizes, as HandleAcks adds them.
	for lo := 0; lo < len(ns); {
		hi := min(len(ns), lo+1+lo%7)
		var c latencyCounts
		for _, v := range ns[lo:hi] {
			c.observe(v)
			theirs.Observe(float64(max(v, 0)) / 1e9)
		}
		ours.add(&c)
		lo = hi
	}
	got, want := collect(t, ours).GetHistogram(), collect(t, theirs).GetHistogram()
	if got.GetSampleCount() != want.GetSampleCount() || got.GetSampleCount() != uint64(len(ns)) {
		t.Fatalf("count %d, prometheus %d, observed %d", got.GetSampleCount(), want.GetSampleCount(), len(ns))
	}
	if math.Abs(got.GetSampleSum()-want.GetSampleSum()) > 1e-9 {
		t.Fatalf("sum %v, prometheus %v", got.GetSampleSum(), want.GetSampleSum())
	}
	if len(got.Bucket) != len(want.Bucket) {
		t.Fatalf("%d buckets, prometheus %d", len(got.Bucket), len(want.Bucket))
	}
	for i := range want.Bucket {
		g, w := got.Bucket[i], want.Bucket[i]
		if g.GetUpperBound() != w.GetUpperBound() || g.GetCumulativeCount() != w.GetCumulativeCount() {
			t.Errorf("bucket %d: le %v count %d, prometheus le %v count %d",
				i, g.GetUpperBound(), g.GetCumulativeCount(), w.GetUpperBound(), w.GetCumulativeCount())
		}
	}
}

func collect(t *testing.T, c prometheus.Collector) *dto.Metric {
	t.Helper()
	ch := make(chan prometheus.Metric, 1)
	c.Collect(ch)
	var m dto.Metric
	if err := (<-ch).Write(&m); err != nil {
		t.Fatal(err)
	}
	return &m
}

// TestAcksOfInterleavedSessions: two sessions send bursts at once, up to
// their in-flight cap, so that their orders interleave in the ring and
// HandleAcks' runs of one session's slots start and end mid-range. Every
// order is acked in its session's order, each session's in-flight count
// falls back to zero after every burst (else the next burst would be
// refused as "too many in flight"), and the ack counter and the latency
// histogram count every ack.
func TestAcksOfInterleavedSessions(t *testing.T) {
	const burst, rounds = 16, 30
	g, _ := startGateway(t, GatewayConfig{MaxInFlight: burst})
	var wg sync.WaitGroup
	for i, u := range []nettest.User{nettest.Alice, nettest.Bob} {
		rc := dialRaw(t, g)
		rc.login(u)
		wg.Add(1)
		go func() {
			defer wg.Done()
			side := uint8(1 + i) // no trades: the two users rest on opposite sides
			price := int64(1000 + 500*i)
			for r := range rounds {
				var buf []byte
				for k := range burst {
					buf = wire.AppendNewOrder(buf, order(uint64(r*burst+k+1), side, price, 10))
				}
				rc.send(buf)
				for k := range burst {
					rc.expectAck(uint64(r*burst + k + 1))
				}
			}
		}()
	}
	wg.Wait()
	const total = 2 * burst * rounds
	if n := collect(t, g.m.acks).GetCounter().GetValue(); n != total {
		t.Errorf("acks counter %v, want %d", n, total)
	}
	if n := g.m.ackLatency.count(); n != total {
		t.Errorf("latency histogram counted %d, want %d", n, total)
	}
	g.table.each(func(s *session) {
		if n := s.inFlight.Load(); n != 0 {
			t.Errorf("session %s: %d in flight after every ack", s.UserName, n)
		}
	})
}
