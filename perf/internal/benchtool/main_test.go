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
		Latencies: []perf.Percentiles{{Name: "ack", P50: 87.4, P99: 1520, P999: 2300000, P9999: 2400000, Max: 2500000}, {Name: "order-to-fill", P99: 900}}})
	os.WriteFile(filepath.Join(ok, "summary.json"), b, 0o644)
	manifest := "off-10k\toff\t0\t" + ok + "\nalways-max\talways\t1\t" + filepath.Join(dir, "missing") + "\n"
	var out bytes.Buffer
	if err := table(strings.NewReader(manifest), &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| off-10k | off | 10000 | 9999 | 100000 | 3 | 0 | 87 us | 1.52 ms | 2.30 s | 2.40 s | 2.50 s | 900 us | - | - | passed |",
		"| always-max | always | | | | | | | | | | | | | | no result (exit 1) |",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks\n%s\n---\n%s", want, out.String())
		}
	}
	if err := table(strings.NewReader("bad line\n"), &out); err == nil {
		t.Fatal("a bad manifest line was accepted")
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
