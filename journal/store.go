package journal

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// ErrUnavailable is matched (with errors.Is) by every write to a store that
// has failed a write or a sync. The failure is sticky: the store cannot tell
// what the disk kept, so it writes nothing more until it is reopened.
var ErrUnavailable = errors.New("journal: unavailable")

// ErrClosed is returned by calls on a closed store.
var ErrClosed = errors.New("journal: store closed")

// ErrSequence is matched by an Append whose records do not continue the
// asset's sequence densely.
var ErrSequence = errors.New("journal: sequence not dense")

// unavailableError is the sticky failure: it matches ErrUnavailable and
// unwraps to the first cause.
type unavailableError struct{ cause error }

func (e *unavailableError) Error() string        { return "journal: unavailable: " + e.cause.Error() }
func (e *unavailableError) Unwrap() error        { return e.cause }
func (e *unavailableError) Is(target error) bool { return target == ErrUnavailable }

// Store is the journal: one Pebble database holding every asset's commands,
// events, snapshots and configuration. Its methods are safe for concurrent
// use, except Close, which must come after every other call has returned.
type Store struct {
	db     *pebble.DB
	log    *slog.Logger
	policy SyncPolicy
	// blockRecords is the most records per Pebble value (see append.go);
	// the benchmarks set 1 to measure a key per record.
	blockRecords int

	// commitMu makes "check the failure mark, then hand the batch to Pebble"
	// atomic. See commit.
	commitMu sync.Mutex
	closed   atomic.Bool // set under commitMu
	failed   atomic.Pointer[unavailableError]

	assetsMu sync.RWMutex
	assets   map[uint32]*assetLog

	// fs is the file system Pebble writes through; it holds the WAL files
	// (see walFile) that fsyncWAL fsyncs.
	fs *watchFS
	// written counts batches written to the WAL without an fsync; the
	// interval syncer fsyncs when it moved.
	written atomic.Uint64
	syncer  *syncer

	faults *faults // background errors, corruption, the first failure: listener.go
	mark   *marker // the high-water mark: marker.go
	// Epochs (epoch.go): the epoch of new keys, under epochMu, and the
	// rotator's state.
	epochMu    sync.RWMutex
	epoch      uint64
	epochBytes atomic.Uint64 // memtable bytes (estimated) written in this epoch
	memtable   uint64        // Options.MemTableSize (or its default)
	rotateWake chan struct{}
	rotateStop chan struct{}
	rotateDone chan struct{}
	rotateOnce sync.Once
	flushEnded chan struct{} // a flush or compaction ended: the rotator retries

	// statsMu keeps Stats off a closed database: Close sets statsClosed
	// under it before closing Pebble.
	statsMu     sync.Mutex
	statsClosed bool
}

// Open opens (creating if needed) the store in opts.Dir.
func Open(opts Options) (*Store, error) {
	if err := opts.Sync.validate(); err != nil {
		return nil, err
	}
	if opts.Dir == "" {
		return nil, errors.New("journal: no directory")
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "journal")
	fs := opts.FS
	if fs == nil {
		fs = vfs.Default
	}
	memtable := opts.MemTableSize
	if memtable == 0 {
		memtable = 64 << 20
	}
	s := &Store{log: log, policy: opts.Sync, blockRecords: blockRecords, assets: make(map[uint32]*assetLog),
		memtable: memtable, faults: newFaults(log), flushEnded: make(chan struct{}, 1)}
	po := &pebble.Options{
		FS:                 &watchFS{FS: fs, s: s},
		Logger:             pebbleLogger{log},
		EventListener:      s.faults.listener(s),
		FormatMajorVersion: pebble.FormatNewest,
		MemTableSize:       memtable,
		// A range deletion from Prune is flushed within this delay even if
		// the memtable is not full, so its space can be reclaimed.
		FlushDelayDeleteRange: 10 * time.Second,
	}
	s.fs = po.FS.(*watchFS) // fsyncWAL fsyncs its WAL files
	for i := range po.Levels {
		// Replay reads whole levels in order: bigger blocks mean fewer
		// block loads and index entries per record.
		po.Levels[i].BlockSize = 32 << 10
	}
	tuneOptions(po, memtable)
	if err := s.open(opts, fs, po); err != nil {
		return nil, err
	}
	s.startRotator()
	switch opts.Sync.Mode {
	case SyncInterval:
		s.syncer = startSyncer(s, opts.Sync.Interval, false)
	case SyncOff:
		s.syncer = startSyncer(s, offWriteback, true)
	}
	log.Info("journal open", "dir", opts.Dir, "sync", opts.Sync.String())
	return s, nil
}

// offWriteback is how often, under SyncOff, the WAL's dirty pages are
// handed to the kernel's writeback (see syncer). What is still dirty when
// the epoch rotates is written by the old WAL's fdatasync, which every
// writer waits for (rotate holds the epoch lock): at saturation 50 ms left
// 1-21 ms of it, 10 ms leaves 0.4-1.2 ms, at no measurable cost in CPU
// (docs/performance.md, "The tail at saturation").
const offWriteback = 10 * time.Millisecond

// Close stops the interval syncer and closes the database, which syncs the
// WAL unless the store has failed, then writes the final high-water mark. It
// returns the close error of Pebble, if any (after a failure it usually has
// one), or the mark's.
func (s *Store) Close() error {
	if s.syncer != nil {
		s.syncer.stop()
	}
	s.stopRotator()
	s.stopBackground()
	s.commitMu.Lock()
	if s.closed.Load() {
		s.commitMu.Unlock()
		return ErrClosed
	}
	s.closed.Store(true)
	s.commitMu.Unlock()

	s.assetsMu.Lock()
	for _, a := range s.assets {
		if a.writer != nil {
			a.writer.close()
		}
		a.commands.close()
		a.events.close()
	}
	s.assetsMu.Unlock()
	s.statsMu.Lock()
	s.statsClosed = true
	s.statsMu.Unlock()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("journal: close: %w", err)
	}
	return s.closeMark()
}

// Policy returns the store's sync policy.
func (s *Store) Policy() SyncPolicy { return s.policy }

// Err returns nil while the store is healthy and, once it has failed, the
// sticky error (matching ErrUnavailable).
func (s *Store) Err() error {
	if f := s.failed.Load(); f != nil {
		return f
	}
	return nil
}

// fail records the first write or sync failure and returns the sticky error.
func (s *Store) fail(cause error) error {
	f := &unavailableError{cause: cause}
	if s.failed.CompareAndSwap(nil, f) {
		s.faults.failed(cause)
		return f
	}
	return s.failed.Load()
}

// reach says how far a commit gets before it returns.
type reach uint8

const (
	// buffered: handed to Pebble, perhaps still in the WAL writer's
	// in-process buffer, so a process crash may lose it. Only for what
	// recovery can rebuild (events) or redo (pruning).
	buffered reach = iota
	// written: in the operating system (write(2) to the WAL), so it
	// survives a crash of the process; on disk too under SyncAlways.
	// Commands.
	written
	// durable: on disk unless the policy is SyncOff. Snapshots, asset
	// configurations.
	durable
	// fsynced: on disk under every policy. Order id reservations.
	fsynced
)

// fsyncs reports whether a commit that must reach r needs the store's own
// WAL fsync after Pebble's (no-op) one: Pebble's WAL Sync is real only
// under SyncAlways (see walFile).
func (s *Store) fsyncs(r reach) bool {
	switch s.policy.Mode {
	case SyncAlways:
		return false
	case SyncInterval:
		return r >= durable
	}
	return r == fsynced
}

// commit writes b to Pebble and returns once it has got as far as r.
//
// Pebble panics (inside its commit pipeline, with its mutex held) when a
// batch is written to a WAL that has already failed a write or sync, and it
// calls Logger.Fatalf when a synchronous commit fails its sync. commit keeps
// clear of both. The sync is requested with ApplyNoSyncWait and waited for
// with SyncWait, which returns the sync error instead of reaching Fatalf.
// And the WAL only refuses a write (panics) after some write following the
// failure has queued a block, so it takes two writes after the failure. The
// store's file system wrapper (watchFS) marks the store failed before Pebble
// sees the error, and commitMu makes each write check that mark before it
// starts, and start only after the previous write has returned: so the second
// write after a failure always sees the mark and never reaches Pebble. The
// wait for the sync is outside the mutex, so batches from concurrent writers
// still share WAL writes and syncs (Pebble's own group commit).
func (s *Store) commit(b *pebble.Batch, r reach) error {
	if err := s.write(b, r); err != nil {
		return err
	}
	return s.wait(b, r)
}

// write is the first half of commit: it hands b to Pebble under commitMu,
// requesting a WAL sync (which writes the batch to the operating system, see
// walFile) unless r is buffered, and returns without waiting for it. The
// caller must call wait before reusing or closing b.
func (s *Store) write(b *pebble.Batch, r reach) error {
	s.commitMu.Lock()
	if s.closed.Load() {
		s.commitMu.Unlock()
		return ErrClosed
	}
	if f := s.failed.Load(); f != nil {
		s.commitMu.Unlock()
		return f
	}
	err := s.apply(b, r != buffered)
	s.commitMu.Unlock()
	if err != nil {
		return s.fail(err)
	}
	s.noteWritten(b)
	if r != buffered && s.policy.Mode != SyncAlways && !s.fsyncs(r) {
		s.written.Add(1) // in the OS, not on disk: for the interval syncer
	}
	return nil
}

// wait is the second half of commit: it waits until b, handed to Pebble by
// write, has got as far as r.
func (s *Store) wait(b *pebble.Batch, r reach) error {
	if r == buffered {
		return nil
	}
	if err := b.SyncWait(); err != nil {
		return s.fail(err)
	}
	if s.fsyncs(r) {
		return s.fsyncWAL()
	}
	return nil
}

// apply hands b to Pebble, turning a Fatalf from the commit path (which
// pebbleLogger raises as a panic) into an error.
func (s *Store) apply(b *pebble.Batch, sync bool) (err error) {
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(pebbleFatal)
			if !ok {
				panic(r)
			}
			err = f
		}
	}()
	if sync {
		return s.db.ApplyNoSyncWait(b, pebble.Sync)
	}
	return s.db.Apply(b, pebble.NoSync)
}

// fsyncWAL fsyncs the open WAL files, making every batch written to the
// operating system so far durable. A failure fails the store.
func (s *Store) fsyncWAL() error {
	if err := s.fs.fsyncWALs(); err != nil {
		return s.fail(err)
	}
	return nil
}

// syncWAL makes every batch handed to Pebble so far durable, under every
// policy: an empty LogData record committed with a sync request, which
// writes everything queued before it (buffered events included) to the
// operating system, then fsynced (by Pebble under SyncAlways, by fsyncWAL
// otherwise). b is a scratch batch, reset here.
func (s *Store) syncWAL(b *pebble.Batch) error {
	b.Reset()
	if err := b.LogData(nil, nil); err != nil {
		return err
	}
	return s.commit(b, fsynced)
}

// commitOne commits a one-off batch built by fill in the current epoch
// (metadata, snapshots, pruning: not the hot path).
func (s *Store) commitOne(r reach, fill func(b *pebble.Batch, epoch uint64) error) error {
	if err := s.usable(); err != nil {
		return err
	}
	b := s.db.NewBatch()
	epoch := s.lockEpoch()
	if err := fill(b, epoch); err != nil {
		s.unlockEpoch()
		b.Close()
		return err
	}
	err := s.write(b, r)
	s.unlockEpoch()
	if err == nil {
		err = s.wait(b, r)
	}
	if err != nil {
		// After a failed commit Pebble may still hold the batch; leave it to
		// the garbage collector.
		return err
	}
	return b.Close()
}

// usable returns the sticky failure or ErrClosed, if any. Writers check it
// before building a batch (commit checks again under commitMu), readers
// before touching Pebble, which panics on a closed database.
func (s *Store) usable() error {
	if f := s.failed.Load(); f != nil {
		return f
	}
	if s.closed.Load() {
		return ErrClosed
	}
	return nil
}
