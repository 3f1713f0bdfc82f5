// Package nettest holds what the tests of netio's packages share: the test
// users and a bounded wait. Only tests import it.
package nettest

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
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

// Cycles runs workers goroutines for d, each calling cycle over and over
// with its worker's own seeded generator and the count of its earlier
// calls, until d has passed or a call fails. Every failure is reported with
// t.Error; it returns how many calls succeeded.
func Cycles(t testing.TB, workers int, d time.Duration, seed uint64, cycle func(i int, rng *rand.Rand) error) int64 {
	t.Helper()
	stop := time.Now().Add(d)
	var done atomic.Int64
	errc := make(chan error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), seed))
			for i := 0; time.Now().Before(stop); i++ {
				if err := cycle(i, rng); err != nil {
					errc <- err
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	return done.Load()
}
