package echo

import (
	"context"
	"errors"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ringex/ringex/client"
	"github.com/ringex/ringex/netio/wire"
)

// start serves s on fresh loopback listeners and returns their addresses.
func start(t *testing.T, s *Server) (oe, md, admin string) {
	t.Helper()
	lo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lm, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.ServeOrderEntry(lo)
	go s.ServeMarketData(lm)
	hs := httptest.NewServer(s.AdminHandler())
	t.Cleanup(func() {
		hs.Close()
		s.Close()
	})
	return lo.Addr().String(), lm.Addr().String(), strings.TrimPrefix(hs.URL, "http://")
}

// handler records a session's pipelined answers.
type handler struct {
	mu   sync.Mutex
	acks []wire.OrderAck
	rejs []wire.Reject
	got  chan struct{}
}

func (h *handler) OnAck(a *wire.OrderAck) {
	h.mu.Lock()
	h.acks = append(h.acks, *a)
	h.mu.Unlock()
	h.got <- struct{}{}
}

func (h *handler) OnReject(r *wire.Reject) {
	h.mu.Lock()
	h.rejs = append(h.rejs, *r)
	h.mu.Unlock()
	h.got <- struct{}{}
}

// TestOrderEntry: the project's client logs in, pipelines new orders,
// cancels and replaces, and gets one ack for each, in order, with the
// client order id and (for a cancel or replace) the target's order id;
// a synchronous order is acked too; Logout is answered and ends the
// session cleanly.
func TestOrderEntry(t *testing.T) {
	oe, _, _ := start(t, &Server{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h := &handler{got: make(chan struct{}, 1000)}
	s, err := client.Dial(ctx, oe, "anyone", "any-key", h)
	if err != nil {
		t.Fatal(err)
	}
	sym := wire.MakeSymbol("BTC-USD")
	const n = 300
	for i := uint64(1); i <= n; i++ {
		switch i % 3 {
		case 0:
			err = s.NewOrder(&wire.NewOrder{ClientOrderID: i, Symbol: sym, Side: 1, Type: 1, TIF: 1, Price: 100, Qty: 1})
		case 1:
			err = s.Cancel(&wire.Cancel{ClientOrderID: i, Symbol: sym, OrderID: 1000 + i})
		case 2:
			err = s.Replace(&wire.Replace{ClientOrderID: i, Symbol: sym, OrderID: 1000 + i, Price: 101, Qty: 2})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	for range n {
		select {
		case <-h.got:
		case <-ctx.Done():
			t.Fatalf("%d of %d answers", len(h.acks)+len(h.rejs), n)
		}
	}
	h.mu.Lock()
	if len(h.rejs) != 0 {
		t.Fatalf("rejects: %+v", h.rejs)
	}
	seen := map[uint64]bool{}
	for i, a := range h.acks {
		want := uint64(i + 1)
		if a.ClientOrderID != want {
			t.Fatalf("ack %d is for %d, want %d", i, a.ClientOrderID, want)
		}
		if want%3 != 0 && a.OrderID != 1000+want {
			t.Fatalf("ack of amend %d names order %d, want %d", want, a.OrderID, 1000+want)
		}
		if want%3 == 0 && (a.OrderID == 0 || seen[a.OrderID]) {
			t.Fatalf("ack of new order %d has order id %d (zero or reused)", want, a.OrderID)
		}
		seen[a.OrderID] = true
		if a.RecvTime <= 0 {
			t.Fatalf("ack %d has no receive time", i)
		}
	}
	h.mu.Unlock()

	ack, err := s.PlaceSync(ctx, &wire.NewOrder{ClientOrderID: 9999, Symbol: sym, Side: 2, Type: 1, TIF: 1, Price: 100, Qty: 1})
	if err != nil || ack.ClientOrderID != 9999 {
		t.Fatalf("PlaceSync: %+v, %v", ack, err)
	}
	if err := s.Logout(ctx); err != nil {
		t.Fatalf("Logout: %v", err)
	}
	if !errors.Is(s.Err(), client.ErrClosed) {
		t.Fatalf("after Logout: %v", s.Err())
	}
}

// TestOrderEntryRules: requests before a login are refused with 105, a
// wrong version is refused, and a frame length no message can have ends
// the session with Logout 1.
func TestOrderEntryRules(t *testing.T) {
	oe, _, _ := start(t, &Server{})
	c, err := net.Dial("tcp", oe)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	sym := wire.MakeSymbol("BTC-USD")
	var req []byte
	req = wire.AppendNewOrder(req, &wire.NewOrder{ClientOrderID: 7, Symbol: sym, Side: 1, Type: 1, TIF: 1, Price: 1, Qty: 1})
	bad := wire.Login{Version: 9}
	req = wire.AppendLogin(req, &bad)
	req = append(req, 0, 0) // a zero length: no type byte
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	var got []byte
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			break
		}
	}
	var types []byte
	for len(got) > 0 {
		f, k, err := wire.NextFrame(got, wire.MaxFrame)
		if err != nil || k == 0 {
			t.Fatalf("answer stream cut: %v", err)
		}
		types = append(types, wire.Type(f))
		switch wire.Type(f) {
		case wire.TypeReject:
			var r wire.Reject
			if wire.DecodeReject(f, &r); r.ClientOrderID != 7 || r.Reason != wire.ReasonNotLoggedIn {
				t.Errorf("reject %+v, want order 7 reason 105", r)
			}
		case wire.TypeLoginRejected:
			if code, _ := wire.DecodeLoginRejected(f); code != wire.LoginBadVersion {
				t.Errorf("login rejected %d, want %d", code, wire.LoginBadVersion)
			}
		case wire.TypeLogout:
			if code, _ := wire.DecodeLogout(f); code != wire.LogoutBadFrame {
				t.Errorf("logout %d, want %d", code, wire.LogoutBadFrame)
			}
		}
		got = got[k:]
	}
	if string(types) != "RJZ" {
		t.Fatalf("answers %q, want Reject, LoginRejected, Logout", types)
	}
}

type feedHandler struct {
	client.NopFeedHandler
	subs chan wire.Subscribed
	rejs chan wire.SubRejected
	done chan wire.ResumeDone
}

func (h *feedHandler) OnSubscribed(m *wire.Subscribed)   { h.subs <- *m }
func (h *feedHandler) OnSubRejected(m *wire.SubRejected) { h.rejs <- *m }
func (h *feedHandler) OnResumeDone(m *wire.ResumeDone)   { h.done <- *m }

// TestMarketData: the asset list is served; an anonymous feed gets public
// subscriptions and is refused the private channel; a logged-in feed gets
// the private channel and a resume that ends at once.
func TestMarketData(t *testing.T) {
	_, md, admin := start(t, &Server{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	assets, err := client.FetchAssets(ctx, admin)
	if err != nil || len(assets) != len(DefaultAssets) || assets[0].Symbol != "BTC-USD" || assets[0].TickSize != 1 {
		t.Fatalf("assets %+v, %v", assets, err)
	}
	wait := func(h *feedHandler) any {
		select {
		case m := <-h.subs:
			return m
		case m := <-h.rejs:
			return m
		case m := <-h.done:
			return m
		case <-ctx.Done():
			t.Fatal("no answer from the market-data side")
			return nil
		}
	}
	newHandler := func() *feedHandler {
		return &feedHandler{subs: make(chan wire.Subscribed, 4), rejs: make(chan wire.SubRejected, 4), done: make(chan wire.ResumeDone, 4)}
	}

	h := newHandler()
	anon, err := client.DialFeed(ctx, md, "", "", h)
	if err != nil {
		t.Fatal(err)
	}
	defer anon.Close()
	anon.Subscribe("ETH-USD", wire.ChanTrades|wire.ChanBook, 0)
	if m, ok := wait(h).(wire.Subscribed); !ok || m.Symbol != wire.MakeSymbol("ETH-USD") || m.Channels != wire.ChanTrades|wire.ChanBook {
		t.Fatalf("public subscription: %+v", m)
	}
	anon.Subscribe("ETH-USD", wire.ChanOrders, 0)
	if m, ok := wait(h).(wire.SubRejected); !ok || m.Reason != wire.SubNotLoggedIn {
		t.Fatalf("anonymous private subscription: %+v", m)
	}

	h = newHandler()
	priv, err := client.DialFeed(ctx, md, "alice", "key", h)
	if err != nil {
		t.Fatal(err)
	}
	priv.Subscribe("BTC-USD", wire.ChanOrders, 0)
	if m, ok := wait(h).(wire.Subscribed); !ok || m.Channels != wire.ChanOrders {
		t.Fatalf("private subscription: %+v", m)
	}
	priv.Resume("BTC-USD", 0)
	// Subscribed and ResumeDone arrive in one read, so both channels can be
	// ready at once: take them in the order the spec gives, not through
	// wait's select, which picks among ready channels at random.
	select {
	case m := <-h.subs:
		if m.Symbol != wire.MakeSymbol("BTC-USD") || m.Channels != wire.ChanOrders {
			t.Fatalf("resume confirmed as %+v", m)
		}
	case <-ctx.Done():
		t.Fatal("resume not confirmed")
	}
	select {
	case m := <-h.done:
		if m.Symbol != wire.MakeSymbol("BTC-USD") {
			t.Fatalf("resume: %+v", m)
		}
	case <-ctx.Done():
		t.Fatal("no ResumeDone")
	}
	if err := priv.Logout(ctx); err != nil {
		t.Fatalf("Logout: %v", err)
	}
}

// TestHeartbeat: a quiet connection gets a Heartbeat each interval, so a
// client's idle timeout never fires against the echo.
func TestHeartbeat(t *testing.T) {
	oe, _, _ := start(t, &Server{Heartbeat: 20 * time.Millisecond})
	c, err := net.Dial("tcp", oe)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 3*wire.HeaderLen)
	for got := 0; got < len(buf); {
		n, err := c.Read(buf[got:])
		if err != nil {
			t.Fatal(err)
		}
		got += n
	}
	for i := 0; i < len(buf); i += wire.HeaderLen {
		if err := wire.DecodeHeartbeat(buf[i : i+wire.HeaderLen]); err != nil {
			t.Fatalf("frame %d: % x: %v", i/wire.HeaderLen, buf, err)
		}
	}
}
