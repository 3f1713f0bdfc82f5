package orderentry

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ringex/ringex/auth"
	"github.com/ringex/ringex/engine"
	"github.com/ringex/ringex/netio"
	"github.com/ringex/ringex/netio/wire"
	"github.com/ringex/ringex/pipeline"
)

// GatewayConfig configures the order-entry server.
type GatewayConfig struct {
	Addr              string // host:port to listen on
	Users             *netio.Users
	Guard             *auth.Guard   // logins, limits and audit (package auth); nil: one over Users without limits
	Loops             int           // gnet event loops; 0 = one per CPU
	MaxConns          int           // connections beyond this are refused with a Logout
	MaxInFlight       int           // unacknowledged orders per session before rejects
	IdleTimeout       time.Duration // a session silent this long is logged out
	HeartbeatInterval time.Duration // the server sends a heartbeat when it has been quiet this long
	BusyTimeout       time.Duration // how long an order waits on a full ring before "busy"
	MaxLoginFailures  int           // failed logins on one connection before it is closed
	// MaxQueuedBytes bounds each session's answers written but not yet
	// taken by its socket (a client that sends and does not read); past
	// it the session is sent Logout(unread replies) and closed. 0 means
	// 1 MiB: well above MaxInFlight acks and rejects.
	MaxQueuedBytes int
	// MaxQueuedTotal bounds the queued bytes of all sessions together
	// (0: 256 MiB); the session whose write passes it is cut the same way.
	MaxQueuedTotal int64
	// ProxyFrom is the proxies (HAProxy, stunnel) whose connections begin
	// with a PROXY header declaring the client's address (netio/proxy.go);
	// empty: none, every connection is plain.
	ProxyFrom  netio.ProxyTrust
	Logger     *slog.Logger
	Registerer prometheus.Registerer // nil: no metrics
}

// The defaults of GatewayConfig: a zero field means its default. Commands
// use these as their flags' defaults, so each is written once.
const (
	DefaultMaxConns    = 1024 // two descriptors each: leaves room for market data under common limits
	DefaultMaxInFlight = 4096
	DefaultIdleTimeout = 30 * time.Second
	DefaultBusyTimeout = 5 * time.Millisecond
)

func (c *GatewayConfig) setDefaults() {
	netio.SetDefaults(&c.Logger, &c.Guard, c.Users, &c.HeartbeatInterval, &c.MaxLoginFailures)
	if c.MaxConns == 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.BusyTimeout == 0 {
		c.BusyTimeout = DefaultBusyTimeout
	}
	if c.MaxQueuedBytes == 0 {
		c.MaxQueuedBytes = netio.DefaultMaxQueuedBytes
	}
	if c.MaxQueuedTotal == 0 {
		c.MaxQueuedTotal = 256 << 20
	}
}

// Gateway is the order-entry server. It is the pipeline's AckSink.
type Gateway struct {
	gnet.BuiltinEventEngine
	srv netio.Server

	cfg     GatewayConfig
	ex      *pipeline.Exchange
	log     *slog.Logger
	m       *gatewayMetrics
	assets  map[[8]byte]*pipeline.Asset
	batches map[int]*ackBatch // per asset group, owned by that group's ack goroutine

	table  sessionTable
	budget netio.ByteBudget // every session's queued bytes
	cuts   atomic.Int64
	logins netio.LoginRules
}

// NewGateway builds the order-entry server over a running exchange's assets.
func NewGateway(cfg GatewayConfig, ex *pipeline.Exchange) *Gateway {
	cfg.setDefaults()
	g := &Gateway{
		cfg:     cfg,
		ex:      ex,
		log:     cfg.Logger.With("component", "gateway"),
		m:       newGatewayMetrics(cfg.Registerer),
		assets:  make(map[[8]byte]*pipeline.Asset),
		batches: make(map[int]*ackBatch),
	}
	g.srv.Init("gateway", g.log, g.m.conn)
	g.srv.Proxy = cfg.ProxyFrom
	g.logins = netio.LoginRules{Guard: cfg.Guard, Service: auth.OrderEntry, MaxFailures: cfg.MaxLoginFailures, Log: g.log, Fails: g.m.conn.LoginFails}
	g.table.init(cfg.MaxConns)
	g.budget.Limit = cfg.MaxQueuedTotal
	for _, a := range ex.Assets() {
		g.assets[symbolKey(a.Symbol)] = a
		if g.batches[a.Group()] == nil {
			g.batches[a.Group()] = &ackBatch{}
		}
	}
	return g
}

// Ready is closed once the server accepts connections.
func (g *Gateway) Ready() <-chan struct{} { return g.srv.Ready() }

// Addr is the address the server listens on (useful with port 0), or nil
// before Ready.
func (g *Gateway) Addr() net.Addr { return g.srv.Addr() }

// Serve runs the event loops until Stop. It returns once the server is
// stopped, with the error that stopped it, if any.
func (g *Gateway) Serve() error { return g.srv.Serve(g, g.cfg.Addr, g.cfg.Loops, 0) }

// Enroll takes a TLS connection whose handshake is done (netio/tlsfront):
// its records are read in the event loop and sealed by its outbox
// (netio/tls.go); the session is the same as a plain one's.
func (g *Gateway) Enroll(raw net.Conn, t *netio.TLSConn) error { return g.srv.Enroll(raw, t) }

// Drain makes the gateway refuse new orders (reason "shutting down") while
// the pipeline drains and acknowledges what it already has.
func (g *Gateway) Drain() { g.srv.Draining.Store(true) }

// Stop logs every session out and stops the event loops.
func (g *Gateway) Stop(ctx context.Context) error {
	if !g.srv.Started() {
		return nil
	}
	g.table.each(func(s *session) { s.Logout(wire.LogoutShutdown) })
	return g.srv.Stop(ctx)
}

// OnBoot records the engine so that Stop can reach it.
func (g *Gateway) OnBoot(eng gnet.Engine) gnet.Action {
	g.log.Info("order entry listening", "addr", g.srv.Boot(eng))
	return gnet.None
}

// OnOpen registers a session, or refuses the connection past MaxConns. The
// session's outbox lets goroutines write to the socket without the loop,
// and never to a reused fd number (see netio.Outbox).
func (g *Gateway) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	if refuse := g.srv.Accept(c, g.cfg.MaxConns); refuse != nil {
		return refuse, gnet.Close
	}
	s := g.table.add(c, g)
	if s == nil {
		return g.srv.Refuse(c), gnet.Close
	}
	c.SetContext(s)
	return nil, gnet.None
}

// OnClose forgets the session: acks still in flight for it are dropped, and
// its outbox is released before gnet closes the connection's fd.
func (g *Gateway) OnClose(c gnet.Conn, err error) gnet.Action {
	if s, ok := c.Context().(*session); ok {
		g.table.remove(s)
		g.srv.Close(&s.Conn, err)
		if s.UserID != 0 {
			g.log.Debug("session closed", "user", s.UserName, "remote", s.Remote, "err", err)
		}
	}
	return gnet.None
}

// OnTraffic decodes every complete frame in the inbound buffer, in place,
// and writes the replies it produces (rejects, login answers) with one write
// through the session's writer, in order with the acks.
func (g *Gateway) OnTraffic(c gnet.Conn) gnet.Action {
	s, ok := c.Context().(*session)
	if !ok {
		return gnet.Close
	}
	s.readAt = time.Now().UnixNano()
	action := g.srv.Traffic(c, &s.Conn, func(frame []byte) gnet.Action { return g.handleFrame(s, frame) })
	if action == gnet.None && len(s.Reply) > 0 {
		s.Write(s.Reply)
		s.Reply = s.Reply[:0]
	}
	return action
}

// OnTick logs out idle sessions, sends heartbeats to quiet ones, and closes
// the sessions whose last bytes waited past the linger deadline.
func (g *Gateway) OnTick() (time.Duration, gnet.Action) {
	now := time.Now().UnixNano()
	g.table.each(func(s *session) { g.srv.Tick(&s.Conn, now, g.cfg.IdleTimeout, g.cfg.HeartbeatInterval) })
	return netio.TickInterval, gnet.None
}

// HandleAcks implements pipeline.AckSink: it gathers the acks (or the
// "unavailable" rejects, if the journal failed) of one committed range per
// session; FlushAcks then writes each session's share of the whole pass,
// every asset of the asset group, with one write: straight to the socket
// when the session's outbox is idle, else behind its queue. A session is
// in one group's touched list at a time (session.queued): an ack another
// group gathers for it meanwhile goes out with that group's flush, in the
// same pass, and a session's acks are gathered and written under one
// mutex (flushPending), so an asset's acks keep their order.
func (g *Gateway) HandleAcks(a *pipeline.Asset, lo, hi int64) {
	b := g.batches[a.Group()]
	now := time.Now().UnixNano()
	var lat latencyCounts
	// A session's orders are usually consecutive in the ring (one read(2)
	// publishes a burst), so the session is looked up, locked and its
	// in-flight count lowered once per run of its slots, not per ack.
	var s *session
	token, run := ^uint64(0), int32(0)
	for q := lo; q <= hi; q++ {
		slot := a.Input(q)
		if slot.Token != token {
			s.endAckRun(run)
			token, run = slot.Token, 0
			if s = g.table.get(token); s != nil {
				s.mu.Lock()
			}
		}
		if s == nil {
			continue // the session closed before its ack
		}
		run++
		cmd := &slot.Cmd
		if slot.Failed() {
			s.pending = wire.AppendReject(s.pending, cmd.ClientOrderID, wire.ReasonUnavailable)
			g.m.rejects(wire.ReasonUnavailable)
		} else {
			s.pending = appendAck(s.pending, cmd)
			lat.observe(now - cmd.Time)
		}
		if !s.queued {
			s.queued = true
			b.touched = append(b.touched, s)
		}
	}
	s.endAckRun(run)
	g.m.acks.Add(float64(lat.n))
	g.m.ackLatency.add(&lat)
}

// endAckRun ends HandleAcks' run of n acks of s, if s is not nil: s.mu is
// released and the acks leave the in-flight count.
func (s *session) endAckRun(n int32) {
	if s == nil {
		return
	}
	s.mu.Unlock()
	s.inFlight.Add(-n)
}

// FlushAcks implements pipeline.AckFlusher: it writes the acks of the
// asset group's pass, one write per session.
func (g *Gateway) FlushAcks(group int) {
	b := g.batches[group]
	for i, s := range b.touched {
		s.flushPending()
		b.touched[i] = nil
	}
	b.touched = b.touched[:0]
}

// cut logs a session whose unread answers passed its cap or the budget.
func (g *Gateway) cut(s *session, queued int, budget bool) {
	g.cuts.Add(1)
	g.m.cut.Inc()
	g.log.Warn("session does not read its answers: logging out", "remote", s.Remote,
		"queued_bytes", queued, "limit", g.cfg.MaxQueuedBytes, "budget_exhausted", budget)
}

type ackBatch struct {
	touched []*session
}

// OrderToken packs a session's table slot and generation into the token the
// pipeline carries, so that an ack for a closed session is recognized and
// dropped even if its slot has been reused.
func orderToken(slot uint32, gen uint32) uint64 { return uint64(gen)<<32 | uint64(slot) }

// symbolKey turns a symbol into the fixed-width key of the asset table.
func symbolKey(sym string) [8]byte {
	var k [8]byte
	copy(k[:], sym)
	for i := len(sym); i < 8; i++ {
		k[i] = ' '
	}
	return k
}

func assetErrReason(err error) uint16 {
	switch {
	case errors.Is(err, pipeline.ErrBusy):
		return wire.ReasonBusy
	case errors.Is(err, pipeline.ErrUnavailable):
		return wire.ReasonUnavailable
	default:
		return wire.ReasonShuttingDown
	}
}

var (
	_ pipeline.AckSink    = (*Gateway)(nil)
	_ pipeline.AckFlusher = (*Gateway)(nil)
)

// checkReason applies the asset's rules (engine.AssetConfig.Check, the
// matcher's own) to cmd before the ring and returns the wire's reason, or
// 0. The engine's reasons are the wire's 1-10 (TestEngineCodesAreWire); an
// unknown enumeration gets the wire's finer 101-104.
func checkReason(cfg *engine.AssetConfig, cmd *engine.Command) uint16 {
	r := cfg.Check(cmd)
	if r != engine.RejectBadCommand {
		return uint16(r)
	}
	switch cmd.BadField() {
	case engine.FieldSide:
		return wire.ReasonBadSide
	case engine.FieldType:
		return wire.ReasonBadType
	case engine.FieldTIF:
		return wire.ReasonBadTIF
	case engine.FieldSTP:
		return wire.ReasonBadSTP
	}
	return wire.ReasonBadCommand
}
