package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ringex/ringex/perf"
	"github.com/ringex/ringex/perf/fanout"
)

// TestFanoutTables: per number of subscribers, ringexd next to the naive
// floor and the coalescing floor with the lowest p99, the ratio to the
// best of all floors (p99 and CPU), and a run that lost trades is named.
func TestFanoutTables(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, subs int, p99, cpu float64, missing uint64) string {
		d := filepath.Join(dir, name)
		os.MkdirAll(d, 0o755)
		b, _ := json.Marshal(fanout.Result{Label: name, Subscribers: subs, Asked: subs, Trades: 100,
			Latency: perf.Percentiles{P50: p99 / 2, P99: p99, P999: p99 * 1.2, Max: p99 * 2},
			Verdict: fanout.Verdict{Missing: missing}, ServerCPU: cpu, ServerWrites: 0.5, ServerRSSSub: 12.5})
		os.WriteFile(filepath.Join(d, "fanout.json"), b, 0o644)
		return d
	}
	manifest := strings.Join([]string{
		"1000\tringexd\tringexd\t1\t0\t" + write("r", 1000, 25_000, 1.0, 0),
		"1000\tnaive\tnaive\t1\t0\t" + write("n", 1000, 26_000, 0.9, 0),
		"1000\tcoalesce 5ms\tcoalesce\t1\t0\t" + write("c5", 1000, 19_000, 0.7, 0),
		"1000\tcoalesce 10ms\tcoalesce\t1\t0\t" + write("c10", 1000, 16_000, 0.5, 0),
		"100\tringexd\tringexd\t1\t1\t" + write("r100", 100, 1_400, 2.0, 3),
		"100\tnaive\tnaive\t1\t0\t" + write("n100", 100, 1_000, 1.0, 0),
		// Three runs of a server: the medians, and the p99's range.
		"10\tringexd\tringexd\t1\t0\t" + write("r10a", 10, 900, 3.0, 0),
		"10\tringexd\tringexd\t2\t0\t" + write("r10b", 10, 2_000, 9.0, 0),
		"10\tringexd\tringexd\t3\t0\t" + write("r10c", 10, 1_000, 4.0, 0),
		"10\tnaive\tnaive\t1\t0\t" + write("n10", 10, 500, 2.0, 0),
	}, "\n")
	var out bytes.Buffer
	if err := fanoutTables(strings.NewReader(manifest), &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| 100 | 700 us / 1.40 ms / 1.68 ms / 2.80 ms | 1.00 ms | - | **1.40x** | 2.00 us | 1.00 us (naive) | **2.00x** | 12.5 KiB | 3, 0 (1 runs FAILED) |",
		"| 1000 | 12.50 ms / 25.00 ms / 30.00 ms / 50.00 ms | 26.00 ms | 16.00 ms (10ms) | **1.56x** | 1.00 us | 0.50 us (coalesce 10ms) | **2.00x** | 12.5 KiB | 0, 0 |",
		"| 10 | 500 us / 1.00 ms (900 us-2.00 ms) / 1.20 ms / 2.00 ms | 500 us | - | **2.00x** | 4.00 us | 2.00 us (naive) | **2.00x** |",
		"| 100 | ringexd | 1 | 100 |",
		"| 10 | ringexd | 3 | 100 |",
		"FAILED: run 1: lost, reordered or errors |",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("tables lack\n%s\n---\n%s", want, out.String())
		}
	}
	if strings.Index(out.String(), "| 100 |") > strings.Index(out.String(), "| 1000 |") {
		t.Errorf("rows not in increasing subscribers:\n%s", out.String())
	}
}
