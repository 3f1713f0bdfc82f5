package pipeline

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/ringex/ringex/engine"
	"github.com/ringex/ringex/journal"
	"github.com/ringex/ringex/ring"
)

// syncFailFS fails every fsync of a WAL file once broken is set, while
// writes still succeed: the batch reaches the operating system but never
// the disk.
type syncFailFS struct {
	vfs.FS
	broken *atomic.Bool
}

func (fs syncFailFS) wrap(f vfs.File, name string, err error) (vfs.File, error) {
	if err != nil || !strings.HasSuffix(name, ".log") {
		return f, err
	}
	return syncFailFile{f, fs.broken}, nil
}

func (fs syncFailFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, c)
	return fs.wrap(f, name, err)
}

func (fs syncFailFS) ReuseForWrite(old, new string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(old, new, c)
	return fs.wrap(f, new, err)
}

type syncFailFile struct {
	vfs.File
	broken *atomic.Bool
}

func (f syncFailFile) Sync() error {
	if f.broken.Load() {
		return errInjected
	}
	return f.File.Sync()
}

func (f syncFailFile) SyncData() error { return f.Sync() }

func (f syncFailFile) SyncTo(n int64) (bool, error) {
	if f.broken.Load() {
		return false, errInjected
	}
	return f.File.SyncTo(n)
}

// TestAckWaitsForFsync checks, under SyncAlways (where the WAL write and
// the fsync wait run on two goroutines, writeStage and syncStage), that a
// command whose batch was written to the WAL but whose fsync failed is
// neither acknowledged nor matched: the ack waits for the fsync, not for
// the write.
func TestAckWaitsForFsync(t *testing.T) {
	var broken atomic.Bool
	store, err := journal.Open(journal.Options{Dir: t.TempDir(), FS: syncFailFS{vfs.Default, &broken},
		Sync: journal.SyncPolicy{Mode: journal.SyncAlways}})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ex, err := Open(store, []AssetSpec{testAsset}, Config{InSize: 64, OutSize: 128, Wait: ring.Blocking})
	if err != nil {
		t.Fatal(err)
	}
	acks, out := &ackRecorder{}, &outRecorder{}
	ex.Start(acks, out)
	a := ex.BySymbol("TEST")
	order := func(i int) engine.Command {
		side := engine.Buy
		if i%2 == 1 {
			side = engine.Sell
		}
		return engine.Command{Kind: engine.CmdNew, UserID: uint32(1 + i%2), ClientOrderID: uint64(i), Side: side,
			Type: engine.Limit, TIF: engine.GTC, Price: 500, Qty: 10}
	}
	const before = 50
	for i := range before {
		c := order(i)
		if _, err := a.Submit(&c, uint64(i), time.Second); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() bool { acks.mu.Lock(); defer acks.mu.Unlock(); return len(acks.acks) == before })
	broken.Store(true)
	c := order(before)
	if _, err := a.Submit(&c, before, time.Second); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { acks.mu.Lock(); defer acks.mu.Unlock(); return len(acks.acks)+len(acks.failed) > before })
	ex.Close()
	acks.mu.Lock()
	if len(acks.acks) != before || len(acks.failed) != 1 {
		t.Fatalf("%d acknowledged and %d rejected; want the %d before the failed fsync acknowledged and the one after rejected",
			len(acks.acks), len(acks.failed), before)
	}
	acks.mu.Unlock()
	out.mu.Lock()
	defer out.mu.Unlock()
	for _, e := range out.events {
		if e.CmdSeq > before {
			t.Fatalf("the matcher applied command %d, whose fsync failed", e.CmdSeq)
		}
	}
}
