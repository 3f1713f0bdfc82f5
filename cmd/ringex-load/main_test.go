package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ringex/ringex/client"
	"github.com/ringex/ringex/netio/wire"
	"github.com/ringex/ringex/perf"
)

func TestParseFlags(t *testing.T) {
	c, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.mode != "open" || c.rate != 10000 || c.depth != 0 || c.duration != 10*time.Second || c.sessions != 4 ||
		len(c.users) != 2 || c.users[0] != (userKey{"alice", "alice-demo-key"}) || c.users[1] != (userKey{"bob", "bob-demo-key"}) ||
		strings.Join(c.assets, ",") != "BTC-USD,ETH-USD,SOL-USD" || c.addr != "127.0.0.1:7001" || c.md != "127.0.0.1:7002" || c.admin != "127.0.0.1:7003" {
		t.Fatalf("defaults: %+v", c)
	}
	c, err = parseFlags([]string{"-rate", "0", "-users", "carol:k1, load:k2", "-mix", "limit=100"}, io.Discard)
	if err != nil || c.mode != "max" || c.depth != 64 || c.users[1] != (userKey{"load", "k2"}) || c.mix != (perf.Mix{}) {
		t.Fatalf("-rate 0: %+v, %v", c, err)
	}
	for _, bad := range [][]string{
		{"-duration", "0"}, {"-duration", "2h"}, {"-conns", "0"}, {"-mode", "closed"}, {"-users", "alice"},
		{"-mix", "cancel=200"}, {"-assets", ","}, {"-depth", "-1"}, {"-tick", "-1ms"}, {"-tick", "2s"}, {"stray"},
		{"-fanout", "-1"}, {"-fanout-target", "echo"}, {"-trade-rate", "0"}, {"-floor-mode", "fast"},
		{"-floor-window", "-1ms"}, {"-floor-window", "2s"}, {"-fanout-readers", "threads"},
	} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestAssetParams(t *testing.T) {
	all := []client.Asset{
		{Symbol: "BTC-USD", TickSize: 50, LotSize: 1, MinPrice: 50, MaxPrice: 100000000000, MaxQty: 100000000},
		{Symbol: "TINY", TickSize: 1, LotSize: 10, MinPrice: 1, MaxPrice: 100, MaxQty: 30},
		{Symbol: "NARROW", TickSize: 1, LotSize: 1, MinPrice: 10, MaxPrice: 20, MaxQty: 5},
	}
	ps, err := assetParams(all, []string{"BTC-USD", "TINY"}, 20)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range ps {
		a := all[i]
		lo, hi := p.Mid-p.SpreadTicks*p.Tick, p.Mid+p.SpreadTicks*p.Tick
		if p.Mid%a.TickSize != 0 || lo < a.MinPrice || hi > a.MaxPrice || p.MaxLots*p.Lot > a.MaxQty || p.MaxLots < 1 {
			t.Errorf("%s: %+v does not fit %+v", a.Symbol, p, a)
		}
	}
	if ps[0].Mid != 50+100000*50 || ps[1].MaxLots != 3 {
		t.Errorf("params %+v", ps)
	}
	if _, err := assetParams(all, []string{"NARROW"}, 20); err == nil {
		t.Error("a band narrower than the spread was accepted")
	}
	if _, err := assetParams(all, []string{"DOGE"}, 20); err == nil {
		t.Error("an asset the server lacks was accepted")
	}
}

func TestIDSpace(t *testing.T) {
	s, other := idSpace{run: 0xbeef}, idSpace{run: 0xbeee}
	for _, tc := range []struct {
		k int
		n uint64
	}{{0, 1}, {7, 12345}, {65535, 1<<32 - 1}} {
		id := s.id(tc.k, tc.n)
		k, n, ok := s.parse(id)
		if !ok || k != tc.k || n != tc.n {
			t.Errorf("id(%d, %d) = %#x parses as %d, %d, %v", tc.k, tc.n, id, k, n, ok)
		}
		if _, _, ok := other.parse(id); ok {
			t.Errorf("another run's id %#x was taken", id)
		}
	}
	for k := range perf.KindReplace + 1 {
		for a := range maxAssets {
			if gk, ga := untag(tag(k, a)); gk != k || ga != a {
				t.Fatalf("tag(%v, %d) comes back as %v, %d", k, a, gk, ga)
			}
		}
	}
}

// stallServer speaks just enough of the order-entry protocol: it accepts
// any login and acks every request, but sits for stall on the stallAfter-th
// one (and so everything behind it waits too).
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
		r, w := bufio.NewReader(c), bufio.NewWriter(c)
		n := 0
		var buf []byte
		for {
			hdr, err := r.Peek(2)
			if err != nil {
				return
			}
			f := make([]byte, 2+(int(hdr[0])<<8|int(hdr[1])))
			if _, err := io.ReadFull(r, f); err != nil {
				return
			}
			var id uint64
			switch wire.Type(f) {
			case wire.TypeLogin:
				buf = wire.AppendLoginAccepted(buf[:0], &wire.LoginAccepted{UserID: 1})
			case wire.TypeNewOrder:
				var m wire.NewOrder
				wire.DecodeNewOrder(f, &m)
				id = m.ClientOrderID
			case wire.TypeCancel:
				var m wire.Cancel
				wire.DecodeCancel(f, &m)
				id = m.ClientOrderID
			case wire.TypeReplace:
				var m wire.Replace
				wire.DecodeReplace(f, &m)
				id = m.ClientOrderID
			default:
				continue
			}
			if id != 0 {
				if n++; n == stallAfter {
					time.Sleep(stall)
				}
				buf = wire.AppendOrderAck(buf[:0], &wire.OrderAck{ClientOrderID: id, OrderID: uint64(n), Seq: uint64(n)})
			}
			w.Write(buf)
			if r.Buffered() == 0 && w.Flush() != nil {
				return
			}
		}
	}()
	return ln.Addr().String()
}

// TestSessionStall drives the load session, as ringex-load does, against
// a server that stalls 100 ms: the stall must reach the ack latency tail
// of the orders scheduled during it, and acked limit orders must become
// cancel and replace targets.
//
// A test process the machine deschedules (a loaded CI box under -race) is
// charged like a stalled server, and can lift one run's median past
// 20 ms; a stall that leaks into the median does so on every run. So the
// median must stay clear of the stall on one of five runs, and every
// other check holds on each (as perf's TestStallShowsInTail).
func TestSessionStall(t *testing.T) {
	const attempts = 5
	for try := 1; ; try++ {
		ack := sessionStall(t)
		if ack.P50 <= 20_000 {
			return
		}
		if try == attempts {
			t.Fatalf("ack latency %+v in the last of %d runs: the 100 ms stall is in the median", ack, attempts)
		}
		t.Logf("run %d: ack latency %+v: the median is over 20 ms; running again", try, ack)
	}
}

// sessionStall runs TestSessionStall's scenario once and returns the ack
// latencies, having checked all but their median.
func sessionStall(t *testing.T) perf.Percentiles {
	t.Helper()
	params := []perf.AssetParams{{Symbol: "BTC-USD", Tick: 1, Lot: 1, Mid: 100, SpreadTicks: 1, MaxLots: 1}}
	lr := &loadRun{run: perf.NewRun(time.Now()), ids: idSpace{run: 7}, params: params, syms: []wire.Symbol{wire.MakeSymbol("BTC-USD")}}
	ls := newSession(lr, 0, "u", lr.run.NewTracker(nil), perf.NewGenerator(perf.Mix{Cancel: 20, Replace: 20}, params, 1))
	lr.sessions = []*loadSession{ls}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ls.dial(ctx, stallServer(t, 100, 100*time.Millisecond), "k", nil); err != nil {
		t.Fatal(err)
	}
	defer ls.close()
	read := make(chan error, 1)
	go func() { read <- perf.Drain(ls) }()
	start := time.Now().Add(5 * time.Millisecond)
	if _, err := perf.OpenLoop(ctx, []perf.Sender{ls}, []perf.Schedule{perf.NewSchedule(start, 1000, 1, 0)}, []*perf.Window{nil},
		start.Add(600*time.Millisecond), 0); err != nil {
		t.Fatal(err)
	}
	for lr.run.Counts(false).InFlight() > 0 && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	res := lr.run.Result("open-loop", 1000, 600*time.Millisecond)
	if !res.OK() || res.Acked != 600 {
		t.Fatalf("acked %d of %d: %q", res.Acked, res.Sent, res.Failures)
	}
	ack := lr.run.Ack.Summary()
	if ack.Max < 95_000 || ack.P90 < 20_000 {
		t.Fatalf("ack latency %+v: want the 100 ms stall in the tail (max over 95 ms, p90 over 20 ms)", ack)
	}
	ls.mu.Lock()
	pooled := len(ls.pool)
	ls.mu.Unlock()
	if pooled == 0 {
		t.Fatal("no acked limit order became a cancel or replace target")
	}
	ls.close()
	if err := <-read; !errors.Is(err, errClosed) {
		t.Fatalf("reader ended with %v, want errClosed", err)
	}
	return ack
}
