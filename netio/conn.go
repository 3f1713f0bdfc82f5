package netio

import (
	"io"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/ringex/ringex/netio/wire"
)

// TickInterval is how often both servers' tickers run (OnTick): the
// heartbeat, idle and linger checks of every connection.
const TickInterval = time.Second / 4

// Conn is what every connection has on either server: its login, its
// outbox, its clocks and the Logout it was sent. Each service's connection
// type (order entry's session, market data's feedConn) embeds one.
//
// Ownership: LoginState and Reply belong to the connection's event loop
// (LoginState.Grant may be read by any goroutine after the login); Out,
// the clocks and Outcome may be used from any goroutine.
type Conn struct {
	LoginState
	Remote string // the peer's address, for logs and the login throttle
	Reply  []byte // replies produced while decoding one read (Traffic)

	Out      Outbox
	LastRecv atomic.Int64 // Unix ns of the last inbound bytes
	LastSent atomic.Int64 // Unix ns of the last outbound write
	Outcome  LogoutCode   // the Logout the server sent, for the audit (auth.go)

	// proxy is the state of the PROXY header a connection from a trusted
	// proxy begins with (proxy.go): 0 none awaited (or read), > 0 awaited
	// until that Unix ns, proxyWriting while the loop sets Remote from
	// it, proxyTimedOut once the ticker has claimed the timeout. Whoever
	// moves it from > 0 first owns the outcome, so Remote is written only
	// while no other goroutine reads it.
	proxy atomic.Int64
}

const (
	proxyWriting  = -2
	proxyTimedOut = -1
)

// Open readies c for the connection gc: its outbox writes to gc's
// descriptor (gc.Fd(), gnet's own; see outbox.go for why that is safe) with
// a cap of max bytes, and logs out with reason past the cap or the budget. Both clocks start now: a new
// connection is neither idle nor "quiet since 1970" and owed a heartbeat
// at the first tick.
//
// A connection enrolled by Server.Enroll is a TLS one: its context, until
// the service replaces it with its own, is its TLSConn, which the outbox
// then seals every write with; and since crypto/tls may hold records it
// read ahead during the handshake, a first Traffic is asked for at once
// (gnet's Wake) to decrypt them.
func (c *Conn) Open(gc gnet.Conn, max int, budget *ByteBudget, reason uint16, hooks *OutboxHooks) {
	if a := gc.RemoteAddr(); a != nil {
		c.Remote = a.String()
	}
	c.Out.Init(gc.Fd(), max, budget, reason, hooks)
	if t, ok := gc.Context().(*TLSConn); ok {
		if t.Remote != "" {
			c.Remote = t.Remote // declared by a PROXY header before the handshake
		}
		c.Out.tls = t
		_ = gc.Wake(nil)
	}
	c.Touch()
	c.LastSent.Store(c.LastRecv.Load())
}

// Touch records inbound bytes.
func (c *Conn) Touch() { c.LastRecv.Store(time.Now().UnixNano()) }

// Write sends b from any goroutine, the connection's event loop included.
// b is not retained. It reports false if the bytes were dropped (the
// outbox is no longer open, or they did not fit and the connection is
// being cut).
func (c *Conn) Write(b []byte) bool {
	if len(b) == 0 {
		return true
	}
	if !c.Out.write(b) {
		return false
	}
	c.LastSent.Store(time.Now().UnixNano())
	return true
}

// WriteFinal writes b, the connection's last bytes, from its event loop
// when the frames it just decoded end the session (a Logout from the
// client, an impossible frame length, too many failed logins). It reports
// whether the loop may close the connection now (OnTraffic returning
// Close): only if the socket took every byte at once; otherwise the outbox
// closes it once they are out (or the linger deadline passes), and the
// connection's input is ignored until then.
func (c *Conn) WriteFinal(b []byte) (closeNow bool) {
	c.LastSent.Store(time.Now().UnixNano())
	return c.Out.end(b)
}

// Logout sends a Logout with reason and closes the connection once it is
// written. Safe from any goroutine; only the first call has an effect.
func (c *Conn) Logout(reason uint16) {
	c.Outcome.Set(reason) // for the audit line (auth.go)
	c.LastSent.Store(time.Now().UnixNano())
	c.Out.logout(reason)
}

// Close is the shared part of OnClose: the audit line and the user's
// session slot (the grant), the outbox's release (no write reaches the
// descriptor after it, and gnet closes the descriptor only after OnClose),
// and the server's connection counts.
func (s *Server) Close(c *Conn, err error) {
	c.Grant.End(err, c.Outcome.Text())
	c.Out.Release()
	s.Conns.Add(-1)
	s.m.Open.Dec()
}

// Tick is a connection's share of its server's OnTick (on gnet's ticker
// goroutine): it logs out a connection that has sent nothing for idle (0:
// never), sends a heartbeat to one the server has been quiet to for
// heartbeat, and closes one whose last bytes waited past the linger
// deadline.
func (s *Server) Tick(c *Conn, now int64, idle, heartbeat time.Duration) {
	if p := c.proxy.Load(); p != 0 {
		// No PROXY header yet: neither idle nor owed a heartbeat, but
		// closed if it has not come by its deadline.
		if p > 0 && now > p && c.proxy.CompareAndSwap(p, proxyTimedOut) {
			s.m.ProxyErrors.Inc()
			s.log.Warn(s.name+": no PROXY header in time: closing", "remote", c.Remote)
			c.Logout(wire.LogoutIdle)
		}
		c.Out.tick(now)
		return
	}
	switch {
	case idle > 0 && now-c.LastRecv.Load() > idle.Nanoseconds():
		// UserName belongs to the loop (OnTick runs on its own
		// goroutine): the remote address identifies the connection.
		s.log.Info(s.name+": connection idle: logging out", "remote", c.Remote)
		c.Logout(wire.LogoutIdle)
	case now-c.LastSent.Load() > heartbeat.Nanoseconds():
		c.Write(wire.AppendHeartbeat(nil))
	}
	c.Out.tick(now)
}

// Traffic is the frame loop of both servers' OnTraffic. It decodes every
// complete frame at the front of gc's inbound buffer, in place, with
// handle, which appends its answers to c.Reply and may end the session
// (gnet.Close). A frame whose length cannot be valid ends it with
// Logout(bad frame): the stream is lost. Input that arrives while a Logout
// is on its way out is discarded unread.
//
// When the session ends, Traffic writes c.Reply as the connection's last
// bytes and returns gnet.Close if the loop may close the connection now;
// otherwise it leaves c.Reply for the caller to write (each server has its
// own path for replies) and returns gnet.None.
func (s *Server) Traffic(gc gnet.Conn, c *Conn, handle func(frame []byte) gnet.Action) gnet.Action {
	c.Touch()
	if !c.Out.Open() {
		// A Logout is on its way out and the connection closes after
		// it: nothing the client sends now is acted on.
		gc.Discard(-1)
		return gnet.None
	}
	buf, _ := gc.Peek(-1)
	var hdr int // the PROXY header's bytes at the front of buf
	if c.proxy.Load() > 0 {
		n, action := s.proxyHeader(c, buf)
		if n == 0 && action == gnet.None {
			return gnet.None // partial header: wait for the rest
		}
		if action == gnet.Close {
			gc.Discard(n)
			return s.final(c)
		}
		hdr, buf = n, buf[n:]
	}
	var off int
	var action gnet.Action
	if t := c.Out.tls; t != nil {
		off, action = s.tlsFrames(c, t, buf, handle)
	} else {
		off, action = s.Frames(c, buf, handle)
	}
	if hdr+off > 0 {
		// One Discard, after buf is no longer read; Discard(0) would
		// drop the whole buffer, partial frame included.
		gc.Discard(hdr + off)
	}
	if action == gnet.Close {
		return s.final(c)
	}
	return action
}

// final writes c.Reply as the connection's last bytes: gnet.Close if the
// loop may close it now, gnet.None if the write's callback will.
func (s *Server) final(c *Conn) gnet.Action {
	closeNow := c.WriteFinal(c.Reply)
	c.Reply = c.Reply[:0]
	if !closeNow {
		return gnet.None // closed by the final write's callback
	}
	return gnet.Close
}

// ExpectProxy makes c, just opened, await a PROXY header if the server
// takes them (Server.Proxy) and its socket address is trusted. A TLS
// connection read its header before the handshake (netio/tlsfront).
func (s *Server) ExpectProxy(c *Conn, gc gnet.Conn) {
	if c.Out.tls == nil && s.Proxy.Trusts(gc.RemoteAddr()) {
		c.proxy.Store(time.Now().Add(ProxyTimeout).UnixNano())
	}
}

// proxyHeader reads the PROXY header at the front of buf for c: its
// length (0 while only part of it has come), and gnet.Close with a Logout
// in c.Reply if it is malformed or the ticker has closed c meanwhile.
func (s *Server) proxyHeader(c *Conn, buf []byte) (int, gnet.Action) {
	n, src, err := ParseProxyHeader(buf)
	if err == nil && n == 0 {
		return 0, gnet.None
	}
	p := c.proxy.Load()
	if p <= 0 || !c.proxy.CompareAndSwap(p, proxyWriting) {
		return len(buf), gnet.None // timed out: the ticker logs it out; input is discarded
	}
	if err != nil {
		s.m.ProxyErrors.Inc()
		s.log.Warn(s.name+": bad PROXY header: closing", "remote", c.Remote, "err", err)
		c.Reply = wire.AppendLogout(c.Reply, wire.LogoutBadFrame)
		c.Outcome.Set(wire.LogoutBadFrame)
		c.proxy.Store(0)
		return len(buf), gnet.Close
	}
	if src.IsValid() {
		c.Remote = src.String()
	}
	c.proxy.Store(0)
	return n, gnet.None
}

// Frames decodes and handles every complete frame at the front of buf (the
// loop of Traffic, apart from gnet). It returns how many bytes it consumed
// (all of buf once the session ends) and whether to close.
func (s *Server) Frames(c *Conn, buf []byte, handle func(frame []byte) gnet.Action) (int, gnet.Action) {
	off := 0
	for off < len(buf) {
		frame, n, err := wire.NextFrame(buf[off:], wire.MaxInboundFrame)
		if err != nil {
			// The length prefix cannot be valid: the stream is lost.
			s.log.Warn(s.name+": bad frame length: closing", "remote", c.Remote, "user", c.UserName, "err", err)
			c.Reply = wire.AppendLogout(c.Reply, wire.LogoutBadFrame)
			c.Outcome.Set(wire.LogoutBadFrame)
			return len(buf), gnet.Close
		}
		if n == 0 {
			break // partial frame: wait for the rest
		}
		off += n
		if action := handle(frame); action != gnet.None {
			return len(buf), action
		}
	}
	return off, gnet.None
}

// tlsFrames is Frames for a TLS connection: buf is ciphertext. It feeds
// buf to the record layer and decodes the frames of the plaintext as it
// comes out, record by record, so the plaintext buffer holds at most a
// record and a partial frame. It returns how much of buf crypto/tls took
// (all of it but on an error: a partial record is kept in crypto/tls's own
// buffer). A record that does not decrypt, or any other error of the
// record layer, closes the connection after the alert crypto/tls wrote;
// the client's close_notify closes it after the answers to what came
// before it.
func (s *Server) tlsFrames(c *Conn, t *TLSConn, buf []byte, handle func(frame []byte) gnet.Action) (int, gnet.Action) {
	t.pipe.src = buf
	action := gnet.None
	for action == gnet.None {
		n, err := t.readPlain()
		if n > 0 {
			var off int
			off, action = s.Frames(c, t.plain, handle)
			t.consumePlain(off)
		}
		if err != nil {
			if err != io.EOF {
				s.log.Info(s.name+": TLS record error: closing", "remote", c.Remote, "user", c.UserName, "err", err)
			}
			action = gnet.Close
		}
		if n == 0 {
			break
		}
	}
	used := len(buf) - len(t.pipe.src)
	t.pipe.src = nil
	if t.pipe.pending() {
		c.Out.flushTLS()
	}
	if action != gnet.None {
		return len(buf), action
	}
	return used, gnet.None
}

// BaseFrame handles the frames both servers answer alike: a Heartbeat
// (Touch recorded its arrival; a body makes it malformed), a Logout (the
// client ends the session: the answer is Logout 0 and the connection
// closes after it) and a type the server does not serve (Reject 2). The
// answer goes to c.Reply; reject is the reason of a Reject it appended (0:
// none), for the server's metrics.
func (c *Conn) BaseFrame(frame []byte) (action gnet.Action, reject uint16) {
	var err error
	switch wire.Type(frame) {
	case wire.TypeHeartbeat:
		err = wire.DecodeHeartbeat(frame)
	case wire.TypeLogout:
		if _, err = wire.DecodeLogout(frame); err == nil {
			c.Reply = wire.AppendLogout(c.Reply, wire.LogoutUserRequest)
			c.Outcome.Set(wire.LogoutUserRequest)
			return gnet.Close, 0
		}
		// Not a Logout: the session goes on.
	default:
		c.Reply = wire.AppendReject(c.Reply, 0, wire.ReasonUnknownType)
		return gnet.None, wire.ReasonUnknownType
	}
	if err != nil {
		reject = DecodeReason(err)
		c.Reply = wire.AppendReject(c.Reply, 0, reject)
	}
	return gnet.None, reject
}
