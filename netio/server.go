package netio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/ringex/ringex/auth"
	"github.com/ringex/ringex/netio/wire"
)

// Server is the gnet shell the order-entry gateway and the market-data
// notifier share: how the event loops are started, when the server is
// ready, the address it listens on, how connections are counted in and
// out, and how it stops. Each service holds one as a field (not embedded,
// so that only its own Ready and Addr are in its API) and is the gnet
// event handler itself.
type Server struct {
	name string // "gateway", "notifier": for logs and errors
	log  *slog.Logger
	m    ConnMetrics // open and refused connections

	Conns    atomic.Int64 // open connections
	Draining atomic.Bool  // new connections are refused with Logout(shutdown)
	// Proxy is the proxies whose connections begin with a PROXY header
	// (proxy.go; set before Serve): ExpectProxy reads it.
	Proxy ProxyTrust

	mu      sync.Mutex
	eng     gnet.Engine
	addr    net.Addr
	booted  chan struct{}
	stopped chan struct{}
	// running is closed at the first tick: gnet calls OnBoot before it
	// makes its event loops, and Enroll may pick one only after.
	running     chan struct{}
	runningOnce sync.Once
}

// Init readies the shell of the server called name (for logs and errors);
// m counts its connections (LoginRules counts the failed logins).
func (s *Server) Init(name string, log *slog.Logger, m ConnMetrics) {
	s.name, s.log, s.m = name, log, m
	s.booted = make(chan struct{})
	s.stopped = make(chan struct{})
	s.running = make(chan struct{})
}

// Accept counts a new connection in, or counts it as refused and returns
// the Logout to refuse it with: past maxConns, or while draining. OnOpen
// calls it. The connection holds one descriptor, gnet's, which its outbox
// writes to (outbox.go); a second only while its socket is full.
func (s *Server) Accept(c gnet.Conn, maxConns int) (refuse []byte) {
	if s.Conns.Add(1) > int64(maxConns) || s.Draining.Load() {
		s.Conns.Add(-1)
		s.m.Refused.Inc()
		reason := wire.LogoutTooManyConns
		if s.Draining.Load() {
			reason = wire.LogoutShutdown
		}
		return refusal(c, reason)
	}
	s.m.Open.Inc()
	return nil
}

// Refuse gives back a connection Accept let in that the service has no
// room for after all: it uncounts the connection and returns the Logout to
// refuse it with.
func (s *Server) Refuse(c gnet.Conn) []byte {
	s.Conns.Add(-1)
	s.m.Open.Dec()
	s.m.Refused.Inc()
	return refusal(c, wire.LogoutTooManyConns)
}

// refusal is the Logout that refuses c, sealed if c is a TLS connection
// (OnOpen's bytes are written by gnet, not through an Outbox).
func refusal(c gnet.Conn, reason uint16) []byte {
	b := wire.AppendLogout(nil, reason)
	if t, ok := c.Context().(*TLSConn); ok {
		return t.SealFinal(b)
	}
	return b
}

// Enroll hands a TLS connection whose handshake is done (netio/tlsfront)
// to the server's event loops: gnet takes a dup of raw's descriptor (and
// closes raw), and the connection opens as any other, with t as its
// context until OnOpen (Conn.Open). It returns once the connection is
// open, or the error that stopped it (the server is not running or is
// stopping); raw is closed either way.
func (s *Server) Enroll(raw net.Conn, t *TLSConn) error {
	select {
	case <-s.running:
	case <-s.stopped:
		raw.Close()
		return fmt.Errorf("%s: stopped", s.name)
	}
	s.mu.Lock()
	eng := s.eng
	s.mu.Unlock()
	ch, err := eng.Register(gnet.NewNetConnContext(gnet.NewContext(context.Background(), t), raw))
	if err != nil {
		raw.Close()
		return fmt.Errorf("%s: enroll: %w", s.name, err)
	}
	select {
	case res := <-ch:
		if res.Err != nil {
			return fmt.Errorf("%s: enroll: %w", s.name, res.Err)
		}
		return nil
	case <-s.stopped:
		// gnet stopped with the registration queued: it closes the dup
		// with its loops.
		return fmt.Errorf("%s: stopped", s.name)
	}
}

// serveOptions is how both servers run gnet: one event loop per CPU unless
// loops says otherwise, a ticker, no Nagle, reusable address; sndbuf sets
// SO_SNDBUF on accepted connections (0: the system's). A new connection
// goes to the loop with the fewest: gnet's default, round robin, keeps an
// unguarded counter, and Enroll picks a loop from another goroutine than
// gnet's acceptor.
func serveOptions(loops, sndbuf int) []gnet.Option {
	opts := []gnet.Option{
		gnet.WithMulticore(true),
		gnet.WithLoadBalancing(gnet.LeastConnections),
		gnet.WithTicker(true),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithReuseAddr(true),
	}
	if loops > 0 {
		opts = append(opts, gnet.WithNumEventLoop(loops))
	}
	if sndbuf > 0 {
		opts = append(opts, gnet.WithSocketSendBuffer(sndbuf))
	}
	return opts
}

// ticks wraps a service's handler to learn when gnet's event loops exist
// (the first OnTick comes after they are made).
type ticks struct {
	gnet.EventHandler
	s *Server
}

func (t ticks) OnTick() (time.Duration, gnet.Action) {
	t.s.runningOnce.Do(func() { close(t.s.running) })
	return t.EventHandler.OnTick()
}

// serve runs h's event loops on addr until stop. It returns once the server
// is stopped, with the error that stopped it, if any.
func (s *Server) Serve(h gnet.EventHandler, addr string, loops, sndbuf int) error {
	defer close(s.stopped)
	if err := gnet.Run(ticks{h, s}, "tcp://"+addr, serveOptions(loops, sndbuf)...); err != nil {
		return fmt.Errorf("%s: %w", s.name, err)
	}
	return nil
}

// Ready is closed once the server accepts connections.
func (s *Server) Ready() <-chan struct{} { return s.booted }

// Addr is the address the server listens on (useful with port 0), or nil
// before Ready.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// boot records the engine (OnBoot) so that stop can reach it.
func (s *Server) Boot(eng gnet.Engine) net.Addr {
	s.mu.Lock()
	s.eng = eng
	s.addr = listenAddr(eng)
	addr := s.addr
	s.mu.Unlock()
	close(s.booted)
	return addr
}

// started reports whether the server has booted (Stop before it is a no-op).
func (s *Server) Started() bool {
	select {
	case <-s.booted:
		return true
	default:
		return false
	}
}

// stop stops the event loops (after the caller has logged its connections
// out).
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	eng := s.eng
	s.mu.Unlock()
	if err := eng.Stop(ctx); errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: stop: %w", s.name, err)
	}
	return nil
}

// listenAddr asks the kernel for the listener's address, which differs from
// the configured one when the port is 0.
func listenAddr(eng gnet.Engine) net.Addr {
	fd, err := eng.Dup()
	if err != nil {
		return nil
	}
	defer unix.Close(fd)
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return nil
	}
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(sa.Addr[:]), Port: sa.Port}
	case *unix.SockaddrInet6:
		return &net.TCPAddr{IP: net.IP(sa.Addr[:]), Port: sa.Port, Zone: strconv.Itoa(int(sa.ZoneId))}
	}
	return nil
}

// LoginState is a connection's login, on either server. Loop-owned, but
// for grant, which is set once at the login and read by the session's
// other goroutines only after it (its limiter is safe for concurrent use).
type LoginState struct {
	UserID   uint32
	UserName string
	Failures int           // failed logins on this connection
	Grant    *auth.Session // the login's: rate limit, session slot, audit (auth.go); nil before
}

// LoginRules is what a server's logins check against.
type LoginRules struct {
	Guard       *auth.Guard // keys, throttling across connections, limits, audit; nil: every login fails
	Service     auth.Service
	MaxFailures int // failed logins on one connection before it is closed
	Log         *slog.Logger
	Fails       prometheus.Counter
}

// Login handles a Login frame for c on either server: it appends the answer
// (LoginAccepted or LoginRejected, and a Logout after too many failures or
// when the guard throttles the address or the user) to c.Reply and returns
// gnet.Close if the connection is to be closed after it. If a reload of the
// users file later drops the session's key, the guard logs c out with
// reason 8 (key revoked), from its own goroutine.
func (r *LoginRules) Login(c *Conn, frame []byte) gnet.Action {
	var closeConn bool
	c.Reply, closeConn = r.login(&c.LoginState, c.Remote, frame, c.Reply,
		func() { c.Logout(wire.LogoutKeyRevoked) })
	if closeConn {
		c.Outcome.Set(wire.LogoutLoginFailures)
		return gnet.Close
	}
	return gnet.None
}

// login is Login's decision: the answer appended to reply, and whether to
// close. revoke is called (from any goroutine) if a reload of the users
// file later drops the session's key.
func (r *LoginRules) login(st *LoginState, remote string, frame, reply []byte, revoke func()) ([]byte, bool) {
	var m wire.Login
	if err := wire.DecodeLogin(frame, &m); err != nil {
		return wire.AppendReject(reply, 0, DecodeReason(err)), false
	}
	if st.UserID != 0 {
		return wire.AppendLoginRejected(reply, wire.LoginAlready), false
	}
	name := m.UserName()
	if m.Version != wire.Version {
		r.Log.Info("login refused: protocol version", "remote", remote, "user", name, "version", m.Version)
		return wire.AppendLoginRejected(reply, wire.LoginBadVersion), false
	}
	res := auth.BadCredentials
	var grant *auth.Session
	if r.Guard != nil {
		grant, res = r.Guard.Login(r.Service, remote, name, m.KeyBytes(), revoke)
	}
	switch res {
	case auth.OK:
		st.Grant = grant
		st.UserID, st.UserName = grant.UserID, name
		acc := wire.LoginAccepted{UserID: grant.UserID, ServerTime: grant.Start().UnixNano()}
		return wire.AppendLoginAccepted(reply, &acc), false
	case auth.TooManySessions:
		return wire.AppendLoginRejected(reply, wire.LoginTooManySessions), false
	case auth.BadCredentials:
		st.Failures++
		r.Fails.Inc()
		if st.Failures < r.MaxFailures {
			return wire.AppendLoginRejected(reply, wire.LoginBadCredentials), false
		}
	}
	// Throttled, or this connection's own failures reached the limit.
	reply = wire.AppendLoginRejected(reply, wire.LoginRateLimited)
	return wire.AppendLogout(reply, wire.LogoutLoginFailures), true
}

// DecodeReason is the reject reason for a frame that failed to decode.
func DecodeReason(err error) uint16 {
	if errors.Is(err, wire.ErrBadLength) {
		return wire.ReasonBadLength
	}
	return wire.ReasonMalformed
}

// The defaults both servers share: a zero field of either configuration
// means its default. Commands use these as their flags' defaults, so each
// is written once.
const (
	DefaultHeartbeat        = 5 * time.Second // the server sends a heartbeat when it has been quiet this long
	DefaultMaxLoginFailures = 3               // failed logins on one connection before it is closed
)

// SetDefaults fills, the same way for both servers, the settings their
// configurations share: the logger (slog's default), the guard (one over
// users without rate or session limits, or none if users is nil too), the
// heartbeat interval and the failed-login limit. Each server's own
// setDefaults calls it with its fields, then fills its own.
func SetDefaults(logger **slog.Logger, guard **auth.Guard, users *Users, heartbeat *time.Duration, maxFailures *int) {
	if *logger == nil {
		*logger = slog.Default()
	}
	if *guard == nil {
		*guard = newGuard(users, auth.Config{Logger: *logger})
	}
	if *heartbeat == 0 {
		*heartbeat = DefaultHeartbeat
	}
	if *maxFailures == 0 {
		*maxFailures = DefaultMaxLoginFailures
	}
}
