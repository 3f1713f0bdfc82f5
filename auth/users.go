package auth

import (
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Users is the table of users allowed to log in, loaded from a users file.
// A Users value is never changed once parsed: a reload parses a new one and
// the Guard swaps it in.
//
// The file has one user per line: a numeric user id, a user name (1 to 16
// printable ASCII characters, no spaces), the hex SHA-256 of the user's API
// key, or of two keys separated by a comma (during a key rotation both are
// valid), and optional limits as key=value fields. Blank lines and lines
// starting with # are ignored:
//
//	# id  name   sha256(api key)[,sha256(second key)]  [rate=N] [burst=N] [sessions=N]
//	1     alice  4a3ad2f5...
//	2     bob    9c0e1a77...,51b2c3d4...              rate=500 burst=50 sessions=2
//
// rate is the user's request rate (new orders, cancels and replaces per
// second, across all of the user's sessions), burst how many requests may
// come at once above that rate, sessions the most order-entry sessions the
// user may hold at once. A limit left out takes the server's default;
// rate=off lets the user send as fast as the server reads.
//
// API keys are long random tokens issued by the operator, not passwords
// chosen by people, so one round of SHA-256 is enough to keep the file
// from disclosing them; it is not a password hash.
type Users struct {
	byName map[string]*User
}

// User is one line of the users file.
type User struct {
	ID     uint32
	Name   string
	Keys   []KeyHash // one, or two during a rotation
	Limits Limits    // zero fields: the server's defaults
}

// KeyHash is the SHA-256 of an API key.
type KeyHash [sha256.Size]byte

// Limits bound what one user may do. A zero field means "the default" in a
// users file and "unlimited" once defaults are applied (see Guard).
type Limits struct {
	Rate        float64 // requests per second across the user's sessions; negative: unlimited
	Burst       int     // requests allowed at once above Rate
	MaxSessions int     // order-entry sessions at once
}

// orDefault fills the zero fields of l from def. A user with a rate of its
// own but no burst gets a tenth of a second at its own rate, not the
// default burst, which was sized for the default rate.
func (l Limits) orDefault(def Limits) Limits {
	switch {
	case l.Burst != 0:
	case l.Rate > 0:
		l.Burst = max(1, int(l.Rate/10))
	default:
		l.Burst = def.Burst
	}
	if l.Rate == 0 {
		l.Rate = def.Rate
	}
	if l.MaxSessions == 0 {
		l.MaxSessions = def.MaxSessions
	}
	return l
}

// maxKeys is how many keys a user may hold at once: the current one and,
// during a rotation, the next.
const maxKeys = 2

// ParseUsers reads a users file.
func ParseUsers(r io.Reader) (*Users, error) {
	u := &Users{byName: make(map[string]*User)}
	ids := make(map[uint32]string)
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		f := strings.Fields(text)
		if len(f) < 3 {
			return nil, fmt.Errorf("users: line %d: want \"id name sha256hex[,sha256hex] [rate=N burst=N sessions=N]\", got %d fields", line, len(f))
		}
		id, err := strconv.ParseUint(f[0], 10, 32)
		if err != nil || id == 0 {
			return nil, fmt.Errorf("users: line %d: bad user id %q (a positive 32-bit integer)", line, f[0])
		}
		name := f[1]
		if len(name) > 16 || !printable(name) {
			return nil, fmt.Errorf("users: line %d: bad user name %q (1-16 printable ASCII characters)", line, name)
		}
		usr := &User{ID: uint32(id), Name: name}
		hashes := strings.Split(f[2], ",")
		if len(hashes) > maxKeys {
			return nil, fmt.Errorf("users: line %d: %d keys for %q (at most %d: the current one and the next)", line, len(hashes), name, maxKeys)
		}
		for _, hx := range hashes {
			var h KeyHash
			if b, err := hex.DecodeString(hx); err != nil || len(b) != len(h) {
				return nil, fmt.Errorf("users: line %d: bad key hash (64 hex digits of SHA-256)", line)
			} else {
				copy(h[:], b)
			}
			usr.Keys = append(usr.Keys, h)
		}
		if len(usr.Keys) == 2 && usr.Keys[0] == usr.Keys[1] {
			return nil, fmt.Errorf("users: line %d: the two keys of %q are the same", line, name)
		}
		for _, kv := range f[3:] {
			if err := usr.Limits.set(kv); err != nil {
				return nil, fmt.Errorf("users: line %d: %w", line, err)
			}
		}
		if _, dup := u.byName[name]; dup {
			return nil, fmt.Errorf("users: line %d: duplicate user name %q", line, name)
		}
		if other, dup := ids[usr.ID]; dup {
			return nil, fmt.Errorf("users: line %d: user id %d already used by %q", line, id, other)
		}
		ids[usr.ID] = name
		u.byName[name] = usr
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	if len(u.byName) == 0 {
		return nil, fmt.Errorf("users: no users defined")
	}
	return u, nil
}

// set reads one key=value limit of a users-file line.
func (l *Limits) set(kv string) error {
	k, v, ok := strings.Cut(kv, "=")
	if !ok {
		return fmt.Errorf("%q is not key=value (rate, burst, sessions)", kv)
	}
	switch k {
	case "rate":
		if v == "off" {
			l.Rate = -1 // unlimited, whatever the default
			return nil
		}
		r, err := strconv.ParseFloat(v, 64)
		if err != nil || r <= 0 || r > 1e9 {
			return fmt.Errorf("rate=%q: want requests per second, above 0 and at most 1e9, or off", v)
		}
		l.Rate = r
	case "burst", "sessions":
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n > 1<<30 {
			return fmt.Errorf("%s=%q: want a positive integer", k, v)
		}
		if k == "burst" {
			l.Burst = n
		} else {
			l.MaxSessions = n
		}
	default:
		return fmt.Errorf("unknown limit %q (rate, burst, sessions)", k)
	}
	return nil
}

func printable(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// Lookup returns the user with that name, or nil.
func (u *Users) Lookup(name string) *User { return u.byName[name] }

// match returns which of the user's keys apiKey is, by its hash. Every key
// is compared, in constant time, whatever matches.
func (usr *User) match(sum *KeyHash) bool {
	ok := 0
	for i := range usr.Keys {
		ok |= subtle.ConstantTimeCompare(sum[:], usr.Keys[i][:])
	}
	return ok == 1
}

// holds reports whether h is one of the user's keys.
func (usr *User) holds(h KeyHash) bool {
	for _, k := range usr.Keys {
		if k == h {
			return true
		}
	}
	return false
}

// Authenticate returns the id of the user whose name and API key match.
// The key comparison takes the same time whatever the key.
func (u *Users) Authenticate(name string, apiKey []byte) (uint32, bool) {
	usr := u.byName[name]
	sum := KeyHash(sha256.Sum256(apiKey))
	if usr == nil || !usr.match(&sum) {
		return 0, false
	}
	return usr.ID, true
}

// HashKey returns the users-file form of an API key.
func HashKey(apiKey string) string {
	sum := sha256.Sum256([]byte(apiKey))
	return hex.EncodeToString(sum[:])
}

// Len reports how many users there are.
func (u *Users) Len() int { return len(u.byName) }
