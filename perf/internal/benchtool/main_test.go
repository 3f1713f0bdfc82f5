package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ringex/ringex/perf"
)

func TestTable(t *testing.T) {
	dir := t.TempDir()
	ok := filepath.Join(dir, "ok")
	os.MkdirAll(ok, 0o755)
	b, _ := json.Marshal(perf.Result{Mode: "open-loop", TargetRate: 10000, Rate: 9998.7, Sent: 100000, Rejected: 3,
		Latencies: []perf.Percentiles{{Name: "ack", P50: 87.4, P99: 1520, P999: 2300000, P9999: 2400000, Max: 2500000}, {Name: "order-to-fill", P99: 900}},
		Server:    &perf.Costs{CPUMicros: 1.25, Syscalls: 0.05, CtxSwitches: 0.01}, Generator: perf.Costs{CPUMicros: 0.31}})
	os.WriteFile(filepath.Join(ok, "summary.json"), b, 0o644)
	manifest := "off-10k\toff\t0\t" + ok + "\nalways-max\talways\t1\t" + filepath.Join(dir, "missing") + "\n"
	var out bytes.Buffer
	if err := table(strings.NewReader(manifest), &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| off-10k | off | 10000 | 9999 | 100000 | 3 | 0 | 87 us | 1.52 ms | 2.30 s | 2.40 s | 2.50 s | 900 us | - | - | 1.25 us | 0.050 | 0.010 | 0.31 us | passed |",
		"| always-max | always | | | | | | | | | | | | | | | | | | no result (exit 1) |",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks\n%s\n---\n%s", want, out.String())
		}
	}
	if err := table(strings.NewReader("bad line\n"), &out); err == nil {
		t.Fatal("a bad manifest line was accepted")
	}
}

// TestCompare: per configuration and server, the median of the
// repetitions with their range, and the ratio of each median to the
// echo's; a failed run is named.
func TestCompare(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, rate, p50, cpu float64, failures ...string) string {
		d := filepath.Join(dir, name)
		os.MkdirAll(d, 0o755)
		b, _ := json.Marshal(perf.Result{Mode: "max-throughput", Rate: rate, Failures: failures,
			Latencies: []perf.Percentiles{{Name: "ack", P50: p50}}, Server: &perf.Costs{CPUMicros: cpu, Syscalls: 0.05}})
		os.WriteFile(filepath.Join(d, "summary.json"), b, 0o644)
		return d
	}
	manifest := strings.Join([]string{
		"max\techo\t1\t0\t" + write("e1", 2_000_000, 100, 0.3),
		"max\techo\t2\t0\t" + write("e2", 2_400_000, 120, 0.3),
		"max\techo\t3\t0\t" + write("e3", 2_200_000, 110, 0.3),
		"max\toff\t1\t0\t" + write("o1", 500_000, 300, 1.2),
		"max\toff\t2\t1\t" + write("o2", 600_000, 500, 1.5, "1 requests never answered"),
		"max\toff\t3\t0\t" + write("o3", 550_000, 400, 0.9),
	}, "\n")
	var out bytes.Buffer
	if err := compare(strings.NewReader(manifest), &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| max | echo | 3 | 2200 k (2000 k-2400 k) | 110 us (100 us-120 us) |",
		"| max | off | 3 | 550 k (500 k-600 k) **0.25x** | 400 us (300 us-500 us) **3.64x** |",
		"1.20 us (0.90 us-1.50 us) **4.00x**",
		"FAILED: run 2: exit 1 |",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("comparison lacks\n%s\n---\n%s", want, out.String())
		}
	}
}

func TestPortsAndWait(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"ports", "3"}, &out); err != nil {
		t.Fatal(err)
	}
	addrs := strings.Fields(out.String())
	if len(addrs) != 3 || addrs[0] == addrs[1] || addrs[1] == addrs[2] || !strings.HasPrefix(addrs[0], "127.0.0.1:") {
		t.Fatalf("ports: %q", addrs)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	if err := run([]string{"wait", srv.URL, "2s"}, &out); err != nil {
		t.Fatal(err)
	}
	if err := run([]string{"wait", "http://" + addrs[0] + "/", "200ms"}, &out); err == nil {
		t.Fatal("wait succeeded with nothing listening")
	}
}
