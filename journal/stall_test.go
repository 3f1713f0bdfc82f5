package journal

import (
	"errors"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/ringex/ringex/engine"
)

// TestFlushFailureInMemtableStall: a writer must not wait inside Pebble for
// a flush that fails. Pebble stalls a write that needs a new memtable while
// the queued memtables reach MemTableStopWritesThreshold, until a flush
// ends; a flush that fails (a full disk) is retried, paused by the store,
// forever, so a writer stalled there held commitMu for good: every other
// writer and Close waited behind it. The test holds the flush of a
// rotation, fills the new memtable with batches that stay under the
// rotator's threshold until the last, which overflows the memtable at once
// (Pebble must switch memtables before the rotator can), lets the flush
// fail, and requires that the store fails, every writer returns (an error,
// or success for a batch Pebble took before the failure), and Close
// returns.
func TestFlushFailureInMemtableStall(t *testing.T) {
	fs := &gateFS{FS: vfs.Default, blocked: make(chan struct{}), release: make(chan struct{})}
	rec := &logRecorder{}
	const memtable = 256 << 10 // Pebble's first memtable size: every memtable is this big
	s, err := Open(Options{Dir: t.TempDir(), FS: fs, Logger: slog.New(rec), MemTableSize: memtable, MarkInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(13, 14))
	seq := uint64(1)
	appendN := func(asset uint32, n int) error {
		err := s.AppendCommands(asset, commands(r, seq, n))
		seq += uint64(n)
		return err
	}
	// A rotation whose flush is held.
	fs.armed.Store(true)
	for e := s.currentEpoch(); s.currentEpoch() == e; {
		if err := appendN(1, 64); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-fs.blocked:
	case <-time.After(10 * time.Second):
		t.Fatal("the flush did not start")
	}
	// The flushing memtable and the new mutable one reach Pebble's default
	// stop threshold (2 memtables). Fill the mutable one to under the
	// rotator's threshold (7/8), in batches below Pebble's large-batch size
	// (half a memtable).
	const batch = 1400 // 95 KB
	for range 2 {
		if err := appendN(1, batch); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.epochBytes.Load(); n >= s.rotateAt() {
		t.Fatalf("%d bytes in the epoch, want under the rotator's %d", n, s.rotateAt())
	}
	type result struct {
		who string
		err error
	}
	results := make(chan result, 4)
	// This batch does not fit the memtable: on the old code it stalls in
	// Pebble, holding commitMu.
	last := commands(r, seq, batch)
	seq += batch
	go func() { results <- result{"overflowing batch", s.AppendCommands(1, last)} }()
	stalled := func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return slices.ContainsFunc(rec.recs, func(r string) bool { return strings.Contains(r, "pebble write stall") })
	}
	var first *result
	for deadline := time.Now().Add(10 * time.Second); first == nil && !stalled(); time.Sleep(time.Millisecond) {
		select {
		case r := <-results:
			first = &r
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the overflowing batch neither stalled nor returned in 10s")
		}
	}
	t.Logf("stalled in Pebble: %v", stalled())
	rotating := false
	if first != nil {
		// Pebble took the batch without a stall. The store's own stall
		// follows: the rotator waits for the held flush, holding the epoch
		// lock, so the writers below wait for it.
		for deadline := time.Now().Add(5 * time.Second); !rotating && time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			if s.epochMu.TryRLock() {
				s.epochMu.RUnlock()
			} else {
				rotating = true
			}
		}
		t.Logf("the rotator waits for the flush: %v", rotating)
	}
	// Other writers (another asset, an id reservation) queue behind it.
	go func() {
		results <- result{"asset 2", s.AppendCommands(2, commands(r, 1, 10))}
	}()
	go func() { results <- result{"id reservation", s.ReserveOrderIDs(3, 100)} }()
	time.Sleep(50 * time.Millisecond) // let them queue; a writer that has not is still checked below
	close(fs.release)                 // the flush fails: the disk is full
	want := 3
	if first != nil {
		t.Logf("%s returned before the flush failed: %v", first.who, first.err)
		if first.err != nil {
			t.Errorf("%s: %v", first.who, first.err)
		}
		want--
	}
	deadline := time.After(10 * time.Second)
	for range want {
		select {
		case r := <-results:
			t.Logf("%s returned: %v", r.who, r.err)
			if !errors.Is(r.err, ErrUnavailable) && (r.err != nil || rotating) {
				t.Errorf("%s: %v, want ErrUnavailable", r.who, r.err)
			}
		case <-deadline:
			t.Fatalf("a writer is still waiting 10s after the flush failed (Pebble's write stall)")
		}
	}
	if !errors.Is(s.Err(), ErrUnavailable) {
		t.Fatalf("Err() = %v after a failed flush, want ErrUnavailable", s.Err())
	}
	if err := s.AppendCommands(4, commands(r, 1, 10)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("append after the failed flush: %v, want ErrUnavailable", err)
	}
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close hangs after a flush failed under a write stall")
	}
}

// compactionGateFS holds the creation of compaction outputs, once armed,
// until release is closed, and then fails it and every later one.
// Flushes write their tables freely.
type compactionGateFS struct {
	vfs.FS
	armed   atomic.Bool
	blocked chan struct{}
	release chan struct{}
	once    sync.Once
}

func (fs *compactionGateFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	if fs.armed.Load() && c == "pebble-compaction" {
		fs.once.Do(func() { close(fs.blocked) })
		<-fs.release
		return nil, errDiskFull
	}
	return fs.FS.Create(name, c)
}

// TestCompactionFailureInL0Stall: the same for Pebble's other write stall,
// on the number of L0 sublevels, which only a compaction ends. The test
// holds compactions while flushes pile up overlapping tables in L0, then
// lets a memtable switch come (the rotator's or a writer's), fails the
// compaction, and requires that every writer and Close return.
func TestCompactionFailureInL0Stall(t *testing.T) {
	fs := &compactionGateFS{FS: vfs.Default, blocked: make(chan struct{}), release: make(chan struct{})}
	rec := &logRecorder{}
	const memtable = 256 << 10
	s, err := Open(Options{Dir: t.TempDir(), FS: fs, Logger: slog.New(rec), MemTableSize: memtable, MarkInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(15, 16))
	next := map[uint32]uint64{1: 1, 2: 1, 3: 1}
	appendN := func(asset uint32, n int) error {
		err := s.AppendCommands(asset, commands(r, next[asset], n))
		next[asset] += uint64(n)
		return err
	}
	fs.armed.Store(true)
	// Every flushed table spans asset 2's keys (it holds commands of
	// assets 1 and 3, in one epoch), so L0's read amplification, which
	// Pebble stalls on, is the number of tables; no compaction can take
	// them out.
	for i := 0; s.db.Metrics().Levels[0].TablesCount < 12; i++ {
		if i > 30 {
			t.Fatalf("L0 holds %d tables after %d flushes", s.db.Metrics().Levels[0].TablesCount, i)
		}
		for _, a := range []uint32{1, 3} {
			if err := appendN(a, 64); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.db.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-fs.blocked:
	case <-time.After(10 * time.Second):
		t.Fatal("no compaction started")
	}
	t.Logf("L0: %d sublevels, %d tables", s.db.Metrics().Levels[0].Sublevels, s.db.Metrics().Levels[0].TablesCount)
	type result struct {
		who string
		err error
	}
	results := make(chan result, 8)
	// Enough to switch memtables: the rotator (at 7/8) or a writer (a
	// full memtable) does it, and on the old code stalls in Pebble.
	const batch = 1400
	var fill [][]engine.Command
	for range 4 {
		fill = append(fill, commands(r, next[1], batch))
		next[1] += batch
	}
	other := commands(r, next[2], 10)
	go func() {
		for _, cmds := range fill {
			if err := s.AppendCommands(1, cmds); err != nil {
				results <- result{"filler", err}
				return
			}
		}
		results <- result{"filler", nil}
	}()
	stalled := func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return slices.ContainsFunc(rec.recs, func(r string) bool { return strings.Contains(r, "L0 file count limit") })
	}
	rotating := func() bool {
		if s.epochMu.TryRLock() {
			s.epochMu.RUnlock()
			return false
		}
		return true
	}
	waiting := false
	for deadline := time.Now().Add(10 * time.Second); !waiting; time.Sleep(time.Millisecond) {
		waiting = stalled() || rotating()
		if time.Now().After(deadline) {
			t.Fatal("no memtable switch waits for the compaction after 10s")
		}
	}
	t.Logf("stalled in Pebble: %v", stalled())
	go func() { results <- result{"asset 2", s.AppendCommands(2, other)} }()
	go func() { results <- result{"id reservation", s.ReserveOrderIDs(3, 100)} }()
	time.Sleep(50 * time.Millisecond)
	close(fs.release) // the compaction fails: the disk is full
	deadline := time.After(10 * time.Second)
	for range 3 {
		select {
		case r := <-results:
			t.Logf("%s returned: %v", r.who, r.err)
			if r.err != nil && !errors.Is(r.err, ErrUnavailable) {
				t.Errorf("%s: %v, want nil or ErrUnavailable", r.who, r.err)
			}
		case <-deadline:
			t.Fatal("a writer is still waiting 10s after the compaction failed (Pebble's L0 write stall)")
		}
	}
	if !eventually(func() bool { return s.Err() != nil }) {
		t.Fatal("the failed compaction did not fail the store")
	}
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close hangs after a compaction failed under an L0 write stall")
	}
}
