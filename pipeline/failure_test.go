package pipeline

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/ringex/ringex/engine"
	"github.com/ringex/ringex/journal"
	"github.com/ringex/ringex/ring"
)

// failFS makes every write and sync fail once broken is set, as a full or
// dying disk would.
type failFS struct {
	vfs.FS
	broken *atomic.Bool
}

var errInjected = errors.New("injected disk failure")

func (fs failFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	if fs.broken.Load() {
		return nil, errInjected
	}
	f, err := fs.FS.Create(name, c)
	return failFile{f, fs.broken}, err
}

func (fs failFS) ReuseForWrite(old, new string, c vfs.DiskWriteCategory) (vfs.File, error) {
	if fs.broken.Load() {
		return nil, errInjected
	}
	f, err := fs.FS.ReuseForWrite(old, new, c)
	return failFile{f, fs.broken}, err
}

type failFile struct {
	vfs.File
	broken *atomic.Bool
}

func (f failFile) Write(p []byte) (int, error) {
	if f.broken.Load() {
		return 0, errInjected
	}
	return f.File.Write(p)
}

func (f failFile) WriteAt(p []byte, off int64) (int, error) {
	if f.broken.Load() {
		return 0, errInjected
	}
	return f.File.WriteAt(p, off)
}

func (f failFile) Sync() error {
	if f.broken.Load() {
		return errInjected
	}
	return f.File.Sync()
}

func (f failFile) SyncData() error { return f.Sync() }

func (f failFile) SyncTo(n int64) (bool, error) {
	if f.broken.Load() {
		return false, errInjected
	}
	return f.File.SyncTo(n)
}

// TestJournalFailureStopsAcks breaks the disk under a running pipeline and
// checks that no command is acknowledged or matched after the failure, that
// every later submission is refused as unavailable, and that every command
// acknowledged before it is still there after a restart.
func TestJournalFailureStopsAcks(t *testing.T) {
	dir := t.TempDir()
	var broken atomic.Bool
	fs := failFS{vfs.Default, &broken}
	store, err := journal.Open(journal.Options{Dir: dir, FS: fs, Sync: journal.SyncPolicy{Mode: journal.SyncAlways}})
	if err != nil {
		t.Fatal(err)
	}
	ex, err := Open(store, []AssetSpec{testAsset}, Config{InSize: 64, OutSize: 128, Wait: ring.Blocking})
	if err != nil {
		t.Fatal(err)
	}
	acks, out := &ackRecorder{}, &outRecorder{}
	ex.Start(acks, out)
	a := ex.BySymbol("TEST")
	order := func(i int) engine.Command {
		return engine.Command{Kind: engine.CmdNew, UserID: 1, ClientOrderID: uint64(i), Side: engine.Buy,
			Type: engine.Limit, TIF: engine.GTC, Price: 500, Qty: 10}
	}
	for i := range 100 {
		c := order(i)
		if _, err := a.Submit(&c, uint64(i), time.Second); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() bool { acks.mu.Lock(); defer acks.mu.Unlock(); return len(acks.acks) == 100 })

	broken.Store(true)
	refused := 0
	for i := 100; i < 200; i++ {
		c := order(i)
		if _, err := a.Submit(&c, uint64(i), time.Second); errors.Is(err, ErrUnavailable) {
			refused++
		} else if err != nil {
			t.Fatalf("submit after failure: %v, want ErrUnavailable or nil", err)
		}
	}
	if refused == 0 {
		t.Fatal("no submission was refused as unavailable after the disk failed")
	}
	if a.Available() {
		t.Fatal("asset still reports available after a journal failure")
	}
	ex.Close()
	store.Close()

	acks.mu.Lock()
	if len(acks.acks) != 100 {
		t.Fatalf("%d commands acknowledged, want exactly the 100 before the failure", len(acks.acks))
	}
	if len(acks.failed)+refused != 100 {
		t.Fatalf("%d failed acks + %d refusals, want 100", len(acks.failed), refused)
	}
	acks.mu.Unlock()
	out.mu.Lock()
	for _, e := range out.events {
		if e.CmdSeq > 100 {
			t.Fatalf("matcher saw unjournaled command %d", e.CmdSeq)
		}
	}
	out.mu.Unlock()

	// After a restart on a healthy disk, every acknowledged order is there.
	broken.Store(false)
	store, err = journal.Open(journal.Options{Dir: dir, Sync: journal.SyncPolicy{Mode: journal.SyncAlways}})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	n := 0
	store.ReplayCommands(testAsset.ID, 0, func(c *engine.Command) error {
		if c.ClientOrderID != uint64(n) {
			t.Fatalf("journal entry %d has client id %d", n, c.ClientOrderID)
		}
		n++
		return nil
	})
	if n < 100 {
		t.Fatalf("journal holds %d commands after restart, want at least the 100 acknowledged", n)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting")
		}
		time.Sleep(time.Millisecond)
	}
}
