package orderentry

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/ringex/ringex/engine"
	"github.com/ringex/ringex/journal"
	"github.com/ringex/ringex/netio"
	"github.com/ringex/ringex/netio/internal/nettest"
	"github.com/ringex/ringex/netio/wire"
	"github.com/ringex/ringex/pipeline"
	"github.com/ringex/ringex/ring"
)

var gwSpec = pipeline.AssetSpec{ID: 4, Config: engine.AssetConfig{
	Symbol: "GW", TickSize: 5, LotSize: 10, MinPrice: 5, MaxPrice: 1_000_000, MaxQty: 1_000_000,
}}

var (
	fuzzOnce sync.Once
	fuzzGW   *Gateway
)

// fuzzGateway is one gateway over a real pipeline, shared by the fuzz
// iterations of a process (it is never served on a socket).
func fuzzGateway(t *testing.T) *Gateway {
	fuzzOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ringex-fuzz")
		if err != nil {
			t.Fatal(err)
		}
		store, err := journal.Open(journal.Options{Dir: dir, Sync: journal.SyncPolicy{Mode: journal.SyncOff},
			Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		ex, err := pipeline.Open(store, []pipeline.AssetSpec{gwSpec}, pipeline.Config{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		fuzzGW = NewGateway(GatewayConfig{Users: nettest.Users(t), Logger: slog.New(slog.DiscardHandler)}, ex)
		ex.Start(nil, nil)
	})
	return fuzzGW
}

// startGateway runs a real pipeline and gateway on 127.0.0.1.
func startGateway(t *testing.T, cfg GatewayConfig) (*Gateway, *pipeline.Exchange) {
	t.Helper()
	log := nettest.Logger(t)
	store, err := journal.Open(journal.Options{Dir: t.TempDir(), Sync: journal.SyncPolicy{Mode: journal.SyncOff}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ex, err := pipeline.Open(store, []pipeline.AssetSpec{gwSpec}, pipeline.Config{
		InSize: 1 << 10, OutSize: 1 << 12, Wait: ring.Blocking, Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Addr = "127.0.0.1:0"
	cfg.Users = nettest.Users(t)
	cfg.Logger = log
	if cfg.Loops == 0 {
		cfg.Loops = 2
	}
	g := NewGateway(cfg, ex)
	ex.Start(g, nil)
	served := make(chan error, 1)
	go func() { served <- g.Serve() }()
	select {
	case <-g.Ready():
	case err := <-served:
		t.Fatalf("gateway: %v", err)
	}
	t.Cleanup(func() {
		g.Drain()
		ex.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		g.Stop(ctx)
		<-served
		store.Close()
	})
	return g, ex
}

// rawConn is a test client that speaks the protocol frame by frame.
type rawConn struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialRaw(t *testing.T, g *Gateway) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", g.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c, r: bufio.NewReader(c)}
}

func (rc *rawConn) send(frames ...[]byte) {
	rc.t.Helper()
	var buf []byte
	for _, f := range frames {
		buf = append(buf, f...)
	}
	if _, err := rc.c.Write(buf); err != nil {
		rc.t.Fatal(err)
	}
}

// next reads one frame, skipping heartbeats.
func (rc *rawConn) next() []byte {
	rc.t.Helper()
	for {
		rc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
		hdr := make([]byte, 2)
		if _, err := io.ReadFull(rc.r, hdr); err != nil {
			rc.t.Fatalf("read: %v", err)
		}
		n := int(hdr[0])<<8 | int(hdr[1])
		f := make([]byte, 2+n)
		copy(f, hdr)
		if _, err := io.ReadFull(rc.r, f[2:]); err != nil {
			rc.t.Fatalf("read: %v", err)
		}
		if wire.Type(f) != wire.TypeHeartbeat {
			return f
		}
	}
}

func (rc *rawConn) expectReject(clientID uint64, code uint16) {
	rc.t.Helper()
	f := rc.next()
	var r wire.Reject
	if wire.Type(f) != wire.TypeReject || wire.DecodeReject(f, &r) != nil {
		rc.t.Fatalf("want Reject %d, got frame type %c", code, wire.Type(f))
	}
	if r.Reason != code || r.ClientOrderID != clientID || r.TextString() != wire.ReasonText(code) {
		rc.t.Fatalf("want Reject(%d, code %d %q), got %+v %q", clientID, code, wire.ReasonText(code), r, r.TextString())
	}
}

func (rc *rawConn) expectAck(clientID uint64) wire.OrderAck {
	rc.t.Helper()
	f := rc.next()
	var a wire.OrderAck
	if wire.Type(f) != wire.TypeOrderAck || wire.DecodeOrderAck(f, &a) != nil {
		var r wire.Reject
		wire.DecodeReject(f, &r)
		rc.t.Fatalf("want OrderAck for %d, got type %c (%+v %q)", clientID, wire.Type(f), r, r.TextString())
	}
	if a.ClientOrderID != clientID || a.Seq == 0 || a.OrderID == 0 || a.RecvTime == 0 {
		rc.t.Fatalf("bad ack %+v for %d", a, clientID)
	}
	return a
}

func loginFrame(u nettest.User, key string) []byte {
	var m wire.Login
	m.Version = wire.Version
	m.SetUser(u.Name)
	m.SetKey(key)
	return wire.AppendLogin(nil, &m)
}

func (rc *rawConn) login(u nettest.User) {
	rc.t.Helper()
	rc.send(loginFrame(u, u.Key))
	f := rc.next()
	var la wire.LoginAccepted
	if wire.Type(f) != wire.TypeLoginAccepted || wire.DecodeLoginAccepted(f, &la) != nil || la.UserID != u.ID {
		rc.t.Fatalf("login %s: got frame type %c", u.Name, wire.Type(f))
	}
}

func order(id uint64, side uint8, price, qty int64) *wire.NewOrder {
	return &wire.NewOrder{ClientOrderID: id, Symbol: wire.MakeSymbol(gwSpec.Config.Symbol), Side: side,
		Type: uint8(engine.Limit), TIF: uint8(engine.GTC), Price: price, Qty: qty}
}

// TestGatewayRejects sends one bad request of each kind and checks the
// reason code of each reject, and that the session goes on working.
func TestGatewayRejects(t *testing.T) {
	g, _ := startGateway(t, GatewayConfig{})
	rc := dialRaw(t, g)
	cfg := gwSpec.Config
	good := order(1, 1, cfg.MinPrice+cfg.TickSize, cfg.LotSize)

	rc.send(wire.AppendNewOrder(nil, good))
	rc.expectReject(0, wire.ReasonNotLoggedIn)

	rc.send(loginFrame(nettest.Alice, "wrong-key"))
	if f := rc.next(); wire.Type(f) != wire.TypeLoginRejected {
		t.Fatalf("bad key: got %c, want LoginRejected", wire.Type(f))
	}
	rc.login(nettest.Alice)

	mutate := func(id uint64, f func(*wire.NewOrder)) []byte {
		o := *good
		o.ClientOrderID = id
		f(&o)
		return wire.AppendNewOrder(nil, &o)
	}
	cases := []struct {
		frame []byte
		id    uint64
		code  uint16
	}{
		{mutate(10, func(o *wire.NewOrder) { o.Symbol = wire.MakeSymbol("NOPE") }), 10, wire.ReasonUnknownAsset},
		{mutate(11, func(o *wire.NewOrder) { o.Side = 9 }), 11, wire.ReasonBadSide},
		{mutate(12, func(o *wire.NewOrder) { o.Type = 0 }), 12, wire.ReasonBadType},
		{mutate(13, func(o *wire.NewOrder) { o.TIF = 4 }), 13, wire.ReasonBadTIF},
		{mutate(14, func(o *wire.NewOrder) { o.STP = 5 }), 14, wire.ReasonBadSTP},
		{mutate(15, func(o *wire.NewOrder) { o.Qty = 0 }), 15, wire.ReasonBadQuantity},
		{mutate(16, func(o *wire.NewOrder) { o.Qty = -cfg.LotSize }), 16, wire.ReasonBadQuantity},
		{mutate(17, func(o *wire.NewOrder) { o.Qty = cfg.MaxQty + cfg.LotSize }), 17, wire.ReasonBadQuantity},
		{mutate(18, func(o *wire.NewOrder) { o.Price = cfg.MaxPrice + cfg.TickSize }), 18, wire.ReasonBadPrice},
		{mutate(19, func(o *wire.NewOrder) { o.Price = 0 }), 19, wire.ReasonBadPrice},
		{[]byte{0, 1, '?'}, 0, wire.ReasonUnknownType},
		{[]byte{0, 2, wire.TypeNewOrder, 0}, 0, wire.ReasonBadLength},
		{wire.AppendCancel(nil, &wire.Cancel{ClientOrderID: 20, Symbol: wire.MakeSymbol("NOPE"), OrderID: 1}), 20, wire.ReasonUnknownAsset},
	}
	if cfg.TickSize > 1 {
		cases = append(cases, struct {
			frame []byte
			id    uint64
			code  uint16
		}{mutate(21, func(o *wire.NewOrder) { o.Price += 1 }), 21, wire.ReasonOffTick})
	}
	if cfg.LotSize > 1 {
		cases = append(cases, struct {
			frame []byte
			id    uint64
			code  uint16
		}{mutate(22, func(o *wire.NewOrder) { o.Qty += 1 }), 22, wire.ReasonOffLot})
	}
	// All in one write: many frames per read must be handled in order.
	var all [][]byte
	for _, c := range cases {
		all = append(all, c.frame)
	}
	rc.send(all...)
	for _, c := range cases {
		rc.expectReject(c.id, c.code)
	}
	// The session still works, including a frame split across writes.
	// The second half is sent only once the server has read the first
	// (its read touched the session), so the frame really is split across
	// reads.
	f := wire.AppendNewOrder(nil, good)
	s := onlySession(t, g)
	before := s.LastRecv.Load()
	rc.send(f[:5])
	waitFor(t, "the server to read the first half of a frame", 5*time.Second,
		func() bool { return s.LastRecv.Load() != before })
	rc.send(f[5:])
	ack := rc.expectAck(1)
	if pipeline.AssetOfOrder(ack.OrderID) != gwSpec.ID {
		t.Fatalf("order id %x does not name asset %d", ack.OrderID, gwSpec.ID)
	}
}

// TestGatewayBadFrameIsolated sends an impossible frame length on one
// session: it gets a Logout and is closed; another session is undisturbed.
func TestGatewayBadFrameIsolated(t *testing.T) {
	g, _ := startGateway(t, GatewayConfig{})
	bad, good := dialRaw(t, g), dialRaw(t, g)
	bad.login(nettest.Alice)
	good.login(nettest.Bob)
	bad.send([]byte{0xff, 0xff, 'O', 1, 2, 3})
	f := bad.next()
	if reason, err := wire.DecodeLogout(f); wire.Type(f) != wire.TypeLogout || err != nil || reason != wire.LogoutBadFrame {
		t.Fatalf("want Logout(bad frame), got type %c", wire.Type(f))
	}
	bad.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := bad.r.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("bad session not closed: %v", err)
	}
	cfg := gwSpec.Config
	for i := range 50 {
		good.send(wire.AppendNewOrder(nil, order(uint64(100+i), 2, cfg.MaxPrice, cfg.LotSize)))
	}
	var last uint64
	for i := range 50 {
		a := good.expectAck(uint64(100 + i))
		if a.Seq <= last {
			t.Fatalf("ack seq %d after %d", a.Seq, last)
		}
		last = a.Seq
	}
}

// TestGatewayCancelOwnership: a user may not cancel another's order. The
// gateway journals the cancel (and acks it); the engine refuses it, and the
// order stays on the book.
func TestGatewayCancelOwnership(t *testing.T) {
	g, ex := startGateway(t, GatewayConfig{})
	a, b := dialRaw(t, g), dialRaw(t, g)
	a.login(nettest.Alice)
	b.login(nettest.Bob)
	cfg := gwSpec.Config
	a.send(wire.AppendNewOrder(nil, order(1, 1, cfg.MinPrice, cfg.LotSize)))
	ack := a.expectAck(1)
	b.send(wire.AppendCancel(nil, &wire.Cancel{ClientOrderID: 2, Symbol: wire.MakeSymbol(cfg.Symbol), OrderID: ack.OrderID}))
	b.expectAck(2)
	a.send(wire.AppendHeartbeat(nil), wire.AppendLogout(nil, 0))
	if f := a.next(); wire.Type(f) != wire.TypeLogout {
		t.Fatalf("logout: got %c", wire.Type(f))
	}
	ex.Close()
	if _, ok := ex.Assets()[0].Book().Order(ack.OrderID); !ok {
		t.Fatal("bob's cancel removed alice's order")
	}
}

// TestGatewayLoginRateLimit: failed logins are limited per connection.
func TestGatewayLoginRateLimit(t *testing.T) {
	g, _ := startGateway(t, GatewayConfig{MaxLoginFailures: 2})
	rc := dialRaw(t, g)
	rc.send(loginFrame(nettest.Alice, "x"), loginFrame(nettest.Alice, "y"))
	if f := rc.next(); wire.Type(f) != wire.TypeLoginRejected {
		t.Fatalf("got %c", wire.Type(f))
	}
	f := rc.next()
	if code, _ := wire.DecodeLoginRejected(f); wire.Type(f) != wire.TypeLoginRejected || code != wire.LoginRateLimited {
		t.Fatalf("second failure: got %c", wire.Type(f))
	}
	if f := rc.next(); wire.Type(f) != wire.TypeLogout {
		t.Fatalf("want Logout after too many failures, got %c", wire.Type(f))
	}
}

// FuzzGatewayFrames feeds arbitrary bytes to a logged-in session's frame
// handler: it must never panic, and must consume only whole frames.
func FuzzGatewayFrames(f *testing.F) {
	f.Add(wire.AppendNewOrder(nil, order(1, 1, 100, 1)))
	f.Add(append(wire.AppendHeartbeat(nil), []byte{0, 3, 'X', 1}...))
	f.Add([]byte{0xff, 0xff})
	f.Add(wire.AppendReplace(nil, &wire.Replace{ClientOrderID: 1, Symbol: wire.MakeSymbol("GW"), OrderID: 5, Qty: 1}))
	f.Fuzz(func(t *testing.T, data []byte) {
		g := fuzzGateway(t)
		s := &session{}
		s.UserID, s.UserName = 1, "alice"
		s.Out.Init(-1, 1<<20, nil, wire.LogoutUnreadReplies, &netio.OutboxHooks{Close: func() {}, Cut: func(int, bool) {}})
		n, _ := g.srv.Frames(&s.Conn, data, func(frame []byte) gnet.Action { return g.handleFrame(s, frame) })
		if n > len(data) {
			t.Fatalf("consumed %d of %d bytes", n, len(data))
		}
	})
}
