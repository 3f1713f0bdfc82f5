package orderentry

import (
	"math/bits"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// ackHistogram is the ack latency histogram
// (ringex_gateway_ack_latency_seconds). It exports what a
// prometheus.Histogram with buckets prometheus.ExponentialBuckets(5e-6, 2,
// 16) would, but it is filled a pass at a time: the ack goroutine counts a
// pass's latencies in a latencyCounts on its stack and adds them with one
// atomic add per bucket it touched (add), where a prometheus.Histogram
// takes four atomic operations and a bucket search per ack. At a million
// acks a second that was about 2 % of the server's CPU
// (docs/performance.md, "Less work per order on the commit and matcher
// goroutines").
type ackHistogram struct {
	desc    *prometheus.Desc
	bounds  []float64                         // seconds: prometheus.ExponentialBuckets(5e-6, 2, 16)
	buckets [latencyBuckets + 1]atomic.Uint64 // the last: above every bound
	sumNS   atomic.Uint64
}

const (
	// latencyBuckets bounds are latencyBase << i nanoseconds, i < 16:
	// 5 us to 164 ms.
	latencyBuckets = 16
	latencyBase    = 5000
)

func newAckHistogram(name, help string) *ackHistogram {
	return &ackHistogram{
		desc:   prometheus.NewDesc(name, help, nil, nil),
		bounds: prometheus.ExponentialBuckets(latencyBase/1e9, 2, latencyBuckets),
	}
}

// latencyBucket returns the index of the smallest bound at or above ns
// (latencyBuckets if none is).
func latencyBucket(ns int64) int {
	if ns <= latencyBase {
		return 0
	}
	return min(bits.Len64(uint64(ns-1)/latencyBase), latencyBuckets)
}

// latencyCounts gathers the latencies of one pass.
type latencyCounts struct {
	buckets [latencyBuckets + 1]uint32
	sumNS   uint64
	n       int
}

func (c *latencyCounts) observe(ns int64) {
	ns = max(ns, 0)
	c.buckets[latencyBucket(ns)]++
	c.sumNS += uint64(ns)
	c.n++
}

// add adds c's counts to h.
func (h *ackHistogram) add(c *latencyCounts) {
	if c.n == 0 {
		return
	}
	for i, k := range c.buckets {
		if k != 0 {
			h.buckets[i].Add(uint64(k))
		}
	}
	h.sumNS.Add(c.sumNS)
}

func (h *ackHistogram) Describe(ch chan<- *prometheus.Desc) { ch <- h.desc }

// Collect exports the cumulative buckets. A scrape during an add may see
// some buckets of a pass and not others: each count is exact once the
// pass is added, as with prometheus.Histogram's own hot and cold counts.
func (h *ackHistogram) Collect(ch chan<- prometheus.Metric) {
	cum := make(map[float64]uint64, latencyBuckets)
	var n uint64
	for i, le := range h.bounds {
		n += h.buckets[i].Load()
		cum[le] = n
	}
	n += h.buckets[latencyBuckets].Load()
	ch <- prometheus.MustNewConstHistogram(h.desc, n, float64(h.sumNS.Load())/1e9, cum)
}

// count returns the observations so far (for tests).
func (h *ackHistogram) count() uint64 {
	var n uint64
	for i := range h.buckets {
		n += h.buckets[i].Load()
	}
	return n
}
