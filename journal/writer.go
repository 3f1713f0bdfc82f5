package journal

import (
	"fmt"
	"sync"

	"github.com/cockroachdb/pebble/v2"

	"github.com/ringex/ringex/engine"
)

// maxInFlight is how many batches a CommandWriter has (written and not yet
// synced, or being filled); Write syncs the oldest itself when it needs one.
// The pipeline's writer stage writes a batch per available range, every few
// tens of microseconds at saturation, while one fsync takes a few hundred:
// with 4 the writer stalled in an fsync of its own several times per sync
// and the commands behind it missed the next one (docs/performance.md,
// "Kept: under -sync always, write batch N+1 while N is fsynced"). A batch
// is a reused pebble.Batch of a few kilobytes.
const maxInFlight = 64

// CommandWriter journals one asset's commands in two steps, so that the
// fsync of one batch overlaps the encoding and writing of the next: Write
// hands a batch to the WAL and returns without waiting for the fsync, and
// Sync waits until every batch written before it is durable. A pipeline runs
// them as two consumers in a row, a journal writer and a journal syncer,
// and gates acknowledgements and matching on the syncer:
//
//	writer: Handle(lo, hi) { w.Write(cmds[lo..hi]) }
//	syncer: Handle(lo, hi) { w.Sync() }  // returns the last durable sequence >= hi
//
// AppendCommands is Write followed by Sync. Batches are synced in the order
// they were written, and Pebble merges the fsyncs of everything written
// while one is in progress, so one writer keeps the disk busy all the time
// instead of half of it. Write and Sync may be called from different
// goroutines; Write calls are serialized with each other and with
// AppendCommands for the same asset. Under every policy Sync waits until
// the batches are in the operating system (see walFile); under SyncAlways
// also until they are on disk.
type CommandWriter struct {
	s     *Store
	asset uint32
	app   *appender // the asset's command sequence, shared with AppendCommands

	syncMu sync.Mutex // one waiter for the oldest batch at a time
	mu     sync.Mutex // guards what follows
	queue  [maxInFlight]inflight
	head   int // queue[head] is the oldest of n written, unsynced batches
	n      int
	free   []*pebble.Batch
	made   int    // batches allocated, free or in flight or being filled
	synced uint64 // the last sequence known durable under the policy
}

// inflight is a batch handed to Pebble whose write (and fsync, under
// SyncAlways) has not been waited for.
type inflight struct {
	b    *pebble.Batch
	last uint64 // the batch's last command sequence
}

// Commands returns the asset's CommandWriter; every call for an asset
// returns the same one.
func (s *Store) Commands(asset uint32) *CommandWriter {
	a := s.asset(asset)
	s.assetsMu.Lock()
	defer s.assetsMu.Unlock()
	if a.writer == nil {
		a.writer = &CommandWriter{s: s, asset: asset, app: &a.commands}
	}
	return a.writer
}

// Write journals cmds (dense, continuing the asset's command sequence) as
// one batch and returns once the batch is handed to Pebble and visible,
// without waiting for its write to the WAL file or its fsync (Sync does). Errors are those of AppendCommands.
func (w *CommandWriter) Write(cmds []engine.Command) error {
	if len(cmds) == 0 {
		return nil
	}
	a := w.app
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := denseCommands(w.asset, cmds); err != nil {
		return err
	}
	if err := a.check(w.s, kindCommand, w.asset, cmds[0].Seq); err != nil {
		return err
	}
	b, err := w.take()
	if err != nil {
		return err
	}
	b.Reset()
	epoch := w.s.lockEpoch()
	putCommands(b, epoch, w.asset, cmds, w.s.blockRecords)
	last := cmds[len(cmds)-1].Seq
	err = w.s.write(b, written)
	w.s.unlockEpoch()
	if err != nil {
		w.drop()
		return fmt.Errorf("journal: asset %d: commands %d-%d: %w", w.asset, cmds[0].Seq, last, err)
	}
	a.last = last
	w.mu.Lock()
	w.queue[(w.head+w.n)%maxInFlight] = inflight{b: b, last: last}
	w.n++
	w.mu.Unlock()
	return nil
}

// take returns a batch to fill: a free one, a new one while fewer than
// maxInFlight exist, or, when all are in flight, the oldest once it is
// synced. So at most maxInFlight batches are ever in flight.
func (w *CommandWriter) take() (*pebble.Batch, error) {
	for {
		w.mu.Lock()
		if k := len(w.free); k > 0 {
			b := w.free[k-1]
			w.free = w.free[:k-1]
			w.mu.Unlock()
			return b, nil
		}
		if w.made < maxInFlight || w.n == 0 {
			w.made++
			w.mu.Unlock()
			return w.s.db.NewBatch(), nil
		}
		w.mu.Unlock()
		if err := w.syncOldest(); err != nil {
			return nil, err
		}
	}
}

// drop forgets a batch that failed to commit: Pebble may still hold it.
func (w *CommandWriter) drop() {
	w.mu.Lock()
	w.made--
	w.mu.Unlock()
}

// Sync waits until every batch written before the call is durable under
// the store's policy and returns the last command sequence known durable.
// A failed fsync makes the store unavailable and is returned (matching
// ErrUnavailable); the batches after it are not durable.
func (w *CommandWriter) Sync() (uint64, error) {
	w.mu.Lock()
	n := w.n
	w.mu.Unlock()
	var firstErr error
	for range n {
		if err := w.syncOldest(); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	w.mu.Lock()
	synced := w.synced
	w.mu.Unlock()
	if firstErr != nil {
		return synced, fmt.Errorf("journal: asset %d: sync after seq %d: %w", w.asset, synced, firstErr)
	}
	return synced, nil
}

// SyncTo waits until the batch holding command seq, and every batch before
// it, is durable under the store's policy, and returns the last command
// sequence known durable (seq or more). Unlike Sync it does not wait for
// batches written after seq's, so a caller that syncs one range while the
// next is being written waits for one fsync, not two. It fails (matching
// ErrUnavailable) once the store has failed, even if seq's own sync
// returned first: the store cannot tell what the disk kept.
func (w *CommandWriter) SyncTo(seq uint64) (uint64, error) {
	for {
		w.mu.Lock()
		synced, n := w.synced, w.n
		w.mu.Unlock()
		if err := w.s.Err(); err != nil {
			return synced, fmt.Errorf("journal: asset %d: sync to seq %d: %w", w.asset, seq, err)
		}
		if synced >= seq {
			return synced, nil
		}
		if n == 0 {
			return synced, fmt.Errorf("journal: asset %d: sync to seq %d: not written (last durable %d)", w.asset, seq, synced)
		}
		if err := w.syncOldest(); err != nil {
			return synced, fmt.Errorf("journal: asset %d: sync to seq %d: %w", w.asset, seq, err)
		}
	}
}

// syncOldest waits for the oldest in-flight batch's fsync, if any, and
// frees it.
func (w *CommandWriter) syncOldest() error {
	w.syncMu.Lock()
	defer w.syncMu.Unlock()
	w.mu.Lock()
	if w.n == 0 {
		w.mu.Unlock()
		return nil
	}
	e := w.queue[w.head]
	w.mu.Unlock()

	err := e.b.SyncWait()

	w.mu.Lock()
	w.queue[w.head] = inflight{}
	w.head = (w.head + 1) % maxInFlight
	w.n--
	if err == nil {
		w.synced = e.last
		w.free = append(w.free, e.b)
	} else {
		w.made-- // Pebble refuses to reuse a batch whose commit failed
	}
	w.mu.Unlock()
	if err != nil {
		return w.s.fail(err)
	}
	return nil
}

// close waits for the batches in flight and releases every batch. The
// store is closed to new writes.
func (w *CommandWriter) close() {
	w.Sync()
	w.app.mu.Lock() // no Write is filling a batch
	defer w.app.mu.Unlock()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, b := range w.free {
		b.Close()
	}
	w.free = nil
}
