// Package nettest holds what the tests of netio's packages share: the test
// users and a bounded wait. Only tests import it.
package nettest

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ringex/ringex/auth"
)

// User is a test user: its id, name and API key.
type User struct {
	ID   uint32
	Name string
	Key  string
}

// The users of Users.
var (
	Alice = User{1, "alice", "alice-key-0123456789"}
	Bob   = User{2, "bob", "bob-key-0123456789"}
	Carol = User{3, "carol", "carol-key-0123456789"}
)

// Users is a users table holding Alice, Bob and Carol.
func Users(t testing.TB) *auth.Users {
	var b strings.Builder
	for _, u := range []User{Alice, Bob, Carol} {
		fmt.Fprintf(&b, "%d %s %s\n", u.ID, u.Name, auth.HashKey(u.Key))
	}
	users, err := auth.ParseUsers(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return users
}

// WaitCond waits up to d for cond, checking it every 5 ms, and reports
// whether it held.
func WaitCond(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); !cond(); {
		if time.Now().After(end) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// Logger logs warnings to stderr, or everything from info up under -v.
func Logger(t testing.TB) *slog.Logger {
	level := slog.LevelWarn
	if testing.Verbose() {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// WaitUntil waits up to d for cond, then calls done, which checks it.
func WaitUntil(t testing.TB, d time.Duration, cond func() bool, done func()) {
	t.Helper()
	WaitCond(d, cond)
	done()
}
