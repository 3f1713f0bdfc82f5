package pipeline

import (
	"bytes"
	"fmt"
	"sync"
	"time"

	"github.com/ringex/ringex/engine"
)

// Each stage is a ring.Handler over one asset (the journal's are
// ring.GroupHandlers over several: group.go). The handlers are named types
// over *Asset so that a stage is a method set, not a closure per message.

func (a *Asset) failRange(lo, hi int64) {
	for s := lo; s <= hi; s++ {
		a.in.At(s).failed = true
	}
}

// journalFailed makes the asset unavailable and fails the range.
func (a *Asset) journalFailed(lo, hi int64, first, last uint64, err error) {
	a.unavailable.Store(true)
	a.log.Error("journal append failed: rejecting commands until restart",
		"first_seq", first, "last_seq", last, "err", err)
	a.failRange(lo, hi)
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
	a.publishOut()
	a.m.matched(n, time.Since(start))
}

// publishOut publishes the output entries claimed since the last publish.
//
// The matcher publishes a pass's output once, at its end, not once per
// command: each publish is a sequentially consistent store and a look at
// the output goroutine's doorbell, and, while that goroutine is waking,
// a broadcast under a mutex (ring/sequence.go). A pass's output waits for
// the pass to be matched, a fraction of a microsecond per command. So
// that a pass with more output than the ring holds still streams through
// it, apply publishes early once outPublishAt entries are pending: the
// claims it then waits on need only the consumer to release entries
// already published.
func (a *Asset) publishOut() {
	if a.outClaimed >= a.outNext {
		a.out.Publish(a.outNext, a.outClaimed)
		a.outNext = a.outClaimed + 1
	}
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
		if a.outClaimed-a.outNext+1+int64(n) > a.outPublishAt {
			a.publishOut()
		}
		hi, err := a.out.Claim(n)
		if err != nil {
			// Only Close ends the output ring, and only after the matcher
			// has returned: reaching here is a broken invariant.
			panic(fmt.Sprintf("pipeline: asset %s: output claim: %v", a.Symbol, err))
		}
		lo := hi - int64(n) + 1
		for s := lo; s <= hi; s, done = s+1, done+1 {
			// Only the half of the entry its kind uses is written (see
			// Out): a whole Out literal was built and copied per entry.
			o := a.out.At(s)
			if ci < len(changes) && (ei == len(evs) || ei > 0 && changes[ci].Seq <= evs[ei-1].Seq) {
				o.Level, o.IsLevel, o.EventSeq = changes[ci], true, changes[ci].Seq
				ci++
			} else {
				o.Event, o.IsLevel, o.EventSeq = evs[ei], false, 0
				ei++
			}
		}
		a.outClaimed = hi // published by publishOut
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
// that recovery from it never needs an event it cannot rebuild. It waits
// for that on the event journal's mark, which also wakes it when the event
// journal stage fails or returns: such a snapshot is dropped (recovery
// replays from the previous one).
func (a *Asset) snapshotWriter(wg *sync.WaitGroup) {
	defer wg.Done()
	for snp := range a.snaps {
		if !a.evMark.wait(snp.eventSeq, nil, nil) || a.unavailable.Load() {
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

// eventMark is the last event sequence the event journal holds, with a
// notification for those who wait for it to pass a sequence (the snapshot
// writer, a resuming subscriber). It ends when the event journal stage
// fails or returns, and every waiter wakes then. advance allocates nothing
// unless someone waits.
type eventMark struct {
	mu    sync.Mutex
	seq   uint64
	ended bool
	wake  chan struct{} // closed at the next advance or end; nil if nobody waits
}

// advance records that the event journal holds every event up to seq.
func (m *eventMark) advance(seq uint64) {
	m.mu.Lock()
	m.seq = seq
	m.wakeLocked()
	m.mu.Unlock()
}

// wakeLocked wakes the waiters, if any.
func (m *eventMark) wakeLocked() {
	if m.wake != nil {
		close(m.wake)
		m.wake = nil
	}
}

// end records that the mark will not move again (the stage failed or
// returned) and wakes every waiter.
func (m *eventMark) end() {
	m.mu.Lock()
	m.ended = true
	m.wakeLocked()
	m.mu.Unlock()
}

// wait waits until the mark reaches seq and reports true, or reports false
// once the mark has ended short of it, timeout (if not nil) fires, or
// cancel is closed.
func (m *eventMark) wait(seq uint64, timeout <-chan time.Time, cancel <-chan struct{}) bool {
	for {
		m.mu.Lock()
		if m.seq >= seq {
			m.mu.Unlock()
			return true
		}
		if m.ended {
			m.mu.Unlock()
			return false
		}
		if m.wake == nil {
			m.wake = make(chan struct{})
		}
		wake := m.wake
		m.mu.Unlock()
		select {
		case <-wake:
		case <-timeout:
			return false
		case <-cancel:
			return false
		}
	}
}

// WaitEventsJournaled waits until the event journal holds every event of
// the asset up to seq. It reports false if the event journal stage failed
// or stopped first, timeout passed, or cancel was closed.
func (a *Asset) WaitEventsJournaled(seq uint64, timeout time.Duration, cancel <-chan struct{}) bool {
	t := time.NewTimer(timeout)
	defer t.Stop()
	return a.evMark.wait(seq, t.C, cancel)
}
