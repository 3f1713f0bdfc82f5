package journal

import (
	"fmt"
	"slices"
	"sync"

	"github.com/cockroachdb/pebble/v2"

	"github.com/ringex/ringex/engine"
)

// blockRecords is the most records one Pebble value holds. An Append writes
// its records in blocks of consecutive sequences, each keyed by the sequence
// of its first record: Pebble's cost is mostly per key (memtable insertion,
// iteration), so a block of 64 cuts it 64-fold, and a version 2 block's
// header and first record (encoded from zero) are shared by up to 64
// records; a damaged block withholds at most 64 records (its checksum
// covers them all). Readers accept blocks of any length.
const blockRecords = 64

// assetLog holds an asset's two appenders. Commands and events have separate
// batches and locks: the journal consumer and the event consumer of an asset
// run on different goroutines.
type assetLog struct {
	commands appender
	events   appender
	writer   *CommandWriter // created by Store.Commands; under Store.assetsMu
	// eventGroup is the EventGroup the events belong to, if any; under
	// Store.assetsMu.
	eventGroup *EventGroup
}

// appender is the write side of one sequence (an asset's commands or its
// events): the last written sequence, against which the next append is
// checked for density, and a batch reused across commits so that a steady
// append allocates nothing.
type appender struct {
	mu    sync.Mutex
	batch *pebble.Batch
	last  uint64 // the last written sequence; valid if known
	known bool
	buf   []byte // a block's key and value being encoded
}

func (w *appender) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.batch != nil {
		w.batch.Close()
		w.batch = nil
	}
}

// asset returns the asset's log, creating it on first use.
func (s *Store) asset(id uint32) *assetLog {
	s.assetsMu.RLock()
	a := s.assets[id]
	s.assetsMu.RUnlock()
	if a != nil {
		return a
	}
	s.assetsMu.Lock()
	defer s.assetsMu.Unlock()
	if a = s.assets[id]; a == nil {
		a = new(assetLog)
		s.assets[id] = a
	}
	return a
}

// check verifies that a batch from first to last continues w's sequence
// densely, loading the last sequence from the database on first use. The
// caller holds w.mu and has checked that the batch itself is dense.
func (w *appender) check(s *Store, kind byte, asset uint32, first uint64) error {
	if err := s.usable(); err != nil {
		return err
	}
	if !w.known {
		last, err := s.lastSeq(kind, asset)
		if err != nil {
			return err
		}
		w.last, w.known = last, true
	}
	if first != w.last+1 {
		return fmt.Errorf("journal: asset %d: %s seq %d does not follow %d: %w",
			asset, kindName(kind), first, w.last, ErrSequence)
	}
	return nil
}

// reset returns w's batch, reset. The caller holds w.mu.
func (w *appender) reset(s *Store) *pebble.Batch {
	if w.batch == nil {
		w.batch = s.db.NewBatch()
	}
	w.batch.Reset()
	return w.batch
}

func denseCommands(asset uint32, cmds []engine.Command) error {
	for i := range cmds {
		if want := cmds[0].Seq + uint64(i); cmds[i].Seq != want {
			return fmt.Errorf("journal: asset %d: command %d of the batch has seq %d, want %d: %w",
				asset, i, cmds[i].Seq, want, ErrSequence)
		}
	}
	return nil
}

// putCommands adds cmds to b, in the given epoch, in blocks of at most per
// records, encoding each block in w.buf first (its length is known only
// once it is encoded). The caller holds w.mu.
func (w *appender) putCommands(b *pebble.Batch, epoch uint64, asset uint32, cmds []engine.Command, per int) {
	for lo := 0; lo < len(cmds); lo += per {
		block := cmds[lo:min(lo+per, len(cmds))]
		kv := w.key(epoch, kindCommand, asset, block[0].Seq)
		w.buf = appendCommandBlock(kv, asset, block)
		// The batch is not indexed, so Set only copies and cannot fail.
		_ = b.Set(w.buf[:keyLen], w.buf[keyLen:], nil)
	}
}

// key returns w.buf holding the key, for a block to be appended to.
func (w *appender) key(epoch uint64, kind byte, asset uint32, seq uint64) []byte {
	if cap(w.buf) < keyLen {
		w.buf = make([]byte, keyLen, 4096)
	}
	kv := w.buf[:keyLen]
	putKey(kv, epoch, kind, asset, seq)
	return kv
}

// AppendCommands journals cmds, which must continue the asset's command
// sequence densely (the first command of a journal has Seq 1), as one
// batch committed under the store's sync policy: when it returns nil the
// commands are in the operating system (a crash of the process cannot lose
// them) and as durable against a crash of the machine as the policy makes
// them. A sequence error leaves the store usable; a write error makes it
// unavailable for good.
//
// AppendCommands waits for its write (and fsync) before it returns; a
// CommandWriter (Store.Commands) lets the next batch be written while one
// is synced.
func (s *Store) AppendCommands(asset uint32, cmds []engine.Command) error {
	if len(cmds) == 0 {
		return nil
	}
	w := &s.asset(asset).commands
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := denseCommands(asset, cmds); err != nil {
		return err
	}
	if err := w.check(s, kindCommand, asset, cmds[0].Seq); err != nil {
		return err
	}
	b := w.reset(s)
	epoch := s.lockEpoch()
	w.putCommands(b, epoch, asset, cmds, s.blockRecords)
	err := s.write(b, written)
	s.unlockEpoch()
	if err == nil {
		err = s.wait(b, written)
	}
	if err != nil {
		return fmt.Errorf("journal: asset %d: commands %d-%d: %w", asset, cmds[0].Seq, cmds[len(cmds)-1].Seq, err)
	}
	w.last = cmds[len(cmds)-1].Seq
	return nil
}

// AppendEvents journals evs, which must continue the asset's event sequence
// densely, as one batch. Events are not even written to the operating
// system on their own (see the package comment): they may wait in Pebble's
// WAL buffer until the next command batch, snapshot or interval sync, and
// recovery rebuilds any a crash lost, identical, from the commands.
func (s *Store) AppendEvents(asset uint32, evs []engine.Event) error {
	if len(evs) == 0 {
		return nil
	}
	w := &s.asset(asset).events
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := checkEvents(s, w, asset, evs); err != nil {
		return err
	}
	b := w.reset(s)
	epoch := s.lockEpoch()
	w.putEvents(b, epoch, asset, evs, s.blockRecords)
	err := s.write(b, buffered) // buffered: nothing to wait for
	s.unlockEpoch()
	if err != nil {
		return fmt.Errorf("journal: asset %d: events %d-%d: %w", asset, evs[0].Seq, evs[len(evs)-1].Seq, err)
	}
	w.last = evs[len(evs)-1].Seq
	return nil
}

// checkEvents checks that evs are dense and continue w's sequence. The
// caller holds w.mu.
func checkEvents(s *Store, w *appender, asset uint32, evs []engine.Event) error {
	for i := range evs {
		if want := evs[0].Seq + uint64(i); evs[i].Seq != want {
			return fmt.Errorf("journal: asset %d: event %d of the batch has seq %d, want %d: %w",
				asset, i, evs[i].Seq, want, ErrSequence)
		}
	}
	return w.check(s, kindEvent, asset, evs[0].Seq)
}

// putEvents adds evs to b, in the given epoch, in blocks of at most per
// records, like putCommands.
func (w *appender) putEvents(b *pebble.Batch, epoch uint64, asset uint32, evs []engine.Event, per int) {
	for lo := 0; lo < len(evs); lo += per {
		block := evs[lo:min(lo+per, len(evs))]
		kv := w.key(epoch, kindEvent, asset, block[0].Seq)
		w.buf = appendEventBlock(kv, asset, block)
		_ = b.Set(w.buf[:keyLen], w.buf[keyLen:], nil)
	}
}

// EventGroup journals the events of several assets, each call's as one
// batch: AppendEvents's group form, for a pipeline that runs the event
// journal of several assets on one goroutine. It is used by one goroutine
// at a time.
type EventGroup struct {
	s       *Store
	members []*appender
	assets  []uint32
	batch   *pebble.Batch
}

// EventPart is one member's events in an EventGroup append: Member indexes
// the assets given to Store.EventGroup.
type EventPart struct {
	Member int
	Events []engine.Event
}

// EventGroup returns an EventGroup for the assets, in that order. An
// asset's events belong to at most one group: asking again for exactly the
// same assets returns the same group (an exchange reopened over the store,
// as CommandGroup does); asking for a set that overlaps another group's is
// an error.
func (s *Store) EventGroup(assets []uint32) (*EventGroup, error) {
	logs, err := s.groupLogs(assets)
	if err != nil {
		return nil, err
	}
	s.assetsMu.Lock()
	defer s.assetsMu.Unlock()
	if g := logs[0].eventGroup; g != nil && slices.Equal(g.assets, assets) {
		return g, nil
	}
	if err := freeForGroup("event group", assets, logs, func(l *assetLog) bool { return l.eventGroup != nil }); err != nil {
		return nil, err
	}
	g := &EventGroup{s: s, assets: slices.Clone(assets), batch: s.db.NewBatch()}
	for _, l := range logs {
		g.members = append(g.members, &l.events)
		l.eventGroup = g
	}
	return g, nil
}

// Append journals the parts, each dense and continuing its member's event
// sequence, at most one part per member, as one batch, like AppendEvents.
// The parts are in increasing member order. Every part is checked before
// anything is written.
func (g *EventGroup) Append(parts []EventPart) error {
	locked := 0
	defer func() {
		for _, p := range parts[:locked] {
			g.members[p.Member].mu.Unlock()
		}
	}()
	total := 0
	for i, p := range parts {
		if i > 0 {
			if err := partOrder(i, parts[i-1].Member, p.Member); err != nil {
				return err
			}
		}
		w := g.members[p.Member]
		w.mu.Lock()
		locked++
		if len(p.Events) == 0 {
			continue
		}
		if err := checkEvents(g.s, w, g.assets[p.Member], p.Events); err != nil {
			return err
		}
		total += len(p.Events)
	}
	if total == 0 {
		return nil
	}
	b := g.batch
	b.Reset()
	epoch := g.s.lockEpoch()
	for _, p := range parts {
		if len(p.Events) > 0 {
			g.members[p.Member].putEvents(b, epoch, g.assets[p.Member], p.Events, g.s.blockRecords)
		}
	}
	err := g.s.write(b, buffered)
	g.s.unlockEpoch()
	if err != nil {
		return fmt.Errorf("journal: events of %d assets: %w", len(parts), err)
	}
	for _, p := range parts {
		if len(p.Events) > 0 {
			g.members[p.Member].last = p.Events[len(p.Events)-1].Seq
		}
	}
	return nil
}
