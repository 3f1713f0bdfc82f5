package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ringex/ringex/client"
	"github.com/ringex/ringex/netio/wire"
	"github.com/ringex/ringex/perf"
)

// stallServer acks every order, except that it stops answering for stall
// once, after the first stallAfter orders.
func stallServer(t *testing.T, stallAfter int, stall time.Duration) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		var n atomic.Int64
		for {
			hdr := make([]byte, 2)
			if _, err := io.ReadFull(r, hdr); err != nil {
				return
			}
			f := make([]byte, 2+(int(hdr[0])<<8|int(hdr[1])))
			copy(f, hdr)
			if _, err := io.ReadFull(r, f[2:]); err != nil {
				return
			}
			switch wire.Type(f) {
			case wire.TypeLogin:
				c.Write(wire.AppendLoginAccepted(nil, &wire.LoginAccepted{UserID: 1}))
			case wire.TypeNewOrder:
				var m wire.NewOrder
				wire.DecodeNewOrder(f, &m)
				if n.Add(1) == int64(stallAfter) {
					time.Sleep(stall)
				}
				c.Write(wire.AppendOrderAck(nil, &wire.OrderAck{ClientOrderID: m.ClientOrderID, OrderID: 1, Seq: uint64(n.Load())}))
			}
		}
	}()
	return ln.Addr().String()
}

// TestStallShowsInTail: a server that stalls 100 ms must show up in the
// ack latency tail, because orders scheduled during the stall are charged
// from their intended send time.
func TestStallShowsInTail(t *testing.T) {
	addr := stallServer(t, 100, 100*time.Millisecond)
	st := newStats()
	params := []perf.AssetParams{{Symbol: "X", Tick: 1, Lot: 1, Mid: 100, SpreadTicks: 1, MaxLots: 1}}
	ls := &loadSession{st: st, gen: perf.NewGenerator(perf.Mix{}, params, 1), params: params}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := client.Dial(ctx, addr, "u", "k", ls)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ls.s = s
	start := time.Now()
	ls.openLoop(ctx, perf.NewSchedule(start, 1000, 1, 0), start.Add(600*time.Millisecond))
	for st.inFlight() > 0 && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	sum := st.ack.Summary()
	if sum.Count < 550 {
		t.Fatalf("only %d acks", sum.Count)
	}
	// About 100 of 600 orders were due during the stall: the p90 and the
	// max must carry it, not just the one order the server sat on.
	if sum.Max < 90_000 {
		t.Fatalf("max %.0f us: the 100 ms stall does not show", sum.Max)
	}
	if sum.P90 < 10_000 {
		t.Fatalf("p90 %.0f us: the stall was charged to too few orders (coordinated omission)", sum.P90)
	}
	if sum.P50 > 50_000 {
		t.Fatalf("p50 %.0f us: the stall leaked into the median", sum.P50)
	}
}

// TestSmoke runs ringexd and ringex-load for real, briefly.
func TestSmoke(t *testing.T) {
	dir := t.TempDir()
	for _, b := range []string{"ringexd", "ringex-load"} {
		out, err := exec.Command("go", "build", "-o", filepath.Join(dir, b), "../"+b).CombinedOutput()
		if err != nil {
			t.Fatalf("build %s: %v\n%s", b, err, out)
		}
	}
	port := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().String()
	}
	addr, md, admin := port(), port(), port()
	srv := exec.Command(filepath.Join(dir, "ringexd"), "-data", filepath.Join(dir, "data"), "-sync", "off",
		"-listen", addr, "-md-listen", md, "-admin", admin, "-loops", "1")
	var log strings.Builder
	srv.Stderr = &log
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		srv.Process.Signal(os.Interrupt)
		srv.Wait()
	}()
	for i := 0; ; i++ {
		if c, err := net.Dial("tcp", admin); err == nil {
			c.Close()
			break
		}
		if i > 400 {
			t.Fatalf("ringexd did not start:\n%s", log.String())
		}
		time.Sleep(25 * time.Millisecond)
	}
	out, err := exec.Command(filepath.Join(dir, "ringex-load"), "-addr", addr, "-md", md, "-admin", admin,
		"-rate", "500", "-duration", "2s", "-conns", "2", "-subs", "2", "-quiet", "-out", filepath.Join(dir, "out"), "-json").CombinedOutput()
	if err != nil {
		t.Fatalf("ringex-load: %v\n%s\nserver log:\n%s", err, out, log.String())
	}
	if !strings.Contains(string(out), "lost 0") {
		t.Fatalf("unexpected summary:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "out", "summary.json")); err != nil {
		t.Fatal(err)
	}
}
