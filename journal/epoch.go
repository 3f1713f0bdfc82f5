package journal

import (
	"bytes"
	"errors"
	"fmt"
	"math"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/sstable/block"
)

// Epochs make the journal cheap for Pebble.
//
// Every key starts with an epoch, and the store moves to the next epoch
// exactly when it makes Pebble switch to a new memtable (rotate). So each
// memtable holds one epoch, and flushes it to one sstable (the L0 target
// file size is above the memtable size) whose keys all sort after every
// table flushed before it: tables never overlap. Pebble then moves each
// flushed table down the levels (a move compaction: a change to the
// manifest) instead of merging it with the tables below, and the journal
// is written to sstables once. With the older layout (kind, asset,
// sequence), the commands, events, snapshots and metadata of every asset
// were interleaved in one key space: each flushed table overlapped the
// ones below, and compactions read, decompressed, merged, recompressed and
// wrote every record again, level by level.
//
// The store rotates itself when the bytes it handed to Pebble since the
// last rotation (with Pebble's per-entry memtable overhead, estimated from
// above) reach 7/8 of Options.MemTableSize (waiting, as Pebble would, for
// earlier memtables to be flushed: see rotate). Pebble also rotates on its own:
// its first memtables are smaller (256 KiB, doubling up to MemTableSize:
// the first epoch of each run spans them, about 7/8 of a memtable), a
// memtable may fill before the rotator runs, and it flushes for other
// reasons (DB.Flush, range deletions from Prune). An epoch then spans two
// tables, which overlap and are compacted the ordinary way. That costs
// only performance: readers find a stream's keys in whatever epochs hold
// them (streamIter). The store does not rotate the small first memtables
// itself: a rotation forces a flush, and Pebble would flush each of them
// to its own small table.
//
// A batch is built and handed to Pebble under epochMu held for reading, and
// a rotation (the memtable switch and the epoch increment) happens under
// it held for writing, so no batch of epoch e reaches memtable e+1.
//
// Sstable blocks are compressed with Pebble's fastest codec (MinLZ on
// amd64, Snappy on arm64), once, when a memtable is flushed: a moved table
// is never rewritten. The flush must keep up with the journal's input
// under sustained load, and on this kind of machine writing bytes through
// the page cache costs more CPU than compressing them: with compression
// off (2026-11-30 21:30 to 2026-12-01 00:50 UTC) a flush of 64 MiB took
// about 300 ms at 8 sessions x 256 in flight, flushes ran back to back,
// the writers waited for memtables (acks stalled 260-405 ms) and the
// throughput fell from 1.0-1.09 M to 0.78-0.79 M orders/s in 20 s runs
// (docs/performance.md, "Compression back on"). Without it, short runs at
// 4 x 64 in flight were 7 % cheaper per order with a slightly lower
// p99.9: the flush never fell behind there. Compressed tables are a
// quarter of the WAL's size (write amplification ~0.3).

// layoutVersion is the on-disk key layout. Version 1 (13-byte keys: kind,
// asset, sequence; no header) is refused at Open.
const layoutVersion = 2

// memtableOverhead is an upper bound of Pebble's memtable bytes per entry
// beyond its key and value (arenaskl.MaxNodeSize with a full tower, the
// key's trailer and alignment).
const memtableOverhead = 224

// lockEpoch returns the current epoch and holds it until unlockEpoch: the
// caller builds its batch in it and hands it to Pebble (write) in between.
func (s *Store) lockEpoch() uint64 {
	s.epochMu.RLock()
	return s.epoch
}

func (s *Store) unlockEpoch() { s.epochMu.RUnlock() }

// noteWritten counts a batch handed to Pebble and wakes the rotator when
// the memtable is nearly full. The caller holds the epoch.
func (s *Store) noteWritten(b *pebble.Batch) {
	n := s.epochBytes.Add(uint64(len(b.Repr())) + uint64(b.Count())*memtableOverhead)
	if n >= s.rotateAt() {
		select {
		case s.rotateWake <- struct{}{}:
		default:
		}
	}
}

// rotateAt is the epochBytes that wake the rotator: 7/8 of a memtable.
func (s *Store) rotateAt() uint64 { return s.memtable / 8 * 7 }

// startRotator starts the goroutine that rotates the memtable and the
// epoch; stopRotator stops it.
func (s *Store) startRotator() {
	s.rotateWake = make(chan struct{}, 1)
	s.rotateStop = make(chan struct{})
	s.rotateDone = make(chan struct{})
	go s.rotator()
}

func (s *Store) stopRotator() {
	if s.rotateStop == nil {
		return
	}
	s.rotateOnce.Do(func() { close(s.rotateStop) })
	<-s.rotateDone
}

func (s *Store) rotator() {
	defer close(s.rotateDone)
	for {
		select {
		case <-s.rotateStop:
			return
		case <-s.rotateWake:
		}
		if err := s.rotate(); err != nil {
			return // the store has failed (or is closing); it writes nothing more
		}
	}
}

// memtableStopWrites is the store's own write stall (rotate): it switches
// memtables only while the queued ones (the mutable one included) add up
// to less than this many MemTableSizes, Pebble's default stop threshold.
const memtableStopWrites = 2

// pebbleStopWrites is the MemTableStopWritesThreshold the store gives
// Pebble: far enough above memtableStopWrites that Pebble's own stall is
// never reached. Pebble stalls a write that needs a new memtable inside its
// commit pipeline, and only a flush that succeeds ends that stall: a flush
// that fails (a full disk) left the writer there for good, holding
// commitMu, with every other writer and Close behind it. The store's stall
// (rotate) holds writers off outside Pebble, where a failure or Close ends
// the wait. Past it, the queue grows only by the memtables that writers
// fill while the woken rotator waits to be scheduled (Pebble then switches
// on its own, without a stall): one at most in practice, each a whole
// memtable of writes.
const pebbleStopWrites = 8 * memtableStopWrites

// l0StopWrites is the store's stall on L0 (rotate): it switches memtables
// only while L0 has fewer sublevels than this, Pebble's default
// L0StopWritesThreshold. Pebble's own L0 stall, like its memtable stall,
// waits inside the commit pipeline until a compaction ends, for good if
// compactions fail (a full disk), so the store gives Pebble a threshold
// out of reach (pebbleL0StopWrites). L0 grows only by flushes, and the
// store's stall holds flushes back with the memtable switches.
const (
	l0StopWrites       = 12
	pebbleL0StopWrites = 64 * l0StopWrites
)

// rotate switches Pebble to a new memtable and the store to the next
// epoch.
//
// When the switch would stall (earlier memtables still being flushed, or
// L0 at l0StopWrites sublevels), Pebble would wait inside AsyncFlush until
// a flush (a compaction) is done, and for good if it fails (a full disk):
// with the epoch lock held, every writer, and Close, which stops the
// rotator first, would wait with it. So rotate waits for the flush or
// compaction itself, holding the lock as the stall did (writers wait, and
// the epoch still ends with its memtable), but a failure or Close ends the
// wait.
func (s *Store) rotate() error {
	s.epochMu.Lock()
	defer s.epochMu.Unlock()
	if s.epochBytes.Load() < s.rotateAt() {
		return nil // a wake-up left over from before the last rotation
	}
	for {
		if err := s.usable(); err != nil {
			return err
		}
		// Writers are held off (epochMu), so the memtables cannot grow
		// between this check and AsyncFlush. Past the stall threshold the
		// queued memtables are big enough for Pebble to flush them, so a
		// flush ends the wait; past the L0 one, Pebble compacts L0, and a
		// compaction ends it. (Sublevels bound Pebble's L0 read
		// amplification from above.)
		m := s.db.Metrics()
		if m.MemTable.Size < memtableStopWrites*s.memtable && m.Levels[0].Sublevels < l0StopWrites {
			break
		}
		select {
		case <-s.rotateStop:
			return ErrClosed
		case <-s.faults.failedC:
			return s.Err()
		case <-s.flushEnded:
		}
	}
	if _, err := s.db.AsyncFlush(); err != nil {
		return s.fail(fmt.Errorf("rotate memtable: %w", err))
	}
	s.epoch++
	s.epochBytes.Store(0)
	return nil
}

// tuneOptions sets the Pebble options of an append-only journal whose
// flushed tables do not overlap (see above).
func tuneOptions(po *pebble.Options, memtable uint64) {
	for i := range po.Levels {
		po.Levels[i].Compression = func() *block.CompressionProfile { return block.FastestCompression }
	}
	// One table per flush: a flush split in several tables would make
	// Pebble compact them together out of L0 (growL0ForBase) instead of
	// moving them.
	po.TargetFileSizes[0] = int64(2 * memtable)
	// Compact (move) each flushed table out of L0 at once, alone: a move
	// takes a single input table.
	po.L0CompactionFileThreshold = 1
	// The store stalls writers itself (rotate), not Pebble.
	po.MemTableStopWritesThreshold = pebbleStopWrites
	po.L0StopWritesThreshold = pebbleL0StopWrites
}

// openLayout checks the store header, writing it in a new store, and sets
// the epoch of this run: one past the newest on disk.
func (s *Store) openLayout(dir string) error {
	it, err := s.db.NewIter(nil)
	if err != nil {
		return err
	}
	defer it.Close()
	if !it.First() {
		if err := it.Error(); err != nil {
			return err
		}
		s.epoch = 1
		return s.commitOne(fsynced, func(b *pebble.Batch, _ uint64) error {
			return b.Set(headerKey, encodeHeader(layoutVersion), nil)
		})
	}
	if !isHeader(it.Key()) {
		return fmt.Errorf("journal: %s holds a journal of layout version 1 (no header; written by ringex before 2026-11-30); "+
			"this build reads layout version %d only: recover it with the build that wrote it, or start with an empty directory", dir, layoutVersion)
	}
	v, err := it.ValueAndErr()
	if err != nil {
		return err
	}
	layout, err := decodeHeader(v)
	if err != nil {
		return &CorruptError{Key: bytes.Clone(headerKey), Reason: "store header: " + err.Error(), Err: err}
	}
	if layout != layoutVersion {
		return fmt.Errorf("journal: %s holds a journal of layout version %d; this build reads layout version %d only", dir, layout, layoutVersion)
	}
	if !it.Last() {
		return errors.Join(errors.New("journal: store header vanished"), it.Error())
	}
	last := epochOf(it.Key())
	if last == math.MaxUint64 {
		return fmt.Errorf("journal: %s: epochs exhausted", dir)
	}
	s.epoch = last + 1
	return nil
}
