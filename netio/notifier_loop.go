package netio

import (
	"context"
	"sync"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// Fan-out. The notifier goroutine of an asset does work proportional to the
// events of a batch and the number of event loops, never to the number of
// subscribers: it encodes each public message once into a shared buffer per
// channel, and hands every event loop that has subscribers of the asset one
// loopBatch (the shared buffers, plus the private messages of that loop's
// connections). An event loop keeps its own subscriber lists; when it runs
// its drain task it takes every batch queued so far, gathers for each of
// its subscribers the buffers of its channels, and writes them with one
// write. Batches that queue up while a loop is busy are written
// together, so under load a connection gets fewer, larger writes and the
// loop is never woken once per message per subscriber.
//
// Order: a loop's inbox is a FIFO filled under its lock by the notifier
// goroutines in the order of their batches, and a drain writes each
// connection's share in inbox order, so every connection sees each asset's
// messages in sequence order. Replies written directly by the loop while it
// decodes a request (a subscribe's snapshot) fall between two drains; the
// subscription's from mark drops the batches its snapshot already covers.

// loopBatch is one asset batch for one event loop.
type loopBatch struct {
	fa     *feedAsset
	no     uint64 // the asset's batch number
	pub    [numPublic]*sharedBuf
	priv   []byte     // private messages for this loop's connections
	items  []privItem // who gets which part of priv
	recv   int64      // when the notifier received the batch, Unix ns
	evTime int64      // the oldest event time of the batch, Unix ns (0: none)
	replay bool       // a resume segment: clears the connection's replayBusy
}

// privItem addresses priv[from:to] to one connection.
type privItem struct {
	fc       *feedConn
	from, to int
	msgs     int
}

func (b *loopBatch) reset() {
	for i, sb := range b.pub {
		if sb != nil {
			sb.release()
			b.pub[i] = nil
		}
	}
	clear(b.items)
	b.fa, b.no, b.priv, b.items = nil, 0, b.priv[:0], b.items[:0]
	b.recv, b.evTime, b.replay = 0, 0, false
}

// addPriv appends one private message (already encoded in msg) for fc.
func (b *loopBatch) addPriv(fc *feedConn, msg []byte, msgs int) {
	from := len(b.priv)
	b.priv = append(b.priv, msg...)
	if k := len(b.items) - 1; k >= 0 && b.items[k].fc == fc && b.items[k].to == from {
		b.items[k].to = len(b.priv)
		b.items[k].msgs += msgs
		return
	}
	b.items = append(b.items, privItem{fc: fc, from: from, to: len(b.priv), msgs: msgs})
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
	work  []*loopBatch
	subs  [][numPublic][]*feedConn // by asset index and channel
	dirty []*feedConn
	// busy is set while the loop runs notifier code that may write: gnet
	// closes a connection whose write fails at once, calling OnClose
	// inside the write, so OnClose leaves the connections it closes in
	// dead for settle, instead of changing lists being walked (or taking
	// an asset lock the writer may hold).
	busy bool
	dead []*feedConn
}

// enter and leave bracket loop code that writes.
func (fl *feedLoop) enter() { fl.busy = true }

func (fl *feedLoop) leave() {
	fl.busy = false
	for i, fc := range fl.dead {
		fl.n.dropSubscriptions(fc)
		fl.dead[i] = nil
	}
	fl.dead = fl.dead[:0]
}

func newFeedLoop(n *Notifier, idx int, el gnet.EventLoop) *feedLoop {
	return &feedLoop{n: n, idx: idx, el: el, subs: make([][numPublic][]*feedConn, len(n.assets))}
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
		fa := b.fa
		for ch, sb := range b.pub {
			if sb == nil || len(sb.b) == 0 {
				continue
			}
			for _, fc := range fl.subs[fa.idx][ch] {
				if fc.assets[fa.idx].from[ch] >= b.no {
					continue
				}
				bytes, msgs = fl.gather(fc, sb.b, sb.msgs, bytes, msgs)
			}
		}
		for _, it := range b.items {
			fc := it.fc
			if fc.closed {
				continue
			}
			bytes, msgs = fl.gather(fc, b.priv[it.from:it.to], it.msgs, bytes, msgs)
		}
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

// maxIOV bounds the buffers gathered for one write; a connection that
// gathers more in one drain (a loop far behind) is written in several, so
// that the join buffer stays small.
const maxIOV = 512

// gather adds b to fc's write for this drain and adds what it had to write
// early to the running totals.
func (fl *feedLoop) gather(fc *feedConn, b []byte, msgs, tb, tm int) (int, int) {
	if len(b) == 0 {
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

// subscribe adds fc to the loop's list for asset index ai and public
// channel ch. Loop only.
func (fl *feedLoop) subscribe(fc *feedConn, ai int, ch channel) {
	list := &fl.subs[ai][ch]
	*list = append(*list, fc)
	fc.assets[ai].pos[ch] = int32(len(*list))
}

// unsubscribe removes fc from that list. Loop only.
func (fl *feedLoop) unsubscribe(fc *feedConn, ai int, ch channel) {
	ca := &fc.assets[ai]
	i := int(ca.pos[ch]) - 1
	list := fl.subs[ai][ch]
	last := len(list) - 1
	moved := list[last]
	list[i] = moved
	moved.assets[ai].pos[ch] = int32(i + 1)
	list[last] = nil
	fl.subs[ai][ch] = list[:last]
	ca.pos[ch] = 0
}

var _ gnet.Runnable = (*feedLoop)(nil)
