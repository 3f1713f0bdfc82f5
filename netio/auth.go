package netio

import (
	"sync/atomic"

	"github.com/ringex/ringex/auth"
	"github.com/ringex/ringex/netio/wire"
)

// The servers' side of package auth: a Login, once its version is checked,
// goes to the guard, which throttles failures across connections, checks
// the key, counts the user's sessions and writes the audit log. A session
// keeps the *auth.Session it got (its "grant") to take request tokens from
// its user's bucket (admit) and to end it when the connection closes. If a
// reload revokes its key, the guard calls back and the session is logged
// out with reason 8 (key revoked). The login itself is LoginRules.login
// (server.go), one for both servers.

// LogoutCode records the Logout reason a server sent on a connection, from
// whichever goroutine sent it, for the "session ended" audit line.
type LogoutCode struct{ v atomic.Uint32 } // reason + 1; 0: none sent

func (l *LogoutCode) Set(reason uint16) { l.v.CompareAndSwap(0, uint32(reason)+1) }

// text is the reason's text, or "" if no Logout was sent (the client
// closed, or the connection failed).
func (l *LogoutCode) Text() string {
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
