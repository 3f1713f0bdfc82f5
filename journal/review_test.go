package journal

import (
	"errors"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestCorruptFirstTableBlockStopsOpen damages the first data block of the
// table holding the store header. Open reads the header (and the newest
// key) before it reads every table, and must still report ErrCorrupt
// naming the file, not a bare Pebble error.
func TestCorruptFirstTableBlockStopsOpen(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, SyncPolicy{}, nil)
	fillCommands(t, s, 200)
	if err := s.db.Flush(); err != nil {
		t.Fatal(err)
	}
	path := tableWith(t, s, dir, kindCommand)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := 8; i < 24; i++ {
		data[i] ^= 0x5a
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Open(Options{Dir: dir, Logger: quiet})
	if err == nil || !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), filepath.Base(path)) {
		t.Fatalf("Open: %v\nwant ErrCorrupt naming %s", err, filepath.Base(path))
	}
	t.Log(err)
}

// gateFS holds the creation of sstables, once armed, until released, and
// then refuses it: a flush that is slow and then finds the disk full.
type gateFS struct {
	vfs.FS
	armed   atomic.Bool
	blocked chan struct{} // closed when the first held creation waits
	release chan struct{}
	once    sync.Once
}

var errDiskFull = errors.New("no space left on device (injected)")

func (fs *gateFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	if fs.armed.Load() && strings.HasSuffix(name, ".sst") {
		fs.once.Do(func() { close(fs.blocked) })
		<-fs.release
		return nil, errDiskFull
	}
	return fs.FS.Create(name, c)
}

// TestRotationStalledOnFailedFlushDoesNotHang rotates the memtable while the
// previous rotation's flush is still running, then fails that flush (a full
// disk). Pebble stalls a memtable switch while an earlier memtable waits
// for its flush, and a failed flush never ends the stall; the rotator must
// not sit in that stall holding the epoch lock, or Close (which stops the
// rotator first) and every writer that passed its check wait forever.
func TestRotationStalledOnFailedFlushDoesNotHang(t *testing.T) {
	fs := &gateFS{FS: vfs.NewMem(), blocked: make(chan struct{}), release: make(chan struct{})}
	rec := &logRecorder{}
	s, err := Open(Options{Dir: "db", FS: fs, Logger: slog.New(rec), MemTableSize: 4 << 20, Sync: SyncPolicy{Mode: SyncOff}})
	if err != nil {
		t.Fatal(err)
	}
	stalls := func() int {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		n := 0
		for _, l := range rec.recs {
			if strings.Contains(l, "pebble write stall") && !strings.Contains(l, "over") {
				n++
			}
		}
		return n
	}
	r := rand.New(rand.NewPCG(9, 9))
	seq := uint64(1)
	appendUntil := func(cond func() bool) {
		t.Helper()
		for i := 0; !cond(); i++ {
			if i > 100000 {
				t.Fatal("condition never met")
			}
			if err := s.AppendCommands(1, commands(r, seq, 64)); err != nil {
				t.Fatal(err)
			}
			seq += 64
		}
	}
	// Grow Pebble's memtables to full size, then let every flush finish.
	e0 := s.currentEpoch()
	appendUntil(func() bool { return s.currentEpoch() >= e0+3 })
	if err := s.db.Flush(); err != nil {
		t.Fatal(err)
	}
	fs.armed.Store(true)
	// A rotation whose flush is held.
	e1 := s.currentEpoch()
	appendUntil(func() bool { return s.currentEpoch() > e1 })
	<-fs.blocked
	// The next rotation finds the previous memtable still queued.
	before := stalls()
	appendUntil(func() bool { return s.epochBytes.Load() >= s.rotateAt() })
	// Let the rotator reach Pebble's stall, if it goes there: up to 2 s.
	for deadline := time.Now().Add(2 * time.Second); stalls() == before && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("rotation stalled in Pebble: %v", stalls() > before)
	close(fs.release) // the held flush fails: disk full
	if !eventually(func() bool { return s.Err() != nil }) {
		t.Fatal("the failed flush did not fail the store")
	}
	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("Close hung after a failed flush during a rotation (log: %v)", rec.errors())
	}
}
