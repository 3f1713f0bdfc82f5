package auth

import (
	"sync"
	"time"
)

// ThrottleConfig sets how failed logins are counted across connections.
// The zero value gives the defaults.
type ThrottleConfig struct {
	// AddrFailures failed logins from one source address (its IP, any
	// port) within Window block that address (default 10).
	AddrFailures int
	// UserFailures failed logins for one user name within Window block
	// that name, from every address (default 30). It is higher than
	// AddrFailures: it exists for an attacker spread over many
	// addresses, and blocking a name also blocks its rightful owner.
	UserFailures int
	// Window is how long failures are remembered (default 1 minute).
	Window time.Duration
	// Backoff is the first block (default 1s); each further block of the
	// same address or name doubles it, up to MaxBackoff (default 5
	// minutes). A name or address that stays quiet for Window after its
	// block ends starts again from Backoff.
	Backoff    time.Duration
	MaxBackoff time.Duration
	// MaxEntries bounds the addresses and names remembered (default
	// 100,000), so that failures with ever new names cannot grow the
	// table without bound: past it, entries that are neither blocked nor
	// recent are dropped first, then any.
	MaxEntries int
}

// DefaultThrottle is the configuration the zero ThrottleConfig stands for
// (ringexd's flags take their defaults from it).
func DefaultThrottle() ThrottleConfig {
	var c ThrottleConfig
	c.setDefaults()
	return c
}

func (c *ThrottleConfig) setDefaults() {
	if c.AddrFailures == 0 {
		c.AddrFailures = 10
	}
	if c.UserFailures == 0 {
		c.UserFailures = 30
	}
	if c.Window == 0 {
		c.Window = time.Minute
	}
	if c.Backoff == 0 {
		c.Backoff = time.Second
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = 5 * time.Minute
	}
	if c.MaxEntries == 0 {
		c.MaxEntries = 100000
	}
}

// throttle counts failed logins per source address and per user name.
// It is used on the login path only, under its own mutex.
type throttle struct {
	cfg ThrottleConfig
	mu  sync.Mutex
	m   map[throttleKey]*strikes
}

// throttleKey is an address or a user name: the two never collide.
type throttleKey struct {
	user bool
	s    string
}

type strikes struct {
	fails        int   // failures since first
	first        int64 // Unix ns of the first failure counted
	blockedUntil int64 // Unix ns; 0: not blocked
	blocks       int   // blocks in a row: the back-off's exponent
}

func newThrottle(cfg ThrottleConfig) *throttle {
	cfg.setDefaults()
	return &throttle{cfg: cfg, m: make(map[throttleKey]*strikes)}
}

// blocked reports whether a login from addr for user must be refused at
// now, and until when.
func (t *throttle) blocked(addr, user string, now int64) (byUser bool, until int64, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s := t.m[throttleKey{false, addr}]; s != nil && now < s.blockedUntil {
		return false, s.blockedUntil, true
	}
	if s := t.m[throttleKey{true, user}]; s != nil && now < s.blockedUntil {
		return true, s.blockedUntil, true
	}
	return false, 0, false
}

// block is a block that a failure started.
type block struct {
	byUser bool
	until  int64
}

// fail counts a failed login and returns the blocks it started (none, one
// or both of address and name).
func (t *throttle) fail(addr, user string, now int64) (started []block) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if until, ok := t.strike(throttleKey{false, addr}, t.cfg.AddrFailures, now); ok {
		started = append(started, block{false, until})
	}
	if until, ok := t.strike(throttleKey{true, user}, t.cfg.UserFailures, now); ok {
		started = append(started, block{true, until})
	}
	return started
}

func (t *throttle) strike(k throttleKey, limit int, now int64) (until int64, started bool) {
	s := t.m[k]
	if s == nil {
		if len(t.m) >= t.cfg.MaxEntries {
			t.evict(now)
		}
		s = &strikes{}
		t.m[k] = s
	}
	window := t.cfg.Window.Nanoseconds()
	if s.blockedUntil != 0 && now-s.blockedUntil > window {
		s.blocks = 0 // quiet for a window after its last block: forgiven
	}
	if s.fails == 0 || now-s.first > window {
		s.fails, s.first = 0, now
	}
	s.fails++
	if s.fails < limit {
		return 0, false
	}
	backoff := t.cfg.Backoff
	for i := 0; i < s.blocks && backoff < t.cfg.MaxBackoff; i++ {
		backoff *= 2
	}
	backoff = min(backoff, t.cfg.MaxBackoff)
	s.blocks++
	s.fails = 0
	s.blockedUntil = now + backoff.Nanoseconds()
	return s.blockedUntil, true
}

// succeed forgets the failures of addr and user after a good login. A
// block in force stays: it refused the attempt before the key was checked.
func (t *throttle) succeed(addr, user string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range [2]throttleKey{{false, addr}, {true, user}} {
		if s := t.m[k]; s != nil {
			s.fails = 0
		}
	}
}

// evict makes room: entries past their block and their window first; if
// that frees nothing, an arbitrary eighth of the table (it is full of live
// attackers), so that the sweep is paid once per many insertions.
func (t *throttle) evict(now int64) {
	window := t.cfg.Window.Nanoseconds()
	for k, s := range t.m {
		if now > s.blockedUntil+window && now-s.first > window {
			delete(t.m, k)
		}
	}
	if len(t.m) < t.cfg.MaxEntries {
		return
	}
	for k := range t.m {
		if len(t.m) <= t.cfg.MaxEntries-max(t.cfg.MaxEntries/8, 1) {
			return
		}
		delete(t.m, k)
	}
}

// len reports how many addresses and names are remembered.
func (t *throttle) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}
