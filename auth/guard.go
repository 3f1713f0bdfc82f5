package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Service is the server a session belongs to.
type Service uint8

const (
	OrderEntry Service = iota // counted against Limits.MaxSessions, rate limited
	MarketData                // private order events only: neither
)

func (s Service) String() string {
	if s == MarketData {
		return "market data"
	}
	return "order entry"
}

// Result is the outcome of a login.
type Result uint8

const (
	OK              Result = iota
	BadCredentials         // no such user, or a wrong key
	Throttled              // the address or the name is blocked: the key was not checked
	TooManySessions        // the user holds Limits.MaxSessions order-entry sessions
)

// Config configures a Guard. Only Users is required.
type Config struct {
	Users *Users
	// Defaults apply to users whose line leaves a limit out; a zero
	// field there means unlimited.
	Defaults   Limits
	Throttle   ThrottleConfig
	Logger     *slog.Logger
	Registerer prometheus.Registerer // nil: no metrics exported
}

// Guard authenticates logins against the users table and keeps, per user,
// the rate limiter and the live sessions. Its mutex is taken on login,
// end of session and reload, never per request.
type Guard struct {
	cfg      Config
	log      *slog.Logger
	m        *metrics
	throttle *throttle
	nextID   atomic.Uint64

	mu    sync.Mutex
	users *Users
	// accounts holds, by name, every user that logged in since it was
	// last added: an account outlives its sessions, so that logging out
	// and in again does not refill the user's bucket.
	accounts map[string]*account
}

// account is one user's live state: its limiter and its sessions.
type account struct {
	name string
	id   uint32
	limiter
	maxSessions int                   // 0: unlimited; under Guard.mu
	sessions    map[*Session]struct{} // under Guard.mu
	orderEntry  int                   // order-entry sessions; under Guard.mu
}

// Session is one logged-in connection.
type Session struct {
	g      *Guard
	acct   *account
	ID     uint64 // the audit log's session id, unique in the process
	UserID uint32
	User   string
	Remote string // the client's address
	svc    Service
	key    KeyHash
	revoke func()
	start  time.Time
	// Under Guard.mu:
	ended   bool
	revoked bool
}

// New builds a Guard over cfg.Users.
func New(cfg Config) *Guard {
	if cfg.Users == nil {
		panic("auth: Config.Users is nil")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Guard{
		cfg:      cfg,
		log:      cfg.Logger.With("component", "auth"),
		m:        newMetrics(cfg.Registerer),
		throttle: newThrottle(cfg.Throttle),
		users:    cfg.Users,
		accounts: make(map[string]*account),
	}
}

// Users returns the table in force.
func (g *Guard) Users() *Users {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.users
}

// host is the part of an address the throttle counts: the IP, any port.
func host(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// Login authenticates name and apiKey for a connection of svc whose server
// sees remote. revoke is called (from Reload's goroutine) if the key the
// session logged in with is revoked: it must log the connection out, and
// the server must then call End. On OK the session is returned.
func (g *Guard) Login(svc Service, remote, name string, apiKey []byte, revoke func()) (*Session, Result) {
	now := time.Now()
	addr := remote // the client's own: TLS connections are served in place too
	h := host(addr)
	if byUser, until, blocked := g.throttle.blocked(h, name, now.UnixNano()); blocked {
		g.m.throttled.WithLabelValues(by(byUser)).Inc()
		g.log.Debug("login refused: throttled", "service", svc.String(), "user", name, "remote", addr,
			"by", by(byUser), "until", time.Unix(0, until).UTC())
		return nil, Throttled
	}
	sum := KeyHash(sha256.Sum256(apiKey))

	g.mu.Lock()
	usr := g.users.Lookup(name)
	if usr == nil || !usr.match(&sum) {
		g.mu.Unlock()
		g.failed(svc, addr, h, name, now)
		return nil, BadCredentials
	}
	a := g.accounts[name]
	if a == nil {
		a = &account{name: name, id: usr.ID, sessions: make(map[*Session]struct{})}
		a.apply(usr.Limits.orDefault(g.cfg.Defaults))
		g.accounts[name] = a
	}
	if svc == OrderEntry && a.maxSessions > 0 && a.orderEntry >= a.maxSessions {
		n := a.orderEntry
		g.mu.Unlock()
		g.m.sessionsRefused.Inc()
		g.log.Warn("login refused: too many sessions", "service", svc.String(), "user", name, "remote", addr, "sessions", n)
		return nil, TooManySessions
	}
	s := &Session{g: g, acct: a, ID: g.nextID.Add(1), UserID: usr.ID, User: name, Remote: addr,
		svc: svc, key: sum, revoke: revoke, start: now}
	a.sessions[s] = struct{}{}
	if svc == OrderEntry {
		a.orderEntry++
	}
	g.mu.Unlock()

	g.throttle.succeed(h, name)
	g.m.logins.WithLabelValues(svc.String()).Inc()
	g.log.Info("login", "service", svc.String(), "user", name, "user_id", usr.ID, "remote", addr,
		"session", s.ID, "key", fingerprint(sum))
	return s, OK
}

func by(byUser bool) string {
	if byUser {
		return "user"
	}
	return "address"
}

// failed counts and logs a failed login, and any block it starts.
func (g *Guard) failed(svc Service, addr, h, name string, now time.Time) {
	g.m.failures.WithLabelValues(svc.String()).Inc()
	g.log.Warn("login failed", "service", svc.String(), "user", name, "remote", addr)
	for _, b := range g.throttle.fail(h, name, now.UnixNano()) {
		g.m.blocks.WithLabelValues(by(b.byUser)).Inc()
		until := time.Unix(0, b.until)
		g.log.Warn("login throttle: blocking", "by", by(b.byUser), "user", name, "remote", addr,
			"for", until.Sub(now).Round(time.Millisecond).String(), "until", until.UTC())
	}
}

// apply sets the account's limits (under Guard.mu).
func (a *account) apply(l Limits) {
	a.rate.Store(newRateParams(l))
	a.maxSessions = max(l.MaxSessions, 0)
}

// Allow takes one request token from the session's user. It never blocks
// and never allocates; the clock is read only when the user is limited.
// A nil Session (a server's test harness without a guard) is unlimited.
func (s *Session) Allow() bool {
	if s == nil || s.acct.unlimited() {
		return true
	}
	return s.acct.allow(time.Now().UnixNano())
}

// Start is when the session logged in.
func (s *Session) Start() time.Time { return s.start }

// End records that the session's connection closed; err (may be nil) is
// what closed it, logout the reason of the Logout the server sent ("" if
// none). Safe on a nil Session and more than once.
func (s *Session) End(err error, logout string) {
	if s == nil {
		return
	}
	g := s.g
	g.mu.Lock()
	if s.ended {
		g.mu.Unlock()
		return
	}
	s.ended = true
	delete(s.acct.sessions, s)
	if s.svc == OrderEntry {
		s.acct.orderEntry--
	}
	revoked := s.revoked
	g.mu.Unlock()
	attrs := []any{"service", s.svc.String(), "user", s.User, "remote", s.Remote, "session", s.ID,
		"duration", time.Since(s.start).Round(time.Millisecond).String()}
	switch {
	case revoked:
		attrs = append(attrs, "logout", "key revoked")
	case logout != "":
		attrs = append(attrs, "logout", logout)
	}
	if err != nil {
		attrs = append(attrs, "err", err)
	}
	g.log.Info("session ended", attrs...)
}

// ReloadFrom parses a users file and reloads it. On a parse error the
// table in force stays and the error is returned.
func (g *Guard) ReloadFrom(r io.Reader) (ReloadStats, error) {
	u, err := ParseUsers(r)
	if err != nil {
		g.m.reloads.WithLabelValues("error").Inc()
		g.log.Error("users reload failed: keeping the users in force", "err", err)
		return ReloadStats{}, err
	}
	return g.Reload(u), nil
}

// ReloadStats says what a reload changed.
type ReloadStats struct {
	Users       int `json:"users"`        // users in the new table
	Added       int `json:"added"`        // users that were not in the old one
	Removed     int `json:"removed"`      // users gone
	KeysAdded   int `json:"keys_added"`   // keys new for users in both
	KeysRemoved int `json:"keys_removed"` // keys gone for users in both
	Revoked     int `json:"revoked"`      // live sessions revoked
}

// Reload swaps in a new users table. Every live session whose user is gone
// (or has another id) or whose key the user no longer holds is revoked:
// its revoke function is called before Reload returns, outside the lock.
// Users still present get their new limits at once.
func (g *Guard) Reload(u *Users) ReloadStats {
	st := ReloadStats{Users: u.Len()}
	var revoke []*Session
	g.mu.Lock()
	old := g.users
	g.users = u
	for name, a := range g.accounts {
		usr := u.Lookup(name)
		if usr == nil || usr.ID != a.id {
			for s := range a.sessions {
				revoke = append(revoke, s)
			}
			delete(g.accounts, name) // a new login starts a new account
			continue
		}
		a.apply(usr.Limits.orDefault(g.cfg.Defaults))
		for s := range a.sessions {
			// A session revoked by an earlier reload stays in
			// a.sessions until its connection ends: revoke it once.
			if !s.revoked && !usr.holds(s.key) {
				revoke = append(revoke, s)
			}
		}
	}
	for _, s := range revoke {
		s.revoked = true
	}
	g.mu.Unlock()

	g.auditChanges(old, u, &st)
	g.m.reloads.WithLabelValues("ok").Inc()
	g.log.Info("users reloaded", "users", st.Users, "added", st.Added, "removed", st.Removed,
		"keys_added", st.KeysAdded, "keys_removed", st.KeysRemoved, "revoked_sessions", len(revoke))
	for _, s := range revoke {
		st.Revoked++
		g.m.revoked.Inc()
		g.log.Warn("session revoked: key no longer valid", "service", s.svc.String(), "user", s.User,
			"remote", s.Remote, "session", s.ID, "key", fingerprint(s.key))
		if s.revoke != nil {
			s.revoke()
		}
	}
	return st
}

// auditChanges logs and counts every user and key that differs between
// two tables.
func (g *Guard) auditChanges(old, u *Users, st *ReloadStats) {
	for name, nu := range u.byName {
		ou := old.byName[name]
		if ou == nil || ou.ID != nu.ID {
			st.Added++
			g.m.keyChanges.WithLabelValues("user_added").Inc()
			g.log.Info("users: user added", "user", name, "user_id", nu.ID, "keys", fingerprints(nu.Keys))
			continue
		}
		for _, k := range nu.Keys {
			if !ou.holds(k) {
				st.KeysAdded++
				g.m.keyChanges.WithLabelValues("key_added").Inc()
				g.log.Info("users: key added", "user", name, "key", fingerprint(k))
			}
		}
		for _, k := range ou.Keys {
			if !nu.holds(k) {
				st.KeysRemoved++
				g.m.keyChanges.WithLabelValues("key_removed").Inc()
				g.log.Info("users: key removed", "user", name, "key", fingerprint(k))
			}
		}
		if ou.Limits != nu.Limits {
			g.log.Info("users: limits changed", "user", name, "rate", nu.Limits.Rate, "burst", nu.Limits.Burst,
				"sessions", nu.Limits.MaxSessions)
		}
	}
	for name, ou := range old.byName {
		if nu := u.byName[name]; nu == nil || nu.ID != ou.ID {
			st.Removed++
			g.m.keyChanges.WithLabelValues("user_removed").Inc()
			g.log.Info("users: user removed", "user", name, "user_id", ou.ID)
		}
	}
}

// fingerprint names a key in logs without disclosing it: the first 8 hex
// digits of its SHA-256 (the users file's own form).
func fingerprint(h KeyHash) string { return hex.EncodeToString(h[:4]) }

func fingerprints(ks []KeyHash) string {
	s := ""
	for i, k := range ks {
		if i > 0 {
			s += ","
		}
		s += fingerprint(k)
	}
	return s
}

// Sessions reports how many sessions user holds, by service, for tests and
// the admin endpoint.
func (g *Guard) Sessions(user string) (orderEntry, all int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if a := g.accounts[user]; a != nil {
		return a.orderEntry, len(a.sessions)
	}
	return 0, 0
}

func (r Result) String() string {
	switch r {
	case OK:
		return "ok"
	case BadCredentials:
		return "bad credentials"
	case Throttled:
		return "throttled"
	case TooManySessions:
		return "too many sessions"
	}
	return fmt.Sprintf("Result(%d)", uint8(r))
}
