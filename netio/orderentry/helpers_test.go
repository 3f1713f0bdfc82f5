package orderentry

import (
	"log/slog"
	"testing"
	"time"

	"github.com/ringex/ringex/netio"
	"github.com/ringex/ringex/netio/internal/nettest"
)

// The test users and the bounded wait are nettest's, shared with the
// other netio packages' tests.
type testUser = nettest.User

var alice, bob, carol = nettest.Alice, nettest.Bob, nettest.Carol

func testFeedUsers(t testing.TB) *netio.Users { return nettest.Users(t) }

func testLogger(t testing.TB) *slog.Logger { return nettest.Logger(t) }

func waitCond(d time.Duration, cond func() bool) bool { return nettest.WaitCond(d, cond) }

// waitUntil waits up to d for cond, then calls done, which checks it.
func waitUntil(t *testing.T, d time.Duration, cond func() bool, done func()) {
	t.Helper()
	nettest.WaitCond(d, cond)
	done()
}
