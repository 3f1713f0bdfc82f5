package main

import (
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The server's ack histogram is read per phase from two scrapes: the
// buckets are kept apart by bound, the difference taken, and the quantile
// interpolated inside its bucket.
func TestServerAckHistogramBetweenScrapes(t *testing.T) {
	var body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metrics" {
			fmt.Fprint(w, body)
		}
	}))
	defer srv.Close()
	page := func(counts ...int) string {
		var b strings.Builder
		b.WriteString("# TYPE " + ackHistogram + " histogram\n")
		for i, le := range []string{"0.001", "0.002", "0.004", "+Inf"} {
			fmt.Fprintf(&b, "%s_bucket{le=%q} %d\n", ackHistogram, le, counts[i])
		}
		fmt.Fprintf(&b, "%s_count %d\n", ackHistogram, counts[3])
		return b.String()
	}
	addr := strings.TrimPrefix(srv.URL, "http://")
	body = page(10, 10, 10, 10)
	m0 := scrapeMetrics(addr)
	// Between the scrapes: 50 under 1 ms, 48 in 1-2 ms, 2 in 2-4 ms.
	body = page(60, 108, 110, 110)
	m1 := scrapeMetrics(addr)
	h := histogramDelta(m0, m1, ackHistogram)
	if h == nil || len(h.le) != 4 || !math.IsInf(h.le[3], 1) {
		t.Fatalf("buckets %+v", h)
	}
	if want := []float64{50, 98, 100, 100}; fmt.Sprint(h.cum) != fmt.Sprint(want) {
		t.Fatalf("counts %v, want %v", h.cum, want)
	}
	if p := h.quantile(0.5); p != 1000 {
		t.Errorf("p50 %v us, want 1000 (the top of the first bucket)", p)
	}
	if p := h.quantile(0.99); math.Abs(p-3000) > 1e-6 {
		t.Errorf("p99 %v us, want 3000 (half way through 2-4 ms)", p)
	}
	var pooled histogram
	pooled.add(h)
	pooled.add(h)
	if p := pooled.quantile(0.99); math.Abs(p-3000) > 1e-6 {
		t.Errorf("pooled p99 %v us, want 3000", p)
	}
	if p := (*histogram)(nil).quantile(0.99); p != -1 {
		t.Errorf("unread: %v, want -1", p)
	}
	if histogramDelta(nil, m1, ackHistogram) != nil {
		t.Error("a missing scrape gave a histogram")
	}
}
