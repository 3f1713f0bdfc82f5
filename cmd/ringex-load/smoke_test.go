package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ringex/ringex/internal/testproc"
	"github.com/ringex/ringex/perf"
)

// freeAddr returns a loopback address for a server process to listen on,
// reserved for the test (see internal/testproc: a port released by
// 127.0.0.1:0 can be taken by a parallel test before the child binds it).
func freeAddr(t *testing.T) string {
	t.Helper()
	return testproc.Addr(t)
}

// buildBinaries builds ringexd and ringex-load into dir.
func buildBinaries(t *testing.T, dir string) {
	t.Helper()
	if _, err := os.Stat("../ringexd/main.go"); err != nil {
		t.Skip("cmd/ringexd does not exist yet: no server to run against")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "build", "-o", dir+string(filepath.Separator), "../ringexd", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
}

// startServer starts ringexd on free loopback ports and a fresh data
// directory, and waits until its admin endpoint answers.
func startServer(t *testing.T, bin string) (addr, md, admin string) {
	t.Helper()
	addr, md, admin = freeAddr(t), freeAddr(t), freeAddr(t)
	startProcess(t, "ringexd", false, admin, filepath.Join(bin, "ringexd"), "-data", t.TempDir(), "-sync", "off",
		"-listen", addr, "-md-listen", md, "-admin", admin, "-log-level", "warn")
	return addr, md, admin
}

// startProcess starts path with args, stops it with SIGINT at the test's
// end (killing it after 10s, an error; with cleanExit a non-zero exit is an
// error too), waits until its admin endpoint answers (the test fails if it
// exits first or does not answer within 20s) and returns its pid.
func startProcess(t *testing.T, name string, cleanExit bool, admin, path string, args ...string) int {
	t.Helper()
	cmd := exec.Command(path, args...)
	log := new(testproc.Output)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-exited:
			if cleanExit && err != nil {
				t.Errorf("%s exited with %v on SIGINT:\n%s", name, err, log.String())
			}
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
			t.Errorf("%s did not stop on SIGINT within 10s", name)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	hc := http.Client{Timeout: time.Second}
	for {
		if resp, err := hc.Get("http://" + admin + "/assets"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return cmd.Process.Pid
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("%s exited: %v\n%s", name, err, log.String())
		case <-ctx.Done():
			t.Fatalf("%s did not come up within 20s:\n%s", name, log.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestSmoke runs ringex-load against a real ringexd for a few seconds at
// a small rate: the run must pass its own checks and report what it sent.
func TestSmoke(t *testing.T) {
	bin := t.TempDir()
	buildBinaries(t, bin)
	addr, md, admin := startServer(t, bin)
	out := filepath.Join(t.TempDir(), "out")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "ringex-load"), "-addr", addr, "-md", md, "-admin", admin,
		"-rate", "500", "-duration", "2500ms", "-conns", "2", "-subs", "2", "-quiet", "-out", out, "-json")
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("ringex-load: %v\n%s", err, stdout)
	}
	t.Logf("ringex-load:\n%s", stdout)
	for _, want := range []string{"open loop at 500 orders/s, 2 sessions, 2 subscribers", "lost 0, duplicates 0", "checks passed"} {
		if !strings.Contains(string(stdout), want) {
			t.Errorf("summary lacks %q", want)
		}
	}
	var res perf.Result
	b, err := os.ReadFile(filepath.Join(out, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	// 2.5 s at 500/s is 1250 requests, to the schedule.
	if res.Sent != 1250 || res.Acked+res.Rejected != res.Sent || res.Lost != 0 || !res.OK() {
		t.Errorf("sent %d, acked %d, rejected %d, lost %d, failures %q", res.Sent, res.Acked, res.Rejected, res.Lost, res.Failures)
	}
	if res.Trades == 0 || res.Fills != 2*res.Trades {
		t.Errorf("%d trades, %d fills: the default mix trades, and both sides are ours", res.Trades, res.Fills)
	}
	counts := map[string]int64{}
	for _, p := range res.Latencies {
		counts[p.Name] = p.Count
	}
	if counts["ack"] != res.Acked || counts["trade-delivery"] != 2*res.Trades || counts["order-to-fill"] == 0 {
		t.Errorf("latency counts %v for %d acks and %d trades", counts, res.Acked, res.Trades)
	}
	for _, f := range []string{"ack.hgrm", "order-to-fill.hgrm", "trade-delivery.hgrm", "latency.png"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s not written: %v", f, err)
		}
	}
}

// TestNoServer: without a server the tool says so and exits non-zero.
func TestNoServer(t *testing.T) {
	bin := t.TempDir()
	buildBinaries(t, bin)
	admin := freeAddr(t)
	out, err := exec.Command(filepath.Join(bin, "ringex-load"), "-admin", admin, "-addr", freeAddr(t), "-md", freeAddr(t),
		"-duration", "1s").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "is ringexd running") {
		t.Fatalf("ringex-load without a server: %v\n%s", err, out)
	}
}
