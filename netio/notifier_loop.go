package netio

import (
	"context"
	"sync"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// Fan-out. The notifier goroutine of an asset does work proportional to the
// events of a batch and the number of event loops, never to the number of
// subscribers: it encodes each public message once, into one shared buffer
// per combination of public channels that some connection subscribes to
// (trades, book, BBO: at most 7), and hands every event loop that has
// subscribers of the asset one loopBatch (those buffers, plus the private
// messages of that loop's connections). An event loop keeps its own
// subscriber lists, one per asset and channel combination; when it runs its
// drain task it takes every batch queued so far, gathers for each of its
// subscribers its combination's buffer and its private messages, and
// writes them with one write. Batches that queue up while a loop is busy
// are written together, so under load a connection gets fewer, larger
// writes and the loop is never woken once per message per subscriber.
//
// Order: a loop's inbox is a FIFO filled under its lock by the notifier
// goroutines in the order of their batches, and a drain writes each
// connection's share in inbox order. A combination's buffer holds its
// channels' messages in event order, with the offset where each event's
// messages start; a connection with private messages in a batch gets each
// spliced in right after its event's public messages. So every connection
// sees each asset's messages in sequence order, across channels. A
// subscription change drains the inbox first, under the asset's lock, so
// that it applies exactly from the next batch (and a book snapshot written
// then is followed by exactly the updates after it).

// loopBatch is one asset batch for one event loop.
type loopBatch struct {
	fa     *feedAsset
	pub    [numMasks]*sharedBuf // by public channel combination
	priv   []byte               // private messages for this loop's connections
	items  []privItem           // who gets which part of priv
	recv   int64                // when the notifier received the batch, Unix ns
	evTime int64                // the oldest event time of the batch, Unix ns (0: none)
	replay bool                 // a resume segment: clears the connection's replayBusy
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
	b.fa, b.priv, b.items = nil, b.priv[:0], b.items[:0]
	b.recv, b.evTime, b.replay = 0, 0, false
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

	mu        sync.Mutex
	inbox     []*loopBatch
	scheduled bool // a drain task is queued and has not taken the inbox yet

	// Loop-owned.
	work    []*loopBatch
	subs    [][numMasks][]*feedConn // by asset index and channel combination
	dirty   []*feedConn
	pending []*feedConn // connections with private messages in the batch being drained
	// busy counts the notifier code running on the loop that may write:
	// gnet closes a connection whose write fails at once, calling OnClose
	// inside the write, so OnClose leaves the connections it closes in
	// dead for the outermost leave, instead of changing lists being walked
	// (or taking an asset lock the writer may hold).
	busy int
	dead []*feedConn
}

// enter and leave bracket loop code that writes; they nest.
func (fl *feedLoop) enter() { fl.busy++ }

func (fl *feedLoop) leave() {
	if fl.busy--; fl.busy > 0 {
		return
	}
	for i, fc := range fl.dead {
		fl.n.dropSubscriptions(fc)
		fl.dead[i] = nil
	}
	fl.dead = fl.dead[:0]
}

func newFeedLoop(n *Notifier, idx int, el gnet.EventLoop) *feedLoop {
	return &feedLoop{n: n, idx: idx, el: el, subs: make([][numMasks][]*feedConn, len(n.assets))}
}

// push queues b and makes sure a drain task will take it. Any goroutine.
func (fl *feedLoop) push(b *loopBatch) {
	fl.mu.Lock()
	fl.inbox = append(fl.inbox, b)
	schedule := !fl.scheduled
	fl.scheduled = true
	fl.mu.Unlock()
	if !schedule {
		return
	}
	if err := fl.el.Execute(context.Background(), fl); err != nil {
		// The engine is shutting down: nothing will drain the inbox.
		fl.mu.Lock()
		work := fl.inbox
		fl.inbox, fl.scheduled = nil, false
		fl.mu.Unlock()
		for _, b := range work {
			fl.n.putBatch(b)
		}
	}
}

// Run is the drain task (gnet.Runnable), run by the event loop.
func (fl *feedLoop) Run(context.Context) error {
	fl.mu.Lock()
	work := fl.inbox
	fl.inbox, fl.work = fl.work[:0], work
	fl.scheduled = false
	fl.mu.Unlock()
	fl.enter()
	defer fl.leave()

	var bytes, msgs int
	for _, b := range work {
		bytes, msgs = fl.fanOut(b, bytes, msgs)
	}
	for i, fc := range fl.dirty {
		b, m := fc.writeGathered()
		bytes += b
		msgs += m
		fl.dirty[i] = nil
	}
	fl.dirty = fl.dirty[:0]
	now := time.Now().UnixNano()
	for i, b := range work {
		if b.replay {
			// The resume reader paces itself on these two.
			for _, it := range b.items {
				if !it.fc.closed {
					it.fc.outbound.Store(int64(it.fc.c.OutboundBuffered()))
				}
				it.fc.replayBusy.Store(false)
			}
		}
		if b.recv > 0 {
			fl.n.m.observe(now, b.recv, b.evTime)
		}
		fl.n.putBatch(b)
		work[i] = nil
	}
	fl.n.m.out(bytes, msgs)
	return nil
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
	ai := b.fa.idx
	for m, sb := range b.pub {
		if sb == nil || len(sb.b) == 0 {
			continue
		}
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
	if !fc.dirty {
		fc.dirty = true
		fl.dirty = append(fl.dirty, fc)
	}
	fc.add(b, msgs)
	if len(fc.iov) >= maxIOV {
		wb, wm := fc.writeGathered() // clears dirty: fc may be listed twice, harmlessly
		tb, tm = tb+wb, tm+wm
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
