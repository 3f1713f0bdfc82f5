package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ringex/ringex/netio/orderentry"
	"github.com/ringex/ringex/perf/fanout"
)

// startFloorProcess starts ringex-load -fanout-floor in its own process on
// free loopback ports and returns its market-data and admin addresses and
// its pid.
func startFloorProcess(t *testing.T, bin string, args ...string) (md, admin string, pid int) {
	t.Helper()
	md, admin = freeAddr(t), freeAddr(t)
	pid = startProcess(t, "the floor", true, admin, filepath.Join(bin, "ringex-load"), append([]string{"-fanout-floor", md, "-admin", admin}, args...)...)
	return md, admin, pid
}

// runFanout runs ringex-load -fanout with args and returns its result.
func runFanout(t *testing.T, bin string, timeout time.Duration, args ...string) *fanout.Result {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out")
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "ringex-load"), append(args, "-quiet", "-out", out, "-json")...)
	stdout, err := cmd.CombinedOutput()
	t.Logf("ringex-load %s:\n%s", strings.Join(args, " "), stdout)
	if err != nil {
		t.Fatalf("ringex-load: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(out, "fanout.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res fanout.Result
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	return &res
}

// TestFanoutSmoke: ringex-load -fanout against a real ringexd (trades made
// by crossing orders) and against a floor in its own process: every
// subscriber gets every trade, in order, and the server's costs are read.
func TestFanoutSmoke(t *testing.T) {
	bin := t.TempDir()
	buildBinaries(t, bin)
	t.Run("ringexd", func(t *testing.T) {
		addr, md, admin := startServer(t, bin)
		res := runFanout(t, bin, time.Minute, "-fanout", "20", "-trade-rate", "200", "-duration", "1s",
			"-addr", addr, "-md", md, "-admin", admin)
		if !res.OK() || res.Trades != 200 || res.Deliveries != 20*200 || res.Latency.Count != 20*200 {
			t.Fatalf("trades %d, deliveries %d, verdict %+v, errors %v", res.Trades, res.Deliveries, res.Verdict, res.Errors)
		}
	})
	t.Run("floor", func(t *testing.T) {
		md, admin, pid := startFloorProcess(t, bin, "-floor-mode", "coalesce", "-floor-window", "2ms")
		res := runFanout(t, bin, time.Minute, "-fanout", "20", "-fanout-target", "floor", "-trade-rate", "200",
			"-duration", "1s", "-md", md, "-admin", admin, "-pid", fmt.Sprint(pid), "-fanout-readers", "goroutines")
		if !res.OK() || res.Trades != 200 || res.Deliveries != 20*200 || res.ServerCPU < 0 || res.ServerWrites <= 0 {
			t.Fatalf("trades %d, deliveries %d, server writes %.3f per delivery, verdict %+v, errors %v",
				res.Trades, res.Deliveries, res.ServerWrites, res.Verdict, res.Errors)
		}
	})
}

// TestFanoutSoak (RINGEX_SOAK=1) connects 10,000 subscribers to a real
// ringexd, or as many as the descriptor limit allows (ringexd needs two
// per subscriber after 256 and two per order-entry connection it allows;
// the test says how many it used), and checks that each received every trade of 10 s at 1,000
// trades/s, in order.
func TestFanoutSoak(t *testing.T) {
	if os.Getenv("RINGEX_SOAK") == "" {
		t.Skip("RINGEX_SOAK=1: 10,000 subscribers of a real ringexd")
	}
	n := 10000
	lim, err := raiseFileLimit()
	if err != nil {
		t.Log(err)
	}
	reserve := 256 + 2*orderentry.DefaultMaxConns + 64
	if max := (int(lim) - reserve) / 2; max < n {
		t.Logf("the descriptor limit is %d: %d subscribers instead of %d (raise the hard limit to about %d for all of them)", lim, max, n, 2*n+reserve)
		n = max
	}
	t.Logf("%d subscribers", n)
	bin := t.TempDir()
	buildBinaries(t, bin)
	addr, md, admin := startServer(t, bin)
	res := runFanout(t, bin, 5*time.Minute, "-fanout", fmt.Sprint(n), "-trade-rate", "1000", "-duration", "10s",
		"-drain", "60s", "-addr", addr, "-md", md, "-admin", admin)
	if !res.OK() || res.Subscribers != n || res.Trades != 10000 || res.Deliveries != int64(n)*10000 {
		t.Fatalf("%d subscribers, trades %d, deliveries %d, verdict %+v, errors %v",
			res.Subscribers, res.Trades, res.Deliveries, res.Verdict, res.Errors)
	}
}
