package main

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ringex/ringex/netio/wire"
)

// These tests hold a real ringexd to docs/protocol.md the way a client
// written from the document alone would: raw frames over TCP, byte
// layouts from the spec, no code of the client package. Each one pins a
// difference found by such a client (issue 12).

// rawConn is one TCP connection speaking the protocol frame by frame.
type rawConn struct {
	t   *testing.T
	c   net.Conn
	buf []byte
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c}
}

func (r *rawConn) send(frames ...[]byte) {
	r.t.Helper()
	var b []byte
	for _, f := range frames {
		b = append(b, f...)
	}
	if _, err := r.c.Write(b); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

// sendHex sends bytes written as hex with any spacing, as the issue
// quotes them.
func (r *rawConn) sendHex(h string) {
	r.t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(h), ""))
	if err != nil {
		r.t.Fatal(err)
	}
	r.send(b)
}

// frame returns the next frame, heartbeats included, or nil at EOF; it
// fails the test if nothing comes within d.
func (r *rawConn) frame(d time.Duration) []byte {
	r.t.Helper()
	r.c.SetReadDeadline(time.Now().Add(d))
	for {
		f, n, err := wire.NextFrame(r.buf, wire.MaxFrame)
		if err != nil {
			r.t.Fatalf("bad frame from the server: %v", err)
		}
		if n > 0 {
			out := append([]byte(nil), f...)
			r.buf = r.buf[n:]
			return out
		}
		var tmp [4096]byte
		k, err := r.c.Read(tmp[:])
		r.buf = append(r.buf, tmp[:k]...)
		if errors.Is(err, io.EOF) && k == 0 {
			return nil
		}
		if err != nil && k == 0 {
			r.t.Fatalf("read: %v", err)
		}
	}
}

// next returns the next frame that is not a heartbeat.
func (r *rawConn) next() []byte {
	r.t.Helper()
	for {
		f := r.frame(5 * time.Second)
		if f == nil {
			r.t.Fatal("connection closed")
		}
		if wire.Type(f) != wire.TypeHeartbeat {
			return f
		}
	}
}

// until returns the first frame, skipping others, for which ok is true.
func (r *rawConn) until(what string, ok func([]byte) bool) []byte {
	r.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if f := r.next(); ok(f) {
			return f
		}
	}
	r.t.Fatalf("no %s within 5 s", what)
	return nil
}

func (r *rawConn) wantType(f []byte, typ byte) {
	r.t.Helper()
	if wire.Type(f) != typ {
		r.t.Fatalf("got frame %q (% x), want %q", wire.Type(f), f, typ)
	}
}

// wantReject reads the next frame and requires a Reject with cid and code.
func (r *rawConn) wantReject(cid uint64, code uint16) {
	r.t.Helper()
	f := r.next()
	var m wire.Reject
	if err := wire.DecodeReject(f, &m); err != nil || m.ClientOrderID != cid || m.Reason != code {
		r.t.Fatalf("got % x (%+v, %v), want Reject cid %d code %d", f, m, err, cid, code)
	}
}

// wantLogout reads the next frame, requires Logout with reason, then EOF.
func (r *rawConn) wantLogout(reason uint16) {
	r.t.Helper()
	f := r.next()
	if code, err := wire.DecodeLogout(f); err != nil || wire.Type(f) != wire.TypeLogout || code != reason {
		r.t.Fatalf("got % x, want Logout %d", f, reason)
	}
	for {
		f := r.frame(5 * time.Second)
		if f == nil {
			return
		}
		r.t.Fatalf("frame % x after the Logout", f)
	}
}

func loginFrame(user, key string) []byte {
	m := wire.Login{Version: wire.Version}
	m.SetUser(user)
	m.SetKey(key)
	return wire.AppendLogin(nil, &m)
}

func (r *rawConn) login(user string) {
	r.t.Helper()
	r.send(loginFrame(user, user+"-demo-key"))
	r.wantType(r.next(), wire.TypeLoginAccepted)
}

// order sends a NewOrder and returns the exchange order id of its ack.
func (r *rawConn) order(m wire.NewOrder) uint64 {
	r.t.Helper()
	r.send(wire.AppendNewOrder(nil, &m))
	f := r.next()
	var ack wire.OrderAck
	if err := wire.DecodeOrderAck(f, &ack); err != nil || ack.ClientOrderID != m.ClientOrderID {
		r.t.Fatalf("NewOrder %+v: got % x, want its OrderAck", m, f)
	}
	return ack.OrderID
}

// cancel sends a Cancel and waits for its ack.
func (r *rawConn) cancel(cid uint64, sym string, id uint64) {
	r.t.Helper()
	r.send(wire.AppendCancel(nil, &wire.Cancel{ClientOrderID: cid, Symbol: wire.MakeSymbol(sym), OrderID: id}))
	r.wantType(r.next(), wire.TypeOrderAck)
}

// use makes conns report failures to t, a subtest of the test that
// dialed them.
func use(t *testing.T, conns ...*rawConn) {
	for _, c := range conns {
		c.t = t
	}
}

func (r *rawConn) subscribe(sym string, channels uint8) wire.Subscribed {
	r.t.Helper()
	r.send(wire.AppendSubscribe(nil, &wire.Subscribe{Symbol: wire.MakeSymbol(sym), Channels: channels}))
	var m wire.Subscribed
	if err := wire.DecodeSubscribed(r.next(), &m); err != nil {
		r.t.Fatalf("Subscribe %s %d: %v", sym, channels, err)
	}
	return m
}

// event waits for the next OrderEvent of order id.
func (r *rawConn) event(id uint64) wire.OrderEvent {
	r.t.Helper()
	var e wire.OrderEvent
	r.until("order event", func(f []byte) bool {
		return wire.DecodeOrderEvent(f, &e) == nil && e.OrderID == id
	})
	return e
}

func wantEvent(t *testing.T, e wire.OrderEvent, kind, reason uint8, qty, remaining int64) {
	t.Helper()
	if e.Kind != kind || e.Reason != reason || e.Qty != qty || e.Remaining != remaining {
		t.Fatalf("order event %+v: want kind %d reason %d quantity %d remaining %d", e, kind, reason, qty, remaining)
	}
}

func ord(cid uint64, sym string, side, typ, tif, stp uint8, price, qty int64) wire.NewOrder {
	return wire.NewOrder{ClientOrderID: cid, Symbol: wire.MakeSymbol(sym), Side: side, Type: typ, TIF: tif, STP: stp, Price: price, Qty: qty}
}

const (
	buy, sell      = 1, 2
	lim, mkt       = 1, 2
	gtc, ioc, fok  = 1, 2, 3
	stpNone, stpDB = 0, 4 // no self-trade prevention; decrement both
)

// TestConformOrderEntry covers the order-entry session's rules.
func TestConformOrderEntry(t *testing.T) {
	s := startServer(t, t.TempDir())

	t.Run("malformed field keeps the client order id", func(t *testing.T) {
		c := dialRaw(t, s.addr)
		c.login("alice")
		// NewOrder cid 42, SOL-USD, post-only byte 2, then 255.
		c.sendHex("00 26 4f 000000000000002a 534f4c2d55534420 01 01 01 02 00 0000000000000064 0000000000000001")
		c.wantReject(42, wire.ReasonMalformed)
		c.sendHex("00 26 4f 000000000000002b 534f4c2d55534420 01 01 01 ff 00 0000000000000064 0000000000000001")
		c.wantReject(43, wire.ReasonMalformed)
	})

	t.Run("heartbeat and logout of a wrong length are 107 and the session goes on", func(t *testing.T) {
		c := dialRaw(t, s.addr)
		c.login("alice")
		c.sendHex("00 02 48 00") // Heartbeat with a body
		c.wantReject(0, wire.ReasonBadLength)
		c.sendHex("00 02 5a 00") // Logout with a 1-byte body
		c.wantReject(0, wire.ReasonBadLength)
		c.sendHex("00 04 5a 00 00 00") // Logout with a 3-byte body
		c.wantReject(0, wire.ReasonBadLength)
		c.order(ord(7, "SOL-USD", buy, lim, ioc, stpNone, 1, 1)) // still served
		c.sendHex("00 01 5a")                                    // an empty Logout is one
		c.wantLogout(wire.LogoutUserRequest)
	})

	t.Run("third failed login is LoginRejected 4 then Logout 6", func(t *testing.T) {
		for _, addr := range []string{s.addr, s.md} {
			c := dialRaw(t, addr)
			for _, want := range []uint16{wire.LoginBadCredentials, wire.LoginBadCredentials, wire.LoginRateLimited} {
				c.send(loginFrame("alice", "wrong"))
				f := c.next()
				if code, err := wire.DecodeLoginRejected(f); err != nil || code != want {
					t.Fatalf("%s: got % x, want LoginRejected %d", addr, f, want)
				}
			}
			c.wantLogout(wire.LogoutLoginFailures)
		}
	})

	t.Run("before login the login check comes before the length check", func(t *testing.T) {
		c := dialRaw(t, s.addr)
		c.sendHex("00 25 4f" + strings.Repeat(" 00", 36)) // a NewOrder with a 36-byte body
		c.wantReject(0, wire.ReasonNotLoggedIn)
		c.sendHex("00 01 71") // an unknown type ('q')
		c.wantReject(0, wire.ReasonNotLoggedIn)
		c.login("alice")
		c.sendHex("00 01 71")
		c.wantReject(0, wire.ReasonUnknownType)
		c.sendHex("00 25 4f" + strings.Repeat(" 00", 36))
		c.wantReject(0, wire.ReasonBadLength)
	})
}

// TestConformMatching covers the matcher's rules as the private feed
// reports them.
func TestConformMatching(t *testing.T) {
	s := startServer(t, t.TempDir())
	alice, bob := dialRaw(t, s.addr), dialRaw(t, s.addr)
	alice.login("alice")
	bob.login("bob")
	aliceFeed, bobFeed := dialRaw(t, s.md), dialRaw(t, s.md)
	aliceFeed.login("alice")
	bobFeed.login("bob")
	for _, sym := range []string{"SOL-USD", "ETH-USD"} {
		aliceFeed.subscribe(sym, wire.ChanOrders)
		bobFeed.subscribe(sym, wire.ChanOrders)
	}

	// Market FOK is all or nothing (docs/protocol.md, NewOrder).
	t.Run("market FOK", func(t *testing.T) {
		use(t, alice, bob, aliceFeed, bobFeed)
		ask := alice.order(ord(1, "SOL-USD", sell, lim, gtc, stpNone, 200, 10))
		wantEvent(t, aliceFeed.event(ask), wire.OrderAccepted, 0, 10, 10)
		id := bob.order(ord(2, "SOL-USD", buy, mkt, fok, stpNone, 0, 25))
		wantEvent(t, bobFeed.event(id), wire.OrderRejected, uint8(wire.ReasonFOKUnfillable), 25, 0)
		id = bob.order(ord(3, "SOL-USD", buy, mkt, fok, stpNone, 0, 10))
		wantEvent(t, bobFeed.event(id), wire.OrderFilled, 0, 10, 0)
		wantEvent(t, bobFeed.event(id), wire.OrderDone, 0, 0, 0)
		wantEvent(t, aliceFeed.event(ask), wire.OrderFilled, 0, 10, 0)
		// The ask side is empty now.
		id = bob.order(ord(4, "SOL-USD", buy, mkt, fok, stpNone, 0, 5))
		wantEvent(t, bobFeed.event(id), wire.OrderRejected, uint8(wire.ReasonFOKUnfillable), 5, 0)
		id = bob.order(ord(5, "SOL-USD", buy, mkt, ioc, stpNone, 0, 5))
		wantEvent(t, bobFeed.event(id), wire.OrderCanceled, uint8(wire.CancelMarketNoFill), 5, 0)
	})

	t.Run("market post-only is refused", func(t *testing.T) {
		use(t, alice, bob, aliceFeed, bobFeed)
		ask := alice.order(ord(10, "SOL-USD", sell, lim, gtc, stpNone, 300, 10))
		wantEvent(t, aliceFeed.event(ask), wire.OrderAccepted, 0, 10, 10)
		m := ord(11, "SOL-USD", buy, mkt, gtc, stpNone, 0, 5)
		m.PostOnly = true
		id := bob.order(m)
		wantEvent(t, bobFeed.event(id), wire.OrderRejected, uint8(wire.ReasonPostOnlyTake), 5, 0)
		alice.cancel(12, "SOL-USD", ask)
		wantEvent(t, aliceFeed.event(ask), wire.OrderCanceled, uint8(wire.CancelUser), 10, 0)
	})

	// A self-trade decrement that leaves an order live reports it as
	// reduced (kind 7), never canceled (kind 3).
	t.Run("STP decrement, maker larger", func(t *testing.T) {
		use(t, alice, bob, aliceFeed, bobFeed)
		maker := alice.order(ord(20, "ETH-USD", sell, lim, gtc, stpNone, 200, 100))
		wantEvent(t, aliceFeed.event(maker), wire.OrderAccepted, 0, 100, 100)
		taker := alice.order(ord(21, "ETH-USD", buy, lim, gtc, stpDB, 200, 60))
		wantEvent(t, aliceFeed.event(maker), wire.OrderReduced, uint8(wire.CancelSelfTrade), 60, 40)
		wantEvent(t, aliceFeed.event(taker), wire.OrderCanceled, uint8(wire.CancelSelfTrade), 60, 0)
		alice.cancel(22, "ETH-USD", maker)
		wantEvent(t, aliceFeed.event(maker), wire.OrderCanceled, uint8(wire.CancelUser), 40, 0)
	})
	t.Run("STP decrement, taker larger", func(t *testing.T) {
		use(t, alice, bob, aliceFeed, bobFeed)
		maker := alice.order(ord(30, "ETH-USD", sell, lim, gtc, stpNone, 300, 100))
		wantEvent(t, aliceFeed.event(maker), wire.OrderAccepted, 0, 100, 100)
		taker := alice.order(ord(31, "ETH-USD", buy, lim, gtc, stpDB, 300, 140))
		wantEvent(t, aliceFeed.event(maker), wire.OrderCanceled, uint8(wire.CancelSelfTrade), 100, 0)
		wantEvent(t, aliceFeed.event(taker), wire.OrderReduced, uint8(wire.CancelSelfTrade), 100, 40)
		wantEvent(t, aliceFeed.event(taker), wire.OrderAccepted, 0, 40, 40)
	})
}

// TestConformMarketData covers the market-data session's rules.
func TestConformMarketData(t *testing.T) {
	s := startServer(t, t.TempDir())

	t.Run("a trade's messages share its sequence", func(t *testing.T) {
		alice, bob := dialRaw(t, s.addr), dialRaw(t, s.addr)
		alice.login("alice")
		bob.login("bob")
		feed := dialRaw(t, s.md)
		feed.login("alice")
		feed.subscribe("BTC-USD", wire.ChanAll)
		// The BTC-USD tick is 50.
		a1 := alice.order(ord(1, "BTC-USD", sell, lim, gtc, stpNone, 100000, 5))
		a2 := alice.order(ord(2, "BTC-USD", sell, lim, gtc, stpNone, 100050, 2))
		bob.order(ord(3, "BTC-USD", buy, lim, gtc, stpNone, 100000, 2)) // one trade
		bob.order(ord(4, "BTC-USD", buy, lim, ioc, stpNone, 100050, 5)) // a sweep of both levels
		var (
			trades  []wire.Trade
			updates []wire.BookUpdate // of the ask side, after the rests
			fills   []wire.OrderEvent
			last    uint64
		)
		for done := false; !done; {
			f := feed.next()
			if seq := frameSeq(f); seq < last {
				t.Fatalf("sequence %d after %d: % x", seq, last, f)
			} else if seq > 0 {
				last = seq
			}
			switch wire.Type(f) {
			case wire.TypeTrade:
				var m wire.Trade
				wire.DecodeTrade(f, &m)
				trades = append(trades, m)
			case wire.TypeBookUpdate:
				var m wire.BookUpdate
				wire.DecodeBookUpdate(f, &m)
				if m.Side == sell && len(trades) > 0 {
					updates = append(updates, m)
				}
			case wire.TypeOrderEvent:
				var m wire.OrderEvent
				wire.DecodeOrderEvent(f, &m)
				if m.Kind == wire.OrderFilled {
					fills = append(fills, m)
				}
				done = m.OrderID == a2 && m.Kind == wire.OrderDone
			}
		}
		// Trades: 2@100000 (a1 left with 3), 3@100000, 2@100050. Each
		// level update carries the sequence of the trade that made it.
		want := []struct{ price, qty int64 }{{100000, 3}, {100000, 0}, {100050, 0}}
		if len(trades) != 3 || len(updates) != 3 || len(fills) != 3 {
			t.Fatalf("trades %+v\nask updates %+v\nalice's fills %+v", trades, updates, fills)
		}
		for i, w := range want {
			u, tr, fl := updates[i], trades[i], fills[i]
			if u.Price != w.price || u.Qty != w.qty || u.Seq != tr.Seq || fl.Seq != tr.Seq || fl.OrderID != []uint64{a1, a1, a2}[i] {
				t.Fatalf("trade %d %+v: ask update %+v (want %d@%d), fill %+v: all with the trade's sequence", i, tr, u, w.qty, w.price, fl)
			}
		}
	})

	t.Run("Subscribed reports the channels in force", func(t *testing.T) {
		c := dialRaw(t, s.md)
		if m := c.subscribe("ETH-USD", wire.ChanTrades); m.Channels != wire.ChanTrades {
			t.Fatalf("Subscribed %+v, want channels 1", m)
		}
		if m := c.subscribe("ETH-USD", wire.ChanBBO); m.Channels != wire.ChanTrades|wire.ChanBBO {
			t.Fatalf("Subscribed %+v, want channels 5", m)
		}
	})

	t.Run("Unsubscribe is never answered", func(t *testing.T) {
		c := dialRaw(t, s.md)
		c.send(wire.AppendUnsubscribe(nil, &wire.Unsubscribe{Symbol: wire.MakeSymbol("NOPE"), Channels: wire.ChanTrades}),
			wire.AppendUnsubscribe(nil, &wire.Unsubscribe{Symbol: wire.MakeSymbol("ETH-USD"), Channels: wire.ChanBook}))
		c.sendHex("00 02 48 00") // a marker: answered 107
		c.wantReject(0, wire.ReasonBadLength)
	})

	t.Run("heartbeat and logout of a wrong length are 107 and the session goes on", func(t *testing.T) {
		c := dialRaw(t, s.md)
		c.sendHex("00 02 48 00")
		c.wantReject(0, wire.ReasonBadLength)
		c.sendHex("00 02 5a 00")
		c.wantReject(0, wire.ReasonBadLength)
		c.subscribe("SOL-USD", wire.ChanTrades) // still served
		c.sendHex("00 03 5a 00 00")             // a 2-byte Logout
		c.wantLogout(wire.LogoutUserRequest)
	})
}

// frameSeq returns the event sequence a market-data message carries (at
// body offset 8, after the symbol, in every message that has one), or 0.
func frameSeq(f []byte) uint64 {
	switch wire.Type(f) {
	case wire.TypeTrade, wire.TypeBookUpdate, wire.TypeBBO, wire.TypeOrderEvent, wire.TypeBookSnapshot:
		return binary.BigEndian.Uint64(f[3+8:])
	}
	return 0
}

// TestConformMarketDataTimers: the market-data server follows -heartbeat,
// and -md-idle-timeout logs out a silent connection (docs/protocol.md,
// section 3) while one that sends heartbeats stays.
func TestConformMarketDataTimers(t *testing.T) {
	s := startServer(t, t.TempDir(), "-heartbeat", "300ms", "-md-idle-timeout", "1500ms")
	// The server's idle clock starts at its accept, which comes before
	// dialRaw returns: start the test's clock before the dial, or the
	// Logout can arrive a few microseconds "early" by it.
	start := time.Now()
	silent, alive := dialRaw(t, s.md), dialRaw(t, s.md)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(300 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				alive.c.Write(wire.AppendHeartbeat(nil))
			}
		}
	}()
	// The silent connection gets heartbeats about every 300 ms (the
	// server checks every 250 ms), then Logout 2 after 1.5 s of silence.
	beats := 0
	for {
		f := silent.frame(5 * time.Second)
		if f == nil {
			t.Fatal("closed without a Logout")
		}
		if wire.Type(f) == wire.TypeHeartbeat {
			beats++
			continue
		}
		if code, err := wire.DecodeLogout(f); err != nil || code != wire.LogoutIdle {
			t.Fatalf("got % x, want Logout %d", f, wire.LogoutIdle)
		}
		break
	}
	took := time.Since(start)
	if beats < 2 || took < 1500*time.Millisecond || took > 6*time.Second {
		t.Fatalf("%d heartbeats, then the idle Logout after %v: want 2 or more, and 1.5-6 s", beats, took)
	}
	// The one that sent heartbeats is still served.
	alive.subscribe("BTC-USD", wire.ChanTrades)
}

// TestBookCommand runs the README's `ringex book` against a real server:
// it prints the current L2 book and exits 0.
func TestBookCommand(t *testing.T) {
	s := startServer(t, t.TempDir())
	bin := filepath.Join(t.TempDir(), "ringex")
	if out, err := exec.Command("go", "build", "-o", bin, "../ringex").CombinedOutput(); err != nil {
		t.Fatalf("go build ringex: %v\n%s", err, out)
	}
	c, feed := dialRaw(t, s.addr), dialRaw(t, s.md)
	c.login("alice")
	feed.login("alice")
	feed.subscribe("BTC-USD", wire.ChanOrders)
	ask := c.order(ord(1, "BTC-USD", sell, lim, gtc, stpNone, 6500050, 2500)) // 65000.50, 0.25
	bid := c.order(ord(2, "BTC-USD", buy, lim, gtc, stpNone, 6400000, 10000)) // 64000.00, 1.0
	// Acks come before matching: wait until both rest.
	wantEvent(t, feed.event(ask), wire.OrderAccepted, 0, 2500, 2500)
	wantEvent(t, feed.event(bid), wire.OrderAccepted, 0, 10000, 10000)
	out, err := exec.Command(bin, "-addr", s.addr, "-md", s.md, "-admin", s.admin, "book", "BTC-USD").CombinedOutput()
	if text := string(out); err != nil || !strings.Contains(text, "0.2500         65000.50      1  ask") ||
		!strings.Contains(text, "1.0000         64000.00      1  bid") {
		t.Fatalf("ringex book: %v\n%s", err, text)
	}
	out, err = exec.Command(bin, "-addr", s.addr, "-md", s.md, "-admin", s.admin, "book", "NOPE").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "unknown asset") {
		t.Fatalf("ringex book NOPE: %v\n%s", err, out)
	}
}
