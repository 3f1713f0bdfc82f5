package pipeline

import (
	"fmt"
	"time"

	"github.com/ringex/ringex/journal"
	"github.com/ringex/ringex/ring"
)

// An asset group is a set of assets whose stages share their goroutines,
// each stage a ring.Group over the group's rings (Config.AssetGroups sets
// how many groups the assets are spread over, round robin in configuration
// order):
//
//   - the commit: each pass takes every available range of every asset of
//     the group, journals them all as one Pebble batch
//     (journal.CommandWriter.WriteGroup: one commit and one WAL write), and
//     then hands the acks of the whole pass to the AckSink, which writes
//     each session once for all assets (AckFlusher);
//   - the matchers, behind the commit: each asset's range to its own book,
//     on the commit goroutine after the pass's acks (matchOnCommit), or on
//     a goroutine of their own when they are pinned apart;
//   - the output: every asset's events of a pass to the event journal as one
//     batch (journal.EventGroup), then to the OutputSink.
//
// With a group per asset, as before groups existed, a pass covered one
// asset, and a session that trades three assets got three WAL writes and
// three ack write(2)s where one does, and every stage woke once per asset
// (docs/performance.md, "One group commit for all assets"). One group suits
// a small machine; more suit many assets on a machine with cores to spare,
// where one journal goroutine would be the bottleneck.
//
// Under SyncAlways the commit runs on two goroutines, as a single asset's
// did: writeGroup hands each pass to the WAL without waiting for its fsync,
// and syncGroup, whose members run behind writeGroup's, waits until each
// range is durable (CommandWriter.SyncMemberTo) and then acks the pass. The
// fsync of one pass so overlaps the gathering and writing of the next.
// Under SyncInterval and SyncOff the commit waits for a write(2) only, and
// the extra goroutine would cost a wake-up per pass for nothing, so one
// goroutine writes, waits and acks (fusedCommitGroup).
type assetGroup struct {
	index  int
	assets []*Asset // member i of the rings' groups and of cw
	cw     *journal.CommandWriter
	sink   AckSink
	flush  AckFlusher // sink's, if it implements it

	// Scratch of the writing goroutine, reused per pass.
	parts   []journal.GroupPart
	written []ring.Range

	write, commit *ring.Group // write is nil unless SyncAlways
	// match is the matchers' own goroutine, behind commit, when the
	// matcher is pinned to a CPU of its own; nil when the matchers run on
	// the commit goroutine, after the acks of each pass (matchOnCommit).
	match *ring.Group

	// The output side: the group's output rings on one goroutine
	// (outputGroup).
	output  *ring.Group
	events  *journal.EventGroup
	evParts []journal.EventPart
}

// AckFlusher is implemented by an AckSink that gathers acks over the assets
// of a pass: FlushAcks(group) follows the HandleAcks calls of one pass of
// asset group group, on the same goroutine, so that each session's acks of
// every asset of the pass go out in one write.
type AckFlusher interface {
	FlushAcks(group int)
}

// newAssetGroups spreads the assets over n asset groups and builds their
// writers and ring groups. The assets' consumers exist and their rings are
// not started.
func (ex *Exchange) newAssetGroups(n int) error {
	n = max(1, min(n, len(ex.assets)))
	groups := make([]*assetGroup, n)
	for i := range groups {
		groups[i] = &assetGroup{index: i}
	}
	for i, a := range ex.assets {
		g := groups[i%n]
		a.group, a.member = g, len(g.assets)
		g.assets = append(g.assets, a)
	}
	commitCPU, matchCPU, outCPU, err := ex.cfg.Pin.goroutines()
	if err != nil {
		return err
	}
	for _, g := range groups {
		if err := g.build(ex.store, commitCPU, matchCPU, outCPU); err != nil {
			return err
		}
	}
	ex.groups = groups
	return nil
}

// build makes the group's journal writers and its ring groups, each
// pinned to its stage's CPU (-1: unpinned). The WAL writer of a split
// commit shares the journal's CPU.
func (g *assetGroup) build(store *journal.Store, commitCPU, matchCPU, outCPU int) error {
	ids := make([]uint32, len(g.assets))
	for i, a := range g.assets {
		ids[i] = a.ID
	}
	var err error
	if g.cw, err = store.CommandGroup(ids); err != nil {
		return err
	}
	if g.events, err = store.EventGroup(ids); err != nil {
		return err
	}
	if g.commit, err = g.ringGroup("journal", commitCPU, func(a *Asset) *ring.Consumer { return a.commitC }); err != nil {
		return err
	}
	if g.assets[0].writeC != nil {
		if g.write, err = g.ringGroup("journal-write", commitCPU, func(a *Asset) *ring.Consumer { return a.writeC }); err != nil {
			return err
		}
	}
	if g.assets[0].matchC != nil {
		if g.match, err = g.ringGroup("matcher", matchCPU, func(a *Asset) *ring.Consumer { return a.matchC }); err != nil {
			return err
		}
	}
	if g.output, err = g.ringGroup("events", outCPU, func(a *Asset) *ring.Consumer { return a.outC }); err != nil {
		return err
	}
	g.parts = make([]journal.GroupPart, 0, len(g.assets))
	g.written = make([]ring.Range, 0, len(g.assets))
	g.evParts = make([]journal.EventPart, 0, len(g.assets))
	return nil
}

// ringGroup groups one stage's consumer of every asset of g, in member
// order, pinned to cpu unless it is -1.
func (g *assetGroup) ringGroup(stage string, cpu int, consumer func(*Asset) *ring.Consumer) (*ring.Group, error) {
	cs := make([]*ring.Consumer, len(g.assets))
	for i, a := range g.assets {
		cs[i] = consumer(a)
	}
	rg, err := ring.NewGroup(fmt.Sprintf("%s-%d", stage, g.index), cs...)
	if err != nil {
		return nil, err
	}
	if cpu >= 0 {
		rg.PinCPU(cpu)
	}
	return rg, nil
}

// start runs the group's goroutines with the acks going to sink and the
// output to output.
func (g *assetGroup) start(ex *Exchange, sink AckSink, output OutputSink) {
	g.sink = sink
	g.flush, _ = sink.(AckFlusher)
	// When the matchers have drained their input rings (Close), each
	// asset's final snapshot is taken and its output ring closed, which
	// lets the output group drain and return. The matchers run on the
	// commit goroutine unless they have their own.
	matchingDone := func() {
		for _, a := range g.assets {
			a.matchingDone()
		}
	}
	commitDone := matchingDone
	if g.match != nil {
		commitDone = nil
		ex.runGroup(g.match, (*matchGroup)(g), matchingDone)
	}
	if g.write != nil {
		ex.runGroup(g.write, (*writeGroup)(g), nil)
		ex.runGroup(g.commit, (*syncGroup)(g), commitDone)
	} else {
		ex.runGroup(g.commit, (*fusedCommitGroup)(g), commitDone)
	}
	// Whatever ends the output group (its rings drained and closed, or a
	// failure), the assets' event marks end with it, so that no waiter
	// outlives it.
	ex.runGroup(g.output, &outputGroup{g: g, sink: output}, func() {
		for _, a := range g.assets {
			a.evMark.end()
		}
	})
}

func (ex *Exchange) runGroup(rg *ring.Group, h ring.GroupHandler, done func()) {
	ex.wg.Add(1)
	go func() {
		defer ex.wg.Done()
		if done != nil {
			defer done()
		}
		if err := rg.Run(h); err != nil {
			ex.errs <- err
		}
	}()
}

// writePass hands the pass's ranges to the journal as one batch, after
// reserving their order ids, and returns the ranges it wrote (reused by the
// next pass). A range of an asset that is unavailable, or whose order ids
// cannot be reserved (the asset's id space is used up), is failed on its
// own; if the batch cannot be written, every range of it is failed and its
// assets become unavailable (the store has failed: they all would).
func (g *assetGroup) writePass(rs []ring.Range) []ring.Range {
	parts, written := g.parts[:0], g.written[:0]
	for _, r := range rs {
		a := g.assets[r.Member]
		if a.unavailable.Load() {
			a.failRange(r.Lo, r.Hi)
			continue
		}
		cmds := a.cmdBatch[:0]
		for s := r.Lo; s <= r.Hi; s++ {
			cmds = append(cmds, a.in.At(s).Cmd)
		}
		a.cmdBatch = cmds
		if err := a.reserveThrough(cmds[len(cmds)-1].Seq + a.idOffset); err != nil {
			a.journalFailed(r.Lo, r.Hi, cmds[0].Seq, cmds[len(cmds)-1].Seq, err)
			continue
		}
		parts = append(parts, journal.GroupPart{Member: r.Member, Cmds: cmds})
		written = append(written, r)
	}
	g.parts, g.written = parts, written
	if len(parts) == 0 {
		return nil
	}
	if err := g.cw.WriteGroup(parts); err != nil {
		g.failRanges(written, err)
		return nil
	}
	return written
}

// failRanges fails ranges whose batch failed with err: their assets become
// unavailable.
func (g *assetGroup) failRanges(rs []ring.Range, err error) {
	for _, r := range rs {
		a := g.assets[r.Member]
		a.journalFailed(r.Lo, r.Hi, a.in.At(r.Lo).Cmd.Seq, a.in.At(r.Hi).Cmd.Seq, err)
	}
}

// ack hands the pass's acks to the sink: HandleAcks per range, then one
// FlushAcks.
func (g *assetGroup) ack(rs []ring.Range) {
	if g.sink == nil {
		return
	}
	for _, r := range rs {
		g.sink.HandleAcks(g.assets[r.Member], r.Lo, r.Hi)
	}
	if g.flush != nil {
		g.flush.FlushAcks(g.index)
	}
}

// observe records the pass in each asset's journal metrics.
func (g *assetGroup) observe(rs []ring.Range, took time.Duration) {
	for _, r := range rs {
		g.assets[r.Member].m.journalBatch(int(r.Hi-r.Lo+1), took)
	}
}

// fusedCommitGroup is the commit of a pass on one goroutine (SyncInterval,
// SyncOff): write, wait for the write, ack. HandleAcks runs only after the
// batch is in the operating system, so nothing is acknowledged before it
// is committed under the policy. The matchers, behind the group's members,
// see a range only once its acks are written (a write(2) per session of
// the pass): that delays matching by tens of microseconds, not the acks.
type fusedCommitGroup assetGroup

func (f *fusedCommitGroup) HandleGroup(rs []ring.Range) {
	g := (*assetGroup)(f)
	start := time.Now()
	if written := g.writePass(rs); len(written) > 0 {
		if _, err := g.cw.Sync(); err != nil {
			g.failRanges(written, err)
		} else {
			g.observe(written, time.Since(start))
		}
	}
	g.ack(rs)
	g.matchOnCommit(rs)
}

// writeGroup is the first half of a SyncAlways commit: it hands each pass
// to the WAL without waiting for its fsync.
type writeGroup assetGroup

func (w *writeGroup) HandleGroup(rs []ring.Range) { (*assetGroup)(w).writePass(rs) }

// syncGroup follows writeGroup: it waits until each range of a pass is
// durable, then acks the pass, on the same goroutine. Its passes need not
// match writeGroup's: a range here may span several written batches, or
// part of one, and SyncMemberTo waits for the batch holding the last
// command of the range that was written.
//
// The writer marks every command it did not write failed, and an asset's
// failure is sticky, so the written commands of a range are a prefix of
// it: those are synced, the rest stay failed. A range whose syncing fails
// is failed whole (the store has failed, and cannot tell what the disk
// kept). The acker rejects failed commands and the matcher skips them, so
// nothing is acknowledged or matched that the journal does not hold
// durably, and nothing the writer journaled is rejected because a later
// range of its asset failed while it waited here: it would be replayed at
// the next start, an order the client was told was refused.
type syncGroup assetGroup

func (s *syncGroup) HandleGroup(rs []ring.Range) {
	g := (*assetGroup)(s)
	start := time.Now()
	for _, r := range rs {
		a := g.assets[r.Member]
		hi := r.Hi
		for hi >= r.Lo && a.in.At(hi).failed {
			hi--
		}
		if hi < r.Lo {
			continue // the writer wrote none of it
		}
		last := a.in.At(hi).Cmd.Seq
		if _, err := g.cw.SyncMemberTo(r.Member, last); err != nil {
			a.journalFailed(r.Lo, hi, a.in.At(r.Lo).Cmd.Seq, last, err)
			continue
		}
		a.m.journalBatch(int(hi-r.Lo+1), time.Since(start))
	}
	g.ack(rs)
	g.matchOnCommit(rs)
}

// outputGroup is the consumer of the group's output rings: per pass, the
// event journal of every asset's range as one batch (journal.EventGroup),
// and then, on the same goroutine, the OutputSink (the notifier) for each
// range. Level changes are derived data and are not stored. The event
// append does not wait for a sync (journal.EventGroup.Append), so the
// notifier is delayed by a memtable insert, not a disk write (unless the
// store itself stalls, as in a WAL rotation, which stops the commands'
// commit and so the matchers too), and the matchers' output claims wait on
// one consumer. Market data never reports an event before the event journal
// holds it, which only makes a resuming subscriber's wait
// (WaitEventsJournaled) shorter.
type outputGroup struct {
	g    *assetGroup
	sink OutputSink
}

func (o *outputGroup) HandleGroup(rs []ring.Range) {
	g := o.g
	parts := g.evParts[:0]
	for _, r := range rs {
		a := g.assets[r.Member]
		evs := a.evBatch[:0]
		for s := r.Lo; s <= r.Hi; s++ {
			if out := a.out.At(s); !out.IsLevel {
				evs = append(evs, out.Event)
			}
		}
		a.evBatch = evs
		if len(evs) > 0 && !a.unavailable.Load() {
			parts = append(parts, journal.EventPart{Member: r.Member, Events: evs})
		}
	}
	g.evParts = parts
	if len(parts) > 0 {
		err := g.events.Append(parts)
		for _, p := range parts {
			a := g.assets[p.Member]
			if err != nil {
				// The input journal is the source of truth: recovery
				// rebuilds any missing events. A failed store is failed
				// for commands too.
				a.unavailable.Store(true)
				a.log.Error("event journal append failed: rejecting commands until restart", "err", err)
				a.evMark.end()
				continue
			}
			a.evMark.advance(p.Events[len(p.Events)-1].Seq)
		}
	}
	if o.sink != nil {
		for _, r := range rs {
			o.sink.HandleOutput(g.assets[r.Member], r.Lo, r.Hi)
		}
	}
}

// matchOnCommit applies the pass's ranges to the books on the commit
// goroutine, after their acks, unless the matchers have a goroutine of
// their own (g.match). The commit group's member sequences, which the
// input rings' producers gate on, are then released only once the pass is
// matched, as the matchers' were.
//
// This is the default because a matcher of its own parked and was woken
// once per commit pass to spend about a tenth of a microsecond per order:
// a goroutine and a park per pass for nothing on a machine with fewer
// cores than stages. Measured, the saving is within the noise (the
// wake-up was mostly a goroutine switch on the commit goroutine's M, not
// a thread switch; docs/performance.md, "Less work per order on the
// commit and matcher goroutines"). The acks are not delayed: they are
// written before the pass is matched. The next pass is: it gathers what
// arrived meanwhile, which makes it bigger. A matcher pinned to a CPU of
// its own (CPUs.Matcher different from the commit's) keeps its own
// goroutine, for a machine with cores to spare.
func (g *assetGroup) matchOnCommit(rs []ring.Range) {
	if g.match != nil {
		return
	}
	for _, r := range rs {
		(*matchStage)(g.assets[r.Member]).Handle(r.Lo, r.Hi)
	}
}

// matchGroup runs the matchers of the group's assets on one goroutine: each
// pass applies every asset's journaled range to its own book (matchStage).
// Every book is still touched by one goroutine only, and a pass takes all
// that the commit released at once, so one wake-up serves every asset
// instead of one per asset.
type matchGroup assetGroup

func (m *matchGroup) HandleGroup(rs []ring.Range) {
	for _, r := range rs {
		(*matchStage)(m.assets[r.Member]).Handle(r.Lo, r.Hi)
	}
}
