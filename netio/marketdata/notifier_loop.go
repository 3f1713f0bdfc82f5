package marketdata

import (
	"context"
	"sync"
	"time"
	"unsafe"

	"github.com/panjf2000/gnet/v2"
)

// Fan-out. The notifier goroutine of an asset does work proportional to the
// events of a batch and the number of event loops, never to the number of
// subscribers: it encodes each public message once, into one shared buffer
// per combination of public channels that some connection subscribes to
// (trades, book, BBO: at most 7), and hands every event loop that has
// subscribers of the asset one loopBatch (those buffers, plus the private
// messages of that loop's connections). An event loop keeps its own
// subscriber lists, one per asset and channel combination; its drain steps
// take every batch queued so far, gather for each of its subscribers its
// combination's buffer and its private messages, and write each subscriber
// once per round (see "Drain rounds and steps" below). Batches that queue
// up while a loop is busy are written together, so under load a connection
// gets fewer, larger writes and the loop is never woken once per message
// per subscriber. After a long round over many subscribers the loop also
// waits MaxCoalesce before the next, so that more batches go into each
// write (see coalesceWindow).
//
// Order: a loop's inbox is a FIFO filled under its lock by the notifier
// goroutines in the order of their batches, and the drain steps gather
// each connection's share in inbox order into its pending write, which goes
// out whole and in order whenever the connection is written. A combination's buffer holds its
// channels' messages in event order, with the offset where each event's
// messages start; a connection with private messages in a batch gets each
// spliced in right after its event's public messages. So every connection
// sees each asset's messages in sequence order, across channels.
//
// Subscription changes travel through the same inbox: a Subscribe or
// Unsubscribe changes the asset's counts (which channel combinations the
// next batch is encoded for) and queues a control batch (the loop-list
// change and the reply, book snapshot included) under the asset's lock.
// The control batch therefore sits after every batch already applied to
// the depth picture and before every later one, and the loop applies the
// change exactly there: a snapshot is followed by exactly the updates
// after it. Nothing drains an inbox under an asset's lock, so the asset's
// output consumer never waits for an event loop.
//
// Bound: a loop's inbox is bounded in bytes (MaxLoopQueue). A batch that
// would pass the bound conflates the asset: the public parts of its queued
// batches and of every later one are dropped until the loop drains, and the
// loop then sends its book and BBO subscribers of the asset a fresh
// snapshot (queued under the asset's lock, so updates follow it exactly;
// trade subscribers see a gap in the sequence). Private messages cannot be
// dropped: a connection whose private messages do not fit even then is cut
// with Logout 3. Control batches always go in (they are small, one per
// request the loop itself read).

// loopBatch is one asset batch for one event loop.
type loopBatch struct {
	fa     *feedAsset
	pub    [numMasks]*sharedBuf // by public channel combination
	priv   []byte               // private messages for this loop's connections
	items  []privItem           // who gets which part of priv
	recv   int64                // when the notifier received the batch, Unix ns
	evTime int64                // the oldest event time of the batch, Unix ns (0: none)
	// ctl lists the loop-list changes of a control batch, applied before
	// its private items are written; control batches are never dropped.
	ctl     []maskChange
	control bool
	written chan<- struct{} // a resume segment: told once the batch is written
}

// maskChange moves fc to the loop's list for asset index ai and mask.
type maskChange struct {
	fc   *feedConn
	ai   int
	mask uint8
}

// size is what the batch counts against its loop's inbox bound.
func (b *loopBatch) size() int {
	n := len(b.priv) + len(b.items)*32
	for _, sb := range b.pub {
		if sb != nil {
			n += len(sb.b)
		}
	}
	return n
}

// dropPublic releases the batch's public buffers (conflation).
func (b *loopBatch) dropPublic() bool {
	dropped := false
	for i, sb := range b.pub {
		if sb != nil {
			sb.release()
			b.pub[i] = nil
			dropped = true
		}
	}
	return dropped
}

// privItem addresses priv[from:to] to one connection; seg is the event
// (counted within the batch) they report.
type privItem struct {
	fc       *feedConn
	from, to int
	msgs     int
	seg      int
}

func (b *loopBatch) reset() {
	for i, sb := range b.pub {
		if sb != nil {
			sb.release()
			b.pub[i] = nil
		}
	}
	clear(b.items)
	clear(b.ctl)
	b.fa, b.priv, b.items, b.ctl = nil, b.priv[:0], b.items[:0], b.ctl[:0]
	b.recv, b.evTime, b.control, b.written = 0, 0, false, nil
}

// capBytes is the capacity of the batch's own buffers, in bytes: what it
// costs the free list to keep it.
func (b *loopBatch) capBytes() int64 {
	return int64(cap(b.priv)) + int64(cap(b.items))*int64(unsafe.Sizeof(privItem{})) +
		int64(cap(b.ctl))*int64(unsafe.Sizeof(maskChange{}))
}

// addPriv appends private messages (already encoded in msg) for fc, of
// event seg of the batch.
func (b *loopBatch) addPriv(fc *feedConn, msg []byte, msgs, seg int) {
	from := len(b.priv)
	b.priv = append(b.priv, msg...)
	if k := len(b.items) - 1; k >= 0 && b.items[k].fc == fc && b.items[k].to == from && b.items[k].seg == seg {
		b.items[k].to = len(b.priv)
		b.items[k].msgs += msgs
		return
	}
	b.items = append(b.items, privItem{fc: fc, from: from, to: len(b.priv), msgs: msgs, seg: seg})
}

// feedLoop is the notifier's side of one gnet event loop.
type feedLoop struct {
	n   *Notifier
	idx int
	el  gnet.EventLoop

	mu         sync.Mutex
	inbox      []*loopBatch
	inboxBytes int
	// later counts the bytes of the batches taken for the next round
	// (nextBatches): like the inbox, data no write has started on, so they
	// count against MaxLoopQueue as the inbox does; the batches the current
	// round is writing do not (nor did a pass's, when a pass took the inbox
	// whole). Under a stall the inbox grows; behind, next does.
	later int
	// ctlPending: a control batch is in the inbox; its step is not held
	// back by the coalescing window (a subscriber waits for its reply).
	ctlPending bool
	// scheduled: a drain step is queued on the loop, delayed by the timer
	// or running; whichever runs decides at its end whether another
	// follows, so pushes meanwhile need not queue one.
	scheduled bool
	stale     []bool // by asset index: public batches are being dropped (conflation)
	// Adaptive coalescing (see coalesceWindow): a round of writes does not
	// start before passEnd+window; a step due before then arms timer
	// instead of queueing, and stop cancels it.
	window  time.Duration
	passEnd time.Time
	timer   *time.Timer // nil until first needed; fires execute
	delayed bool        // timer is armed
	stopped bool        // the notifier is stopping: no more delays
	// kick asks the kicker goroutine to queue the next step of a round
	// (see Run); quit, closed by stop, ends it.
	kick    chan struct{}
	quit    chan struct{}
	kicking bool // the kicker runs (loop-owned)

	// Loop-owned (see "Drain rounds and steps" below).
	work []*loopBatch
	subs [][numMasks][]*feedConn // by asset index and channel combination
	// queue holds the connections to write in this round (from qhead on),
	// next those gathered again after their write in this round, urgent
	// those with a control batch's reply (written at the end of the step
	// that gathered it).
	queue   []*feedConn
	qhead   int
	next    []*feedConn
	urgent  []*feedConn
	pending []*feedConn // connections with private messages in the batch being drained
	// The batches taken and not yet released: cur's are written when this
	// round ends, next's when the round after it does.
	curBatches, nextBatches []*loopBatch
	nextBytes               int
	round                   uint64 // rounds ended
	inRound                 bool
	roundStart              time.Time
	gatherUrgent            bool // the batch being gathered is a control batch
	gatherNext              bool // a connection went to next in this step's gathering
	// passWrites counts the connections the current round has written
	// (the coalescing policy's measure of the loop's load).
	passWrites int
	resync     []int // asset indexes to send fresh snapshots for after this step
	claimed    bool  // the loop's goroutine is locked to its thread (claimThread)
}

func newFeedLoop(n *Notifier, idx int, el gnet.EventLoop) *feedLoop {
	return &feedLoop{n: n, idx: idx, el: el, subs: make([][numMasks][]*feedConn, len(n.assets)),
		stale: make([]bool, len(n.assets)), kick: make(chan struct{}, 1), quit: make(chan struct{})}
}

// push queues b and makes sure a drain step will take it. Any goroutine;
// the notifier goroutines call it under their asset's lock. It never
// waits for the loop: past the inbox bound it drops public data and cuts
// connections instead (see the note at the top).
func (fl *feedLoop) push(b *loopBatch) {
	fl.mu.Lock()
	if !b.control && b.fa != nil {
		ai := b.fa.idx
		if fl.stale[ai] && b.dropPublic() {
			fl.n.conflated.Add(1)
		}
		if fl.inboxBytes+fl.later+b.size() > fl.n.cfg.MaxLoopQueue {
			fl.conflateLocked(b)
		}
	}
	fl.inboxBytes += b.size()
	fl.inbox = append(fl.inbox, b)
	queue := false
	switch {
	case b.control:
		fl.ctlPending = true
		// A reply is not held back by the window: cancel a delay.
		if fl.delayed && fl.timer.Stop() {
			fl.delayed = false
			queue = true
		} else {
			queue = !fl.scheduled
		}
	case !fl.scheduled:
		queue = !fl.delayLocked()
	}
	fl.scheduled = true
	fl.mu.Unlock()
	if queue {
		fl.execute()
	}
}

// delayLocked arms the timer for a step that is due, if the window after
// the last round has not gone by, and reports whether it did; if not, the
// caller queues the step at once. The caller holds fl.mu.
func (fl *feedLoop) delayLocked() bool {
	wait := fl.waitLocked(time.Now())
	if wait <= 0 {
		return false
	}
	if fl.delayed {
		return true
	}
	if fl.timer == nil {
		fl.timer = time.AfterFunc(wait, fl.execute)
	} else {
		fl.timer.Reset(wait)
	}
	fl.delayed = true
	return true
}

// waitLocked is how long the coalescing window after the last round still
// holds at now (<= 0: it has gone by). The caller holds fl.mu.
func (fl *feedLoop) waitLocked(now time.Time) time.Duration {
	if fl.window <= 0 || fl.stopped {
		return 0
	}
	return fl.window - now.Sub(fl.passEnd)
}

// execute queues the drain step on the loop (at once, or from the
// coalescing timer).
func (fl *feedLoop) execute() {
	fl.mu.Lock()
	fl.delayed = false
	fl.mu.Unlock()
	if err := fl.el.Execute(context.Background(), fl); err != nil {
		// The engine is shutting down: nothing will drain the inbox.
		fl.dropInbox()
	}
}

// dropInbox releases every queued batch; nothing will drain them.
func (fl *feedLoop) dropInbox() {
	fl.mu.Lock()
	work := fl.inbox
	fl.inbox, fl.scheduled, fl.inboxBytes, fl.ctlPending = nil, false, 0, false
	fl.mu.Unlock()
	for _, b := range work {
		fl.n.putBatch(b)
	}
}

// stop ends coalescing delays: a step still waiting for its window is
// queued at once (so what is queued is written, or released if the loop
// has stopped), and later pushes queue the step without delay. Stop calls
// it before stopping the event loops.
func (fl *feedLoop) stop() {
	fl.mu.Lock()
	if !fl.stopped {
		close(fl.quit)
	}
	fl.stopped = true
	cancelled := fl.delayed && fl.timer.Stop()
	fl.delayed = fl.delayed && !cancelled
	fl.mu.Unlock()
	if cancelled {
		fl.execute()
	}
}

// Coalescing policy: the coalescing floor's (perf/fanout), switched on by
// the loop's own load. A drain pass that wrote fewer than minCoalesceWrites
// connections or took less than minCoalescePass (few subscribers, little
// traffic) is followed by no delay: the next batch goes out at once. After
// a pass that did both, the next drain waits until
// NotifierConfig.MaxCoalesce has gone by since the pass ended, so batches
// that arrive meanwhile are written together: each connection gets one
// write for several batches. A batch that arrives after the window has
// passed is drained at once.
//
// Why a fixed window and not one that follows the pass: the cost of a
// delivery is its write(2) (both the notifier's and the floor's CPU
// profiles are over 90 % in write), so the CPU per delivery is set by the
// writes per delivery, that is by the time between two passes; a window as
// long as the last pass (the previous policy) made more passes than the
// floor's where passes are shorter than the floor's window (1,000
// subscribers: 1.3-1.5x its writes and CPU per delivery), and a long
// delay after every pass that lost its core. Both criteria must hold so that a small loop's
// pass that was preempted past 2 ms delays nothing.
// (Measured: docs/performance-notifier.md, "Adaptive coalescing".)
const (
	minCoalescePass   = 2 * time.Millisecond
	minCoalesceWrites = 128
)

// coalesceWindow is the delay to keep after a drain pass that took pass and
// wrote to writes connections.
func coalesceWindow(pass time.Duration, writes int, max time.Duration) time.Duration {
	if max <= 0 || pass < minCoalescePass || writes < minCoalesceWrites {
		return 0
	}
	return max
}

// conflateLocked makes room for b: it drops the public parts of b and of
// the queued batches of b's asset and marks the asset stale for this loop
// (until the loop drains and resends snapshots); if b's private messages
// still do not fit, their connections are cut and the messages dropped.
// The caller holds fl.mu (and b's asset lock).
func (fl *feedLoop) conflateLocked(b *loopBatch) {
	ai := b.fa.idx
	if b.dropPublic() {
		fl.stale[ai] = true
		fl.n.conflated.Add(1)
	}
	for _, q := range fl.inbox {
		if q.fa == b.fa && !q.control {
			before := q.size()
			if q.dropPublic() {
				fl.n.conflated.Add(1)
				fl.stale[ai] = true
				fl.inboxBytes -= before - q.size()
			}
		}
	}
	if fl.inboxBytes+b.size() <= fl.n.cfg.MaxLoopQueue || len(b.items) == 0 {
		return
	}
	for _, it := range b.items {
		it.fc.fallBehind()
	}
	clear(b.items)
	b.items, b.priv = b.items[:0], b.priv[:0]
}

// Drain rounds and steps. A round writes each connection with something
// gathered once: one write per connection per round, as the coalescing
// floor's pass does. It is made of steps, each one task on the event loop
// that takes the inbox, gathers its batches into the connections' writes,
// writes the connections with control replies (urgent), and then at most
// drainChunk connections of the round's queue, and queues the next step
// behind the loop's I/O: between two steps the loop reads requests,
// accepts and closes connections, so with 10,000 subscribers a subscribe,
// a close or a new connection waits for one step (a millisecond or so),
// not for a whole round (hundreds of ms).
//
// A connection gathered while it waits in the queue gets the new batches in
// the same write (lower latency, no extra write); one gathered after its
// write in this round goes to next, the following round's queue, so that
// a round writes each connection once. Writing a connection out of its
// turn (urgent, or before a direct reply: sendReply) never reorders its
// stream: its gathered buffers are written in order, whenever that is.
// The batches a step takes stay alive until every write that refers to
// them is done: the end of this round, or of the next if they reached a
// connection already written in this round (control batches: the end of
// the step). Those kept for the next round count against MaxLoopQueue, as
// the inbox does: no write has started on them.
//
// The window applies between rounds: after a long round over many
// connections (coalesceWindow) the next round starts MaxCoalesce after it
// ended; a step during the window (a control batch's) gathers and writes
// its urgent connections only.

// drainChunk bounds the queued connections one step writes: at 2-5 us a
// write, about a millisecond of the loop before it reads its sockets again.
// (Notifier.drainChunk: the tests make rounds of many steps with it.)
const drainChunk = 256

// Run is a drain step (gnet.Runnable), run by the event loop.
func (fl *feedLoop) Run(context.Context) error {
	fl.claimThread()
	now := time.Now()
	fl.mu.Lock()
	work := fl.inbox
	fl.inbox, fl.work = fl.work[:0], work
	taken := fl.inboxBytes
	fl.inboxBytes, fl.ctlPending, fl.scheduled = 0, false, true // running: its end decides what follows
	open := fl.waitLocked(now) <= 0
	for ai, st := range fl.stale {
		if st {
			fl.resync = append(fl.resync, ai)
		}
	}
	fl.mu.Unlock()
	if open && !fl.inRound {
		fl.inRound, fl.roundStart, fl.passWrites = true, now, 0
	}
	if h := fl.n.drainHook; h != nil {
		h()
	}

	var bytes, msgs int
	fl.gatherNext = false
	for _, b := range work {
		for _, mc := range b.ctl {
			if !mc.fc.closed {
				fl.setMask(mc.fc, mc.ai, mc.mask)
			}
			mc.fc.ctlQueued--
		}
		fl.gatherUrgent = b.control
		bytes, msgs = fl.fanOut(b, bytes, msgs)
	}
	fl.gatherUrgent = false
	for i, fc := range fl.urgent {
		fc.urgent = false
		if fc.dirty {
			bytes, msgs = fl.writeConn(fc, bytes, msgs)
		}
		fl.urgent[i] = nil
	}
	fl.urgent = fl.urgent[:0]
	// A control batch holds private items only, and every connection they
	// went to was urgent: written now, so the batch is done. The others
	// live until the round that writes them ends.
	ctlBytes, data := 0, work[:0]
	for _, b := range work {
		if !b.control {
			data = append(data, b)
			continue
		}
		ctlBytes += b.size()
		fl.done(b, now.UnixNano())
	}
	if fl.gatherNext {
		fl.nextBatches = append(fl.nextBatches, data...)
		fl.nextBytes += taken - ctlBytes
		fl.mu.Lock()
		fl.later = fl.nextBytes
		fl.mu.Unlock()
	} else {
		fl.curBatches = append(fl.curBatches, data...)
	}
	clear(work)
	fl.work = work[:0]
	if fl.inRound {
		for n := 0; n < fl.n.drainChunk && fl.qhead < len(fl.queue); fl.qhead++ {
			fc := fl.queue[fl.qhead]
			fl.queue[fl.qhead] = nil
			if fc.dirty {
				bytes, msgs = fl.writeConn(fc, bytes, msgs)
				n++
			}
		}
		if fl.qhead == len(fl.queue) {
			fl.endRound()
		}
	}
	fl.n.m.out(bytes, msgs)
	for _, ai := range fl.resync {
		fl.n.resync(fl, ai)
	}
	fl.resync = fl.resync[:0]

	fl.mu.Lock()
	more := fl.qhead < len(fl.queue) || len(fl.inbox) > 0
	queue, kick := false, false
	switch {
	case !more:
		fl.scheduled = false
	case fl.inRound && !fl.stopped:
		kick = true
	case fl.ctlPending || fl.inRound:
		queue = true
	default:
		queue = !fl.delayLocked()
	}
	fl.mu.Unlock()
	switch {
	case kick:
		fl.continueRound()
	case queue:
		fl.execute()
	}
	return nil
}

// continueRound queues the round's next step behind the loop's I/O. A task
// queued from a task runs in the same turn of gnet's loop, before it polls
// its sockets again (Poller.Polling runs its task queue until it is
// empty), so the step is queued from another goroutine, the kicker: the
// loop polls its sockets meanwhile (its poll finds nothing to do at once,
// yields its P, which runs the kicker, and then waits for the kicker's
// wake-up or its sockets). Loop only.
func (fl *feedLoop) continueRound() {
	if !fl.kicking {
		fl.kicking = true
		go fl.kicker()
	}
	select {
	case fl.kick <- struct{}{}: // one step of a round outstanding at a time
	default:
	}
	select {
	case <-fl.quit:
		fl.takeKick() // stopping: the kicker may have gone already
	default:
	}
}

// kicker queues the steps continueRound asks for until stop.
func (fl *feedLoop) kicker() {
	for {
		select {
		case <-fl.kick:
			fl.execute()
		case <-fl.quit:
			fl.takeKick()
			return
		}
	}
}

// takeKick queues the step asked for, if any is still waiting for the
// kicker (it or continueRound, whichever takes it).
func (fl *feedLoop) takeKick() {
	select {
	case <-fl.kick:
		fl.execute()
	default:
	}
}

// endRound ends the round whose queue has been written: it releases the
// batches every write of which is done, makes next the following round's
// queue and sets the coalescing window after it. Loop only.
func (fl *feedLoop) endRound() {
	end := time.Now()
	now := end.UnixNano()
	for i, b := range fl.curBatches {
		fl.done(b, now)
		fl.curBatches[i] = nil
	}
	fl.curBatches, fl.nextBatches = fl.nextBatches, fl.curBatches[:0]
	fl.nextBytes = 0
	fl.queue, fl.next, fl.qhead = fl.next, fl.queue[:0], 0
	fl.round++
	fl.inRound = false
	fl.mu.Lock()
	fl.later = 0 // the next round's batches are this round's now
	fl.window, fl.passEnd = coalesceWindow(end.Sub(fl.roundStart), fl.passWrites, fl.n.cfg.MaxCoalesce), end
	fl.mu.Unlock()
}

// done releases a batch every write of which is done (now, Unix ns).
func (fl *feedLoop) done(b *loopBatch, now int64) {
	if b.written != nil {
		b.written <- struct{}{} // buffered: the reader has one segment out at a time
	}
	if b.recv > 0 {
		fl.n.m.observe(now, b.recv, b.evTime)
	}
	fl.n.putBatch(b)
}

// writeConn writes what fc has gathered and adds it to the running totals.
// Loop only.
func (fl *feedLoop) writeConn(fc *feedConn, tb, tm int) (int, int) {
	b, m := fc.writeGathered()
	if fl.inRound {
		fc.wround = fl.round + 1
	}
	fl.wrote()
	return tb + b, tm + m
}

// fanOut gathers one batch's share for each of the loop's connections.
func (fl *feedLoop) fanOut(b *loopBatch, bytes, msgs int) (int, int) {
	// Hang each private item on its connection.
	for k := range b.items {
		fc := b.items[k].fc
		if fc.closed {
			continue
		}
		if len(fc.pend) == 0 {
			fl.pending = append(fl.pending, fc)
		}
		fc.pend = append(fc.pend, int32(k))
	}
	for m, sb := range b.pub {
		if sb == nil || len(sb.b) == 0 {
			continue
		}
		ai := b.fa.idx
		for _, fc := range fl.subs[ai][m] {
			if len(fc.pend) == 0 {
				bytes, msgs = fl.gather(fc, sb.b, sb.msgs, bytes, msgs)
				continue
			}
			// Splice each private message in after its event's public
			// ones.
			done := 0
			for _, k := range fc.pend {
				it := &b.items[k]
				if end := int(sb.marks[it.seg+1]); end > done {
					bytes, msgs = fl.gather(fc, sb.b[done:end], 0, bytes, msgs)
					done = end
				}
				bytes, msgs = fl.gather(fc, b.priv[it.from:it.to], it.msgs, bytes, msgs)
			}
			bytes, msgs = fl.gather(fc, sb.b[done:], sb.msgs, bytes, msgs)
			fc.pend = fc.pend[:0]
		}
	}
	// Connections with private messages and no public ones in the batch.
	for i, fc := range fl.pending {
		for _, k := range fc.pend {
			it := &b.items[k]
			bytes, msgs = fl.gather(fc, b.priv[it.from:it.to], it.msgs, bytes, msgs)
		}
		fc.pend = fc.pend[:0]
		fl.pending[i] = nil
	}
	fl.pending = fl.pending[:0]
	return bytes, msgs
}

// maxIOV bounds the buffers gathered for one write; a connection that
// gathers more in one drain (a loop far behind) is written in several, so
// that the join buffer stays small.
const maxIOV = 512

// gather adds b to fc's write for this drain and adds what it had to write
// early to the running totals.
func (fl *feedLoop) gather(fc *feedConn, b []byte, msgs, tb, tm int) (int, int) {
	if len(b) == 0 {
		if fc.dirty {
			fc.iovMsg += msgs
		}
		return tb, tm
	}
	switch {
	case fl.gatherUrgent && !fc.urgent:
		// A control batch's reply: written at the end of this step. If
		// fc is queued too, that entry finds it written, or writes what
		// it gathers later.
		fc.urgent = true
		fl.urgent = append(fl.urgent, fc)
	case fl.inRound && fc.wround == fl.round+1:
		// Written in this round already: in the next round, and so
		// are the batches of this step, whether fc was listed in next
		// by this gather or an earlier one (it is dirty then).
		if !fc.dirty {
			fl.next = append(fl.next, fc)
		}
		fl.gatherNext = true
	case fc.dirty:
	default:
		fl.queue = append(fl.queue, fc)
	}
	fc.dirty = true
	fc.add(b, msgs)
	if len(fc.iov) >= maxIOV {
		// Clears dirty: fc may be listed twice, harmlessly.
		tb, tm = fl.writeConn(fc, tb, tm)
	}
	return tb, tm
}

// setMask moves fc from the loop's list for asset index ai and its current
// channel combination to the list for mask (0: none). Loop only.
func (fl *feedLoop) setMask(fc *feedConn, ai int, mask uint8) {
	ca := &fc.assets[ai]
	if ca.mask != 0 {
		i := int(ca.pos) - 1
		list := fl.subs[ai][ca.mask]
		last := len(list) - 1
		moved := list[last]
		list[i] = moved
		moved.assets[ai].pos = int32(i + 1)
		list[last] = nil
		fl.subs[ai][ca.mask] = list[:last]
		ca.pos = 0
	}
	ca.mask = mask
	if mask != 0 {
		list := &fl.subs[ai][mask]
		*list = append(*list, fc)
		ca.pos = int32(len(*list))
	}
}

var _ gnet.Runnable = (*feedLoop)(nil)
