package pipeline

import (
	"bytes"
	"fmt"
	"sync"
	"time"

	"github.com/ringex/ringex/engine"
)

// Each stage is a ring.Handler over one asset. The handlers are named types
// over *Asset so that a stage is a method set, not a closure per message.

// journalStage is the group commit of the input ring: every available range
// is written to Pebble as one batch and committed under the sync policy
// before the consumer's sequence (which gates the matcher and the acker)
// moves past it.
type journalStage Asset

func (j *journalStage) Handle(lo, hi int64) {
	a := (*Asset)(j)
	if a.unavailable.Load() {
		a.failRange(lo, hi)
		return
	}
	cmds := a.cmdBatch[:0]
	for s := lo; s <= hi; s++ {
		cmds = append(cmds, a.in.At(s).Cmd)
	}
	a.cmdBatch = cmds
	start := time.Now()
	err := a.reserveThrough(cmds[len(cmds)-1].Seq + a.idOffset)
	if err == nil {
		err = a.store.AppendCommands(a.ID, cmds)
	}
	if err != nil {
		a.unavailable.Store(true)
		a.log.Error("journal append failed: rejecting commands until restart",
			"first_seq", cmds[0].Seq, "last_seq", cmds[len(cmds)-1].Seq, "err", err)
		a.failRange(lo, hi)
		return
	}
	a.m.journalBatch(len(cmds), time.Since(start))
}

func (a *Asset) failRange(lo, hi int64) {
	for s := lo; s <= hi; s++ {
		a.in.At(s).failed = true
	}
}

// ackStage hands committed ranges to the AckSink.
type ackStage struct {
	a    *Asset
	sink AckSink
}

func (s *ackStage) Handle(lo, hi int64) {
	if s.sink != nil {
		s.sink.HandleAcks(s.a, lo, hi)
	}
}

// outChunk bounds one claim on the output ring, so that a command with more
// events than the ring has slots (a market order sweeping a deep book)
// streams through it instead of waiting forever.
const outChunk = 256

// matchStage is the matcher: it applies each journaled command to the book
// and publishes the events and level changes it caused.
type matchStage Asset

func (m *matchStage) Handle(lo, hi int64) {
	a := (*Asset)(m)
	start := time.Now()
	n := 0
	for s := lo; s <= hi; s++ {
		slot := a.in.At(s)
		if slot.failed {
			continue
		}
		a.apply(&slot.Cmd)
		n++
	}
	a.m.matched(n, time.Since(start))
}

func (a *Asset) apply(cmd *engine.Command) {
	evs := a.book.Submit(cmd)
	changes := a.book.Changes()
	// Each level change goes right after the event that made it (its
	// Seq; the engine keeps them in sequence order), so that market data
	// reports it with that event's sequence and before later events.
	total := len(evs) + len(changes)
	ei, ci := 0, 0
	for done := 0; done < total; {
		n := min(total-done, outChunk)
		hi, err := a.out.Claim(n)
		if err != nil {
			// Only Close ends the output ring, and only after the matcher
			// has returned: reaching here is a broken invariant.
			panic(fmt.Sprintf("pipeline: asset %s: output claim: %v", a.Symbol, err))
		}
		lo := hi - int64(n) + 1
		for s := lo; s <= hi; s, done = s+1, done+1 {
			o := a.out.At(s)
			if ci < len(changes) && (ei == len(evs) || ei > 0 && changes[ci].Seq <= evs[ei-1].Seq) {
				*o = Out{Level: changes[ci], IsLevel: true, EventSeq: changes[ci].Seq}
				ci++
			} else {
				*o = Out{Event: evs[ei]}
				ei++
			}
		}
		a.out.Publish(lo, hi)
	}
	a.maybeSnapshot()
}

// maybeSnapshot serializes the book every SnapshotEvery commands and hands
// the bytes to the snapshot writer, so the matcher never does I/O. If the
// writer is still busy with the previous one, it tries again after the next
// command.
func (a *Asset) maybeSnapshot() {
	every := a.ex.cfg.SnapshotEvery
	if every == 0 {
		return
	}
	a.sinceSnp++
	if a.sinceSnp < every {
		return
	}
	if len(a.snaps) == cap(a.snaps) {
		return
	}
	a.sinceSnp = 0
	a.snaps <- a.takeSnapshot()
}

func (a *Asset) takeSnapshot() snapshot {
	a.snapBuf.Reset()
	if err := a.book.Snapshot(&a.snapBuf); err != nil {
		panic(fmt.Sprintf("pipeline: asset %s: snapshot to memory: %v", a.Symbol, err))
	}
	return snapshot{
		cmdSeq:   a.book.LastCmdSeq(),
		eventSeq: a.book.LastEventSeq(),
		data:     bytes.Clone(a.snapBuf.Bytes()),
	}
}

// snapshotWriter persists snapshots off the matcher's goroutine. A snapshot
// is written only once the event journal holds every event it covers, so
// that recovery from it never needs an event it cannot rebuild.
func (a *Asset) snapshotWriter(wg *sync.WaitGroup) {
	defer wg.Done()
	for snp := range a.snaps {
		for a.eventsJournaled.Load() < snp.eventSeq && !a.unavailable.Load() {
			time.Sleep(time.Millisecond)
		}
		if a.unavailable.Load() {
			continue
		}
		if err := a.store.PutSnapshot(a.ID, snp.cmdSeq, snp.eventSeq, snp.data); err != nil {
			a.log.Error("snapshot write failed", "cmd_seq", snp.cmdSeq, "err", err)
			continue
		}
		a.log.Debug("snapshot written", "cmd_seq", snp.cmdSeq, "bytes", len(snp.data))
		if a.ex.cfg.Prune {
			if err := a.store.Prune(a.ID, snp.cmdSeq); err != nil {
				a.log.Error("journal prune failed", "before_seq", snp.cmdSeq, "err", err)
			}
		}
	}
}

// eventStage is the event journal: it persists the engine events of each
// available output range as one batch. Level changes are derived data and
// are not stored.
type eventStage Asset

func (e *eventStage) Handle(lo, hi int64) {
	a := (*Asset)(e)
	evs := a.evBatch[:0]
	for s := lo; s <= hi; s++ {
		if o := a.out.At(s); !o.IsLevel {
			evs = append(evs, o.Event)
		}
	}
	a.evBatch = evs
	if len(evs) == 0 || a.unavailable.Load() {
		return
	}
	if err := a.store.AppendEvents(a.ID, evs); err != nil {
		// The input journal is the source of truth: recovery rebuilds any
		// missing events. A failed store is failed for commands too.
		a.unavailable.Store(true)
		a.log.Error("event journal append failed: rejecting commands until restart", "err", err)
		return
	}
	a.eventsJournaled.Store(evs[len(evs)-1].Seq)
}

// notifyStage hands output ranges to the OutputSink.
type notifyStage struct {
	a    *Asset
	sink OutputSink
}

func (s *notifyStage) Handle(lo, hi int64) {
	if s.sink != nil {
		s.sink.HandleOutput(s.a, lo, hi)
	}
}
