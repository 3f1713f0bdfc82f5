package marketdata

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestNotifierMaxConnsFitsTheFileLimit: the connection cap and the bound
// on stalled connections' dups the notifier derives from RLIMIT_NOFILE
// must fit the limit together beside ReservedFDs (here ringexd's: 256 and
// two per order-entry session), keep at least an eighth of what is left
// for the dups, and, now that a connection holds one descriptor, serve
// issue 16's 10,000 subscribers under a limit of 20,000 (this container's
// hard limit). Counting two per connection capped them at 8,848; counting
// one per connection while each held two let gnet's accept reach EMFILE,
// which stopped the whole server.
func TestNotifierMaxConnsFitsTheFileLimit(t *testing.T) {
	const reserved = 256 + 2*1024
	n := NewNotifier(NotifierConfig{Addr: "127.0.0.1:0", MaxConns: 1 << 30, ReservedFDs: reserved})
	n.raiseFileLimit()
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	conns, dups := int64(n.cfg.MaxConns), n.budget.MaxDups
	t.Logf("limit %d: %d connections, %d stalled at once", lim.Cur, conns, dups)
	if need := conns + dups + reserved; need > int64(lim.Cur) {
		t.Fatalf("MaxConns %d and MaxDups %d with %d reserved need %d descriptors; the limit is %d",
			conns, dups, reserved, need, lim.Cur)
	}
	if conns < 1 || dups < (int64(lim.Cur)-reserved)/dupShare {
		t.Fatalf("MaxConns %d, MaxDups %d", conns, dups)
	}
	if lim.Cur >= 20000 && conns < 10000 {
		t.Fatalf("a limit of %d holds only %d connections: 10,000 subscribers need one descriptor each", lim.Cur, conns)
	}
}
