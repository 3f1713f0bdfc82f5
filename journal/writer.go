package journal

import (
	"fmt"
	"slices"
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

// CommandWriter journals the commands of one asset, or of a group of assets
// (Store.CommandGroup), in two steps, so that the fsync of one batch
// overlaps the encoding and writing of the next: Write hands a batch to the
// WAL and returns without waiting for the fsync, and Sync waits until every
// batch written before it is durable. A pipeline runs them as two consumers
// in a row, a journal writer and a journal syncer, and gates
// acknowledgements and matching on the syncer:
//
//	writer: Handle(lo, hi) { w.Write(cmds[lo..hi]) }
//	syncer: Handle(lo, hi) { w.SyncTo(seq of hi) }
//
// AppendCommands is Write followed by Sync. Batches are synced in the order
// they were written, and Pebble merges the fsyncs of everything written
// while one is in progress, so one writer keeps the disk busy all the time
// instead of half of it. Write and Sync may be called from different
// goroutines; Write (WriteGroup) calls that share an asset are serialized
// with each other and with AppendCommands for that asset. Under every
// policy Sync waits until the batches are in the operating system (see
// walFile); under SyncAlways also until they are on disk.
//
// A group writer puts the commands of all its assets that one call hands it
// into one Pebble batch: one commit and one WAL write for every asset of a
// pipeline pass instead of one per asset (docs/performance.md, "One group
// commit for all assets").
type CommandWriter struct {
	s       *Store
	members []member

	syncMu sync.Mutex // one waiter for the oldest batch at a time
	mu     sync.Mutex // guards what follows
	queue  [maxInFlight]inflight
	head   int // queue[head] is the oldest of n written, unsynced batches
	n      int
	free   []*pebble.Batch
	made   int // batches allocated, free or in flight or being filled
}

// member is one asset of a CommandWriter.
type member struct {
	asset  uint32
	app    *appender // the asset's command sequence, shared with AppendCommands
	synced uint64    // the last sequence known durable under the policy; under mu
}

// inflight is a batch handed to Pebble whose write (and fsync, under
// SyncAlways) has not been waited for.
type inflight struct {
	b *pebble.Batch
	// last is, per member, the batch's last command sequence, or 0 if the
	// batch holds none of that member's commands. Allocated once per
	// queue slot (NewGroup), so that a write allocates nothing.
	last []uint64
}

// GroupPart is one member's commands in a group write: Member indexes the
// assets given to Store.CommandGroup.
type GroupPart struct {
	Member int
	Cmds   []engine.Command
}

// Commands returns the asset's CommandWriter; every call for an asset
// returns the same one. It panics if the asset belongs to a group writer.
func (s *Store) Commands(asset uint32) *CommandWriter {
	w, err := s.CommandGroup([]uint32{asset})
	if err != nil {
		panic(err)
	}
	return w
}

// CommandGroup returns a CommandWriter for the assets, in that order (a
// GroupPart's Member is an index into it). An asset belongs to at most one
// writer: asking again for exactly the same assets returns the same
// writer; asking for a set that overlaps another writer's is an error.
func (s *Store) CommandGroup(assets []uint32) (*CommandWriter, error) {
	logs, err := s.groupLogs(assets)
	if err != nil {
		return nil, err
	}
	s.assetsMu.Lock()
	defer s.assetsMu.Unlock()
	if w := logs[0].writer; w != nil && slices.EqualFunc(w.members, assets, func(m member, id uint32) bool { return m.asset == id }) {
		return w, nil
	}
	if err := freeForGroup("command writer", assets, logs, func(l *assetLog) bool { return l.writer != nil }); err != nil {
		return nil, err
	}
	w := &CommandWriter{s: s, members: make([]member, len(assets))}
	for i, id := range assets {
		w.members[i] = member{asset: id, app: &logs[i].commands}
	}
	for i := range w.queue {
		w.queue[i].last = make([]uint64, len(assets))
	}
	for _, l := range logs {
		l.writer = w
	}
	return w, nil
}

// groupLogs returns the logs of a group's assets, creating them on first
// use; a group needs at least one asset.
func (s *Store) groupLogs(assets []uint32) ([]*assetLog, error) {
	if len(assets) == 0 {
		return nil, fmt.Errorf("journal: a group needs an asset")
	}
	logs := make([]*assetLog, len(assets))
	for i, id := range assets {
		logs[i] = s.asset(id)
	}
	return logs, nil
}

// freeForGroup checks that the assets are distinct and that none belongs
// to a group of the kind yet (taken). The caller holds s.assetsMu.
func freeForGroup(kind string, assets []uint32, logs []*assetLog, taken func(*assetLog) bool) error {
	for i, id := range assets {
		if taken(logs[i]) || slices.Contains(assets[:i], id) {
			return fmt.Errorf("journal: asset %d already belongs to a %s", id, kind)
		}
	}
	return nil
}

// Write journals cmds (dense, continuing the asset's command sequence) as
// one batch and returns once the batch is handed to Pebble and visible,
// without waiting for its write to the WAL file or its fsync (Sync does).
// Errors are those of AppendCommands. The writer must be a single asset's
// (Store.Commands).
func (w *CommandWriter) Write(cmds []engine.Command) error {
	return w.WriteGroup([]GroupPart{{Member: 0, Cmds: cmds}})
}

// WriteGroup journals the parts, each dense and continuing its member's
// command sequence, in increasing member order with at most one part per
// member, as one batch, and returns once the batch is handed to Pebble,
// like Write. Every part is checked before anything is written: on an
// error nothing of the call is journaled.
func (w *CommandWriter) WriteGroup(parts []GroupPart) error {
	locked := 0
	defer func() {
		for _, p := range parts[:locked] {
			w.members[p.Member].app.mu.Unlock()
		}
	}()
	total := 0
	for i, p := range parts {
		// The members' locks are taken in member order, as close takes
		// them: a member twice would wait for its own lock.
		if i > 0 {
			if err := partOrder(i, parts[i-1].Member, p.Member); err != nil {
				return err
			}
		}
		m := &w.members[p.Member]
		m.app.mu.Lock()
		locked++
		if len(p.Cmds) == 0 {
			continue
		}
		if err := denseCommands(m.asset, p.Cmds); err != nil {
			return err
		}
		if err := m.app.check(w.s, kindCommand, m.asset, p.Cmds[0].Seq); err != nil {
			return err
		}
		total += len(p.Cmds)
	}
	if total == 0 {
		return nil
	}
	b, err := w.take()
	if err != nil {
		return err
	}
	b.Reset()
	epoch := w.s.lockEpoch()
	for _, p := range parts {
		if len(p.Cmds) > 0 {
			m := &w.members[p.Member]
			m.app.putCommands(b, epoch, m.asset, p.Cmds, w.s.blockRecords)
		}
	}
	err = w.s.write(b, written)
	w.s.unlockEpoch()
	if err != nil {
		w.drop()
		return fmt.Errorf("journal: commands of %d assets: %w", len(parts), err)
	}
	w.mu.Lock()
	e := &w.queue[(w.head+w.n)%maxInFlight]
	e.b = b
	clear(e.last)
	for _, p := range parts {
		if len(p.Cmds) > 0 {
			last := p.Cmds[len(p.Cmds)-1].Seq
			w.members[p.Member].app.last = last
			e.last[p.Member] = last
		}
	}
	w.n++
	w.mu.Unlock()
	return nil
}

// partOrder checks that part i's member follows prev, the member of part
// i-1.
func partOrder(i, prev, member int) error {
	if member <= prev {
		return fmt.Errorf("journal: group part %d is of member %d, after member %d: parts must be in increasing member order",
			i, member, prev)
	}
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
// the store's policy and returns the last command sequence known durable
// (of the first member, for a group). A failed fsync makes the store
// unavailable and is returned (matching ErrUnavailable); the batches after
// it are not durable.
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
	synced := w.members[0].synced
	w.mu.Unlock()
	if firstErr != nil {
		return synced, fmt.Errorf("journal: asset %d: sync after seq %d: %w", w.members[0].asset, synced, firstErr)
	}
	return synced, nil
}

// SyncTo waits until the batch holding command seq, and every batch before
// it, is durable under the store's policy, and returns the last command
// sequence known durable (seq or more). Unlike Sync it does not wait for
// batches written after seq's, so a caller that syncs one range while the
// next is being written waits for one fsync, not two. It fails (matching
// ErrUnavailable) once the store has failed, even if seq's own sync
// returned first: the store cannot tell what the disk kept. The writer
// must be a single asset's; SyncMemberTo is its group form.
func (w *CommandWriter) SyncTo(seq uint64) (uint64, error) { return w.SyncMemberTo(0, seq) }

// SyncMemberTo is SyncTo for the commands of one member of a group.
func (w *CommandWriter) SyncMemberTo(member int, seq uint64) (uint64, error) {
	m := &w.members[member]
	for {
		w.mu.Lock()
		synced, n := m.synced, w.n
		w.mu.Unlock()
		if err := w.s.Err(); err != nil {
			return synced, fmt.Errorf("journal: asset %d: sync to seq %d: %w", m.asset, seq, err)
		}
		if synced >= seq {
			return synced, nil
		}
		if n == 0 {
			return synced, fmt.Errorf("journal: asset %d: sync to seq %d: not written (last durable %d)", m.asset, seq, synced)
		}
		if err := w.syncOldest(); err != nil {
			return synced, fmt.Errorf("journal: asset %d: sync to seq %d: %w", m.asset, seq, err)
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
	e := &w.queue[w.head]
	b := e.b
	w.mu.Unlock()

	err := b.SyncWait()

	w.mu.Lock()
	if err == nil {
		for i, last := range e.last {
			if last != 0 {
				w.members[i].synced = last
			}
		}
		w.free = append(w.free, b)
	} else {
		w.made-- // Pebble refuses to reuse a batch whose commit failed
	}
	e.b = nil
	w.head = (w.head + 1) % maxInFlight
	w.n--
	w.mu.Unlock()
	if err != nil {
		return w.s.fail(err)
	}
	return nil
}

// close waits for the batches in flight and releases every batch. The
// store is closed to new writes. A group writer is closed once per member
// asset by Store.Close: the later calls find nothing to do.
func (w *CommandWriter) close() {
	w.Sync()
	for i := range w.members { // no Write is filling a batch
		w.members[i].app.mu.Lock()
	}
	defer func() {
		for i := range w.members {
			w.members[i].app.mu.Unlock()
		}
	}()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, b := range w.free {
		b.Close()
	}
	w.free = nil
}
