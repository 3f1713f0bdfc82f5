package netio

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
//
// The file has one user per line: a numeric user id, a user name (1 to 16
// printable ASCII characters, no spaces) and the hex SHA-256 of the user's
// API key, separated by white space. Blank lines and lines starting with #
// are ignored:
//
//	# id  name   sha256(api key)
//	1     alice  4a3ad2f5...
//
// API keys are long random tokens issued by the operator, not passwords
// chosen by people, so one round of SHA-256 is enough to keep the file
// from disclosing them; it is not a password hash.
type Users struct {
	byName map[string]user
}

type user struct {
	id   uint32
	hash [sha256.Size]byte
}

// ParseUsers reads a users file.
func ParseUsers(r io.Reader) (*Users, error) {
	u := &Users{byName: make(map[string]user)}
	ids := make(map[uint32]string)
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		f := strings.Fields(text)
		if len(f) != 3 {
			return nil, fmt.Errorf("users: line %d: want \"id name sha256hex\", got %d fields", line, len(f))
		}
		id, err := strconv.ParseUint(f[0], 10, 32)
		if err != nil || id == 0 {
			return nil, fmt.Errorf("users: line %d: bad user id %q (a positive 32-bit integer)", line, f[0])
		}
		name := f[1]
		if len(name) > 16 || !printable(name) {
			return nil, fmt.Errorf("users: line %d: bad user name %q (1-16 printable ASCII characters)", line, name)
		}
		var h [sha256.Size]byte
		if b, err := hex.DecodeString(f[2]); err != nil || len(b) != sha256.Size {
			return nil, fmt.Errorf("users: line %d: bad key hash (64 hex digits of SHA-256)", line)
		} else {
			copy(h[:], b)
		}
		if _, dup := u.byName[name]; dup {
			return nil, fmt.Errorf("users: line %d: duplicate user name %q", line, name)
		}
		if other, dup := ids[uint32(id)]; dup {
			return nil, fmt.Errorf("users: line %d: user id %d already used by %q", line, id, other)
		}
		ids[uint32(id)] = name
		u.byName[name] = user{id: uint32(id), hash: h}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	if len(u.byName) == 0 {
		return nil, fmt.Errorf("users: no users defined")
	}
	return u, nil
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

// Authenticate returns the id of the user whose name and API key match.
// The key comparison takes the same time whatever the key.
func (u *Users) Authenticate(name string, apiKey []byte) (uint32, bool) {
	entry, ok := u.byName[name]
	sum := sha256.Sum256(apiKey)
	if !ok {
		return 0, false
	}
	if subtle.ConstantTimeCompare(sum[:], entry.hash[:]) != 1 {
		return 0, false
	}
	return entry.id, true
}

// HashKey returns the users-file form of an API key.
func HashKey(apiKey string) string {
	sum := sha256.Sum256([]byte(apiKey))
	return hex.EncodeToString(sum[:])
}

// Len reports how many users there are.
func (u *Users) Len() int { return len(u.byName) }
