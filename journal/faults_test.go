package journal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// logRecorder is a slog handler that keeps every record's level and text.
type logRecorder struct {
	mu   sync.Mutex
	recs []string
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *logRecorder) WithGroup(string) slog.Handler            { return r }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", rec.Level, rec.Message)
	rec.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	r.mu.Lock()
	r.recs = append(r.recs, b.String())
	r.mu.Unlock()
	return nil
}

// errors returns the records at level Error.
func (r *logRecorder) errors() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, s := range r.recs {
		if strings.HasPrefix(s, "ERROR") {
			out = append(out, s)
		}
	}
	return out
}

// fillCommands appends n commands to asset 1 in batches of 64, from seq 1.
func fillCommands(t testing.TB, s *Store, n int) {
	t.Helper()
	r := rand.New(rand.NewPCG(5, 6))
	for seq := 1; seq <= n; seq += 64 {
		if err := s.AppendCommands(1, commands(r, uint64(seq), min(64, n-seq+1))); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRestartOnFullDisk reopens a journal with a WAL to recover on a disk
// that refuses every write. Pebble retries the flush of the recovered WAL
// forever; Open must return the disk's error within seconds, logging
// nothing itself (the caller prints the error: one line).
func TestRestartOnFullDisk(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, SyncPolicy{}, nil)
	fillCommands(t, s, 20000)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	fs := &failFS{FS: vfs.Default}
	fs.broken.Store(true)
	rec := &logRecorder{}
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		s, err := Open(Options{Dir: dir, FS: fs, Logger: slog.New(rec), MemTableSize: 4 << 20})
		if err == nil {
			s.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !errors.Is(err, errInjected) {
			t.Fatalf("Open on a full disk: %v, want the disk's error", err)
		}
		t.Logf("Open returned after %v: %v", time.Since(start).Round(time.Millisecond), err)
	case <-time.After(10 * time.Second):
		t.Fatalf("Open on a full disk has not returned after 10s; %d error lines logged", len(rec.errors()))
	}
	if errs := rec.errors(); len(errs) > 0 {
		t.Fatalf("Open logged %d error lines, want none (it returns the error):\n%s", len(errs), strings.Join(errs[:min(5, len(errs))], "\n"))
	}
}

// TestBackgroundErrorFailsStore breaks the disk under a flush. Pebble
// reports the failed flush as a background error and retries it; the store
// must become unavailable, log the cause once, and slow the retries down
// instead of spinning (the old code logged thousands of lines a second).
func TestBackgroundErrorFailsStore(t *testing.T) {
	fs := &tableFailFS{FS: vfs.Default}
	rec := &logRecorder{}
	s, err := Open(Options{Dir: t.TempDir(), FS: fs, Logger: slog.New(rec), MemTableSize: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	fillCommands(t, s, 2000)
	// Fail table creation only: the flush fails in the background while
	// the WAL keeps working, so the store learns of it from Pebble.
	fs.broken.Store(true)
	flushed := s.db.AsyncFlush
	if _, err := flushed(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.BackgroundErrors() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no background error 5s after a flush on a broken disk")
		}
		time.Sleep(time.Millisecond)
	}
	if !errors.Is(s.Err(), ErrUnavailable) {
		t.Fatalf("Err() = %v after a background error, want ErrUnavailable", s.Err())
	}
	if err := s.AppendCommands(1, commands(rand.New(rand.NewPCG(1, 1)), 2001, 1)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("append after a background error: %v, want ErrUnavailable", err)
	}
	time.Sleep(time.Second)
	n := s.BackgroundErrors()
	errs := rec.errors()
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close hangs after a background error")
	}
	t.Logf("%d background errors in ~1s, %d error lines", n, len(errs))
	if n > 20 {
		t.Errorf("%d background errors in about a second: Pebble's retry spins", n)
	}
	if len(errs) > 3 {
		t.Errorf("%d error lines logged, want the cause once:\n%s", len(errs), strings.Join(errs[:5], "\n"))
	}
}

func TestRateLimitedLog(t *testing.T) {
	rec := &logRecorder{}
	f := newFaults(slog.New(rec))
	for i := range 1000 {
		f.logLimited("pebble background error", fmt.Errorf("creating object %06d: %w", i, os.ErrPermission))
		f.logLimited("pebble background error", fmt.Errorf("reading %06d: %w", i, os.ErrDeadlineExceeded))
	}
	if errs := rec.errors(); len(errs) != 2 {
		t.Fatalf("%d lines for 2 causes repeated 1000 times, want 2:\n%s", len(errs), strings.Join(errs, "\n"))
	}
}

// tableWith returns the path of the database's table whose smallest key is
// of kind.
func tableWith(t *testing.T, s *Store, dir string, kind byte) string {
	t.Helper()
	levels, err := s.db.SSTables()
	if err != nil {
		t.Fatal(err)
	}
	for _, level := range levels {
		for _, tab := range level {
			// The first table also holds the store's header key, so
			// a table is taken by its largest key's kind.
			if _, k, _, _, ok := splitKey(tab.Largest.UserKey); ok && k == kind {
				return filepath.Join(dir, fmt.Sprintf("%s.sst", tab.FileNum))
			}
		}
	}
	t.Fatalf("no table starting with a %s key", kindName(kind))
	return ""
}

// TestCorruptTableStopsOpen damages, in turn, a table of commands, of
// events and of snapshots, in the middle (a data block), and checks that
// Open refuses the database naming the file and the keys.
func TestCorruptTableStopsOpen(t *testing.T) {
	for _, kind := range []byte{kindCommand, kindEvent, kindSnapshot} {
		t.Run(kindName(kind), func(t *testing.T) {
			dir := t.TempDir()
			s := openStore(t, dir, SyncPolicy{}, nil)
			r := rand.New(rand.NewPCG(7, 8))
			// One table per kind: commands, then events, then snapshots,
			// each flushed on its own.
			fillCommands(t, s, 20000)
			if err := s.db.Flush(); err != nil {
				t.Fatal(err)
			}
			for seq := 1; seq <= 20000; seq += 500 {
				if err := s.AppendEvents(1, events(r, uint64(seq), 500)); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.db.Flush(); err != nil {
				t.Fatal(err)
			}
			for seq := 1; seq <= 20; seq++ {
				data := make([]byte, 8<<10)
				for i := range data {
					data[i] = byte(r.Uint32())
				}
				if err := s.PutSnapshot(1, uint64(seq*1000), uint64(seq*1000), data); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.db.Flush(); err != nil {
				t.Fatal(err)
			}
			path := tableWith(t, s, dir, kind)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			mid := len(data) / 2
			for i := mid; i < mid+16; i++ {
				data[i] ^= 0x5a
			}
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			rec := &logRecorder{}
			s, err = Open(Options{Dir: dir, Logger: slog.New(rec)})
			if err == nil {
				s.Close()
				t.Fatalf("Open succeeded on a database with a corrupt %s table", kindName(kind))
			}
			if errs := rec.errors(); len(errs) > 0 {
				t.Fatalf("Open logged %v; its error is the one report", errs)
			}
			msg := err.Error()
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(msg, filepath.Base(path)) || !strings.Contains(msg, kindName(kind)+" asset 1 seq") {
				t.Fatalf("Open: %v\nwant ErrCorrupt naming %s and the %s keys", err, filepath.Base(path), kindName(kind))
			}
			t.Log(msg)
		})
	}
}

// newestWAL returns the path of the largest non-empty WAL file in dir.
func newestWAL(t *testing.T, dir string) string {
	t.Helper()
	logs, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(logs)
	for i := len(logs) - 1; i >= 0; i-- {
		if fi, err := os.Stat(logs[i]); err == nil && fi.Size() > 0 {
			return logs[i]
		}
	}
	t.Fatalf("no WAL in %s", dir)
	return ""
}

// TestTruncatedWALDetected cuts the newest WAL of a cleanly closed journal
// in half. Pebble recovers the first half as if a crash had torn the tail;
// the high-water mark must stop the start, naming the asset, the mark and
// what was recovered, and AcceptJournalLoss must let it start and lower the
// mark.
func TestTruncatedWALDetected(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, SyncPolicy{}, nil)
	fillCommands(t, s, 5000)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wal := newestWAL(t, dir)
	fi, _ := os.Stat(wal)
	if err := os.Truncate(wal, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	_, err := Open(Options{Dir: dir, Logger: quiet})
	if !errors.Is(err, ErrJournalLoss) || !strings.Contains(err.Error(), "asset 1") || !strings.Contains(err.Error(), "seq 5000") {
		t.Fatalf("Open on a truncated WAL: %v\nwant ErrJournalLoss naming asset 1 and mark 5000", err)
	}
	t.Log(err)

	rec := &logRecorder{}
	s, err = Open(Options{Dir: dir, Logger: slog.New(rec), AcceptJournalLoss: true})
	if err != nil {
		t.Fatalf("Open with AcceptJournalLoss: %v", err)
	}
	last, _ := lastSeqs(t, s, 1)
	if last >= 5000 || last == 0 {
		t.Fatalf("recovered up to seq %d from half a WAL of 5000 commands", last)
	}
	if !slices.ContainsFunc(rec.recs, func(r string) bool { return strings.Contains(r, "accepting the loss") }) {
		t.Fatalf("accepted loss not logged: %v", rec.recs)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir, SyncPolicy{}, nil) // the mark was lowered
	s.Close()
}

// TestMarkCoversOnlySyncedCommands crashes the machine (keeps only synced
// data) under SyncInterval after the mark was written and more commands
// were appended without sync. The loss is one the policy allows: the start
// must not be refused.
func TestMarkCoversOnlySyncedCommands(t *testing.T) {
	mem := vfs.NewCrashableMem()
	policy := SyncPolicy{Mode: SyncInterval, Interval: time.Hour}
	s, err := Open(Options{Dir: "db", FS: mem, Sync: policy, Logger: quiet, MarkInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	fillCommands(t, s, 1000)
	b := s.db.NewBatch()
	if err := s.mark.update(b, true); err != nil {
		t.Fatal(err)
	}
	b.Close()
	r := rand.New(rand.NewPCG(9, 9))
	if err := s.AppendCommands(1, commands(r, 1001, 500)); err != nil {
		t.Fatal(err)
	}
	crashed := mem.CrashClone(vfs.CrashCloneCfg{})
	s.Close()
	s, err = Open(Options{Dir: "db", FS: crashed, Sync: policy, Logger: quiet})
	if err != nil {
		t.Fatalf("Open after a machine crash that lost only unsynced commands: %v", err)
	}
	defer s.Close()
	if last, _ := lastSeqs(t, s, 1); last < 1000 {
		t.Fatalf("recovered up to %d, below the synced 1000", last)
	}
}

// tableFailFS fails the creation of tables (flush and compaction outputs)
// once broken, and nothing else.
type tableFailFS struct {
	vfs.FS
	broken atomic.Bool
}

func (fs *tableFailFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	if fs.broken.Load() && strings.HasSuffix(name, ".sst") {
		return nil, errInjected
	}
	return fs.FS.Create(name, c)
}

// TestCorruptRecordStopsOpen writes a block of events whose last record
// fails its own checksum (the table around it is sound) and checks that
// Open refuses the database naming the key.
func TestCorruptRecordStopsOpen(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, SyncPolicy{}, nil)
	r := rand.New(rand.NewPCG(3, 4))
	if err := s.AppendEvents(1, events(r, 1, 40)); err != nil {
		t.Fatal(err)
	}
	block := make([]byte, 3*eventLen)
	for i, e := range events(r, 41, 3) {
		encodeEventV1(block[i*eventLen:], 1, &e)
	}
	block[len(block)-1] ^= 1
	if err := s.db.Set(makeKey(s.epoch, kindEvent, 1, 41), block, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := Open(Options{Dir: dir, Logger: quiet})
	var ce *CorruptError
	if !errors.Is(err, ErrCorrupt) || !errors.As(err, &ce) || ce.Seq != 41 || !strings.Contains(err.Error(), "record 2 of the block") {
		t.Fatalf("Open: %v, want ErrCorrupt naming event 41, record 2", err)
	}
	t.Log(err)
}

// BenchmarkVerify measures Open's read of the whole database over 1 M
// commands and 1 M events (page cache warm): go test -run XXX -bench Verify ./journal
func BenchmarkVerify(b *testing.B) {
	for _, stream := range []string{"random", "exchange"} {
		b.Run("stream="+stream, func(b *testing.B) { benchVerify(b, stream) })
	}
}

// benchVerify verifies 1 M commands and 1 M events: of random bits in
// every field (the longest version 2 records), or an exchange's (the
// load generator's buy/sell alternation).
func benchVerify(b *testing.B, stream string) {
	s := openStore(b, b.TempDir(), SyncPolicy{Mode: SyncOff}, nil)
	defer s.Close()
	r := rand.New(rand.NewPCG(5, 6))
	const n = 1 << 20
	cmds, evs := commands(r, 1, 4096), events(r, 1, 4096)
	for seq := 1; seq <= n; seq += len(cmds) {
		if stream == "exchange" {
			cmds = streamCommands(r, uint64(seq), len(cmds))
			evs = tradeEvents(uint64(seq), cmds, evs)
		}
		for i := range cmds {
			cmds[i].Seq, evs[i].Seq = uint64(seq+i), uint64(seq+i)
		}
		if err := s.AppendCommands(1, cmds); err != nil {
			b.Fatal(err)
		}
		if err := s.AppendEvents(1, evs); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.db.Flush(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if err := s.verify(true); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(2*n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// TestAnyBackgroundErrorFailsStore: a background error that no file write
// reported (a compaction that reads a corrupt table, a table-stats load)
// fails the store too; a cancelled compaction does not.
func TestAnyBackgroundErrorFailsStore(t *testing.T) {
	s := openStore(t, t.TempDir(), SyncPolicy{}, nil)
	defer s.Close()
	listener := s.faults.listener(s)
	listener.BackgroundError(pebble.ErrCancelledCompaction)
	if s.Err() != nil {
		t.Fatalf("a cancelled compaction failed the store: %v", s.Err())
	}
	cause := errors.New("pebble/table: invalid table 000042 (checksum mismatch)")
	listener.BackgroundError(cause)
	if err := s.AppendCommands(1, commands(rand.New(rand.NewPCG(1, 2)), 1, 1)); !errors.Is(err, ErrUnavailable) || !errors.Is(err, cause) {
		t.Fatalf("append after a background error: %v, want ErrUnavailable wrapping it", err)
	}
	if s.BackgroundErrors() != 1 {
		t.Fatalf("BackgroundErrors() = %d, want 1", s.BackgroundErrors())
	}
}
