package netio

import (
	"sync/atomic"

	"github.com/panjf2000/gnet/v2"

	"github.com/ringex/ringex/auth"
	"github.com/ringex/ringex/netio/wire"
)

// The servers' side of package auth: a Login, once its version is checked,
// goes to the guard, which throttles failures across connections, checks
// the key, counts the user's sessions and writes the audit log. A session
// keeps the *auth.Session it got (its "grant") to take request tokens from
// its user's bucket (admit) and to end it when the connection closes. If a
// reload revokes its key, the guard calls back and the session is logged
// out with reason 7 (key revoked).

// logoutCode records the Logout reason a server sent on a connection, from
// whichever goroutine sent it, for the "session ended" audit line.
type logoutCode struct{ v atomic.Uint32 } // reason + 1; 0: none sent

func (l *logoutCode) set(reason uint16) { l.v.CompareAndSwap(0, uint32(reason)+1) }

// text is the reason's text, or "" if no Logout was sent (the client
// closed, or the connection failed).
func (l *logoutCode) text() string {
	if v := l.v.Load(); v != 0 {
		return wire.LogoutText(uint16(v - 1))
	}
	return ""
}

// newGuard is the guard a server builds for itself when it is given only a
// users table: no rate or session limits, the default login throttle.
func newGuard(users *Users, cfg auth.Config) *auth.Guard {
	if users == nil {
		return nil
	}
	cfg.Users = users
	return auth.New(cfg)
}

// authenticate answers a Login of the current version into s.reply.
func (g *Gateway) authenticate(s *session, name string, key []byte) gnet.Action {
	grant, res := g.cfg.Guard.Login(auth.OrderEntry, s.remote, name, key,
		func() { s.logout(g, wire.LogoutKeyRevoked) })
	switch res {
	case auth.OK:
		s.grant = grant
		s.userID, s.userName = grant.UserID, name
		s.reply = appendLoginAccepted(s.reply, grant.UserID)
		return gnet.None
	case auth.TooManySessions:
		s.reply = appendLoginRejected(s.reply, wire.LoginTooManySessions)
		return gnet.None
	case auth.BadCredentials:
		g.m.loginFails.Inc()
		if s.failures++; s.failures < g.cfg.MaxLoginFailures {
			s.reply = appendLoginRejected(s.reply, ReasonLoginBadCredentials)
			return gnet.None
		}
	}
	// Throttled, or this connection's own failures reached the limit.
	s.reply = appendLoginRejected(s.reply, ReasonLoginRateLimited)
	s.reply = appendLogout(s.reply, ReasonLogoutLoginFailures)
	s.closing.Store(true)
	return gnet.Close
}

// authenticate answers a market-data Login of the current version into
// fc.reply.
func (n *Notifier) authenticate(fc *feedConn, name string, key []byte) gnet.Action {
	res := auth.BadCredentials
	var grant *auth.Session
	if n.cfg.Guard != nil {
		grant, res = n.cfg.Guard.Login(auth.MarketData, fc.remote, name, key,
			func() { fc.logout(wire.LogoutKeyRevoked) })
	}
	switch res {
	case auth.OK:
		fc.grant = grant
		fc.userID, fc.userName = grant.UserID, name
		acc := wire.LoginAccepted{UserID: grant.UserID, ServerTime: grant.Start().UnixNano()}
		fc.reply = wire.AppendLoginAccepted(fc.reply, &acc)
		return gnet.None
	case auth.BadCredentials:
		n.m.loginFails.Inc()
		if fc.failures++; fc.failures < n.cfg.MaxLoginFailures {
			fc.reply = wire.AppendLoginRejected(fc.reply, wire.LoginBadCredentials)
			return gnet.None
		}
	}
	fc.reply = wire.AppendLoginRejected(fc.reply, wire.LoginRateLimited)
	fc.reply = wire.AppendLogout(fc.reply, wire.LogoutLoginFailures)
	fc.closing.Store(true)
	return gnet.Close
}
