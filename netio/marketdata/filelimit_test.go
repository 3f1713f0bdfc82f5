package marketdata

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestNotifierMaxConnsFitsTheFileLimit: every market-data connection holds
// two descriptors (the socket and the outbox's duplicate, netio.Server.
// Accept), so the connection cap the notifier derives from RLIMIT_NOFILE
// must leave two per connection beside ReservedFDs. Counting one per
// connection let a server at a hard limit of 20,000 accept connections it
// then had to refuse for want of a descriptor, about halfway to its cap.
func TestNotifierMaxConnsFitsTheFileLimit(t *testing.T) {
	n := NewNotifier(NotifierConfig{Addr: "127.0.0.1:0", MaxConns: 1 << 30, ReservedFDs: 256})
	n.raiseFileLimit()
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if need := 2*int64(n.cfg.MaxConns) + 256; need > int64(lim.Cur) {
		t.Fatalf("MaxConns %d with 256 reserved needs %d descriptors; the limit is %d", n.cfg.MaxConns, need, lim.Cur)
	}
	if n.cfg.MaxConns < 1 {
		t.Fatalf("MaxConns %d", n.cfg.MaxConns)
	}
}
