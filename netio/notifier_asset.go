package netio

import (
	"sync"
	"time"

	"github.com/ringex/ringex/engine"
	"github.com/ringex/ringex/netio/wire"
	"github.com/ringex/ringex/pipeline"
)

// channel is a market-data channel. The public ones come first so that they
// index the shared buffers of a batch.
type channel uint8

const (
	chTrades channel = iota // public: every trade
	chBook                  // public: L2 snapshot, then level updates
	chBBO                   // public: best bid and offer
	chOrders                // private: the user's own order events
	numChannels

	numPublic = int(chOrders)
)

func channelName(ch channel) string {
	switch ch {
	case chTrades:
		return "trades"
	case chBook:
		return "book"
	case chBBO:
		return "bbo"
	case chOrders:
		return "orders"
	}
	return "unknown"
}

// feedAsset is the notifier's state for one asset.
//
// mu is held by the asset's notifier goroutine for a whole output batch
// (apply the level changes, encode, route, queue a loopBatch per event
// loop) and by the event loops and resumes to change subscriptions. That
// one lock makes a book snapshot consistent with the increments after it:
// the snapshot is read from the depth picture, written, and the subscriber
// marked to skip every batch up to the current one, with no batch in
// between.
type feedAsset struct {
	id     uint32
	idx    int
	symbol string
	key    wire.Symbol

	mu      sync.Mutex
	bids    depthSide
	asks    depthSide
	batch   uint64 // the number of the last output batch applied
	lastSeq uint64 // the last event sequence applied
	lastBid depthLevel
	lastAsk depthLevel
	// loops lists the event loops with subscribers of this asset; npub
	// counts each one's public subscriptions (by loop index).
	loops []*feedLoop
	npub  []int
	// owners maps a user to its connections subscribed to its order
	// events on this asset.
	owners map[uint32][]*feedConn

	// The notifier goroutine's scratch, reused for every batch.
	cur     []*loopBatch // by loop index: this batch's loopBatch, if any
	scratch []byte

	// Snapshot scratch, under mu.
	snapBids, snapAsks []wire.Level
}

func newFeedAsset(id uint32, idx int, symbol string) *feedAsset {
	fa := &feedAsset{
		id:     id,
		idx:    idx,
		symbol: symbol,
		key:    feedSymbolKey(symbol),
		owners: make(map[uint32][]*feedConn),
	}
	fa.bids.bid = true
	return fa
}

func (fa *feedAsset) side(s engine.Side) *depthSide {
	if s == engine.Buy {
		return &fa.bids
	}
	return &fa.asks
}

// HandleOutput implements pipeline.OutputSink. It is called by the asset's
// notifier goroutine with a range of the output ring. It applies the level
// changes to the asset's depth picture, encodes each public message once
// into a shared buffer per channel, routes private events to their owners'
// event loops, and queues one loopBatch on each event loop with
// subscribers. It never waits on a connection or an event loop.
func (n *Notifier) HandleOutput(a *pipeline.Asset, lo, hi int64) {
	if fa := n.byID[a.ID]; fa != nil {
		n.handle(fa, a, lo, hi)
	}
}

// outputs is where handle reads a batch: the asset's output ring, or a
// benchmark's slice.
type outputs interface {
	Output(seq int64) *pipeline.Out
}

func (n *Notifier) handle(fa *feedAsset, a outputs, lo, hi int64) {
	recv := time.Now().UnixNano()
	var pub [numPublic]*sharedBuf
	for ch := range pub {
		pub[ch] = n.getShared()
	}

	fa.mu.Lock()
	fa.batch++
	var evTime int64
	bboDirty := false
	for s := lo; s <= hi; s++ {
		o := a.Output(s)
		if o.IsLevel {
			l := &o.Level
			fa.side(l.Side).apply(l.Price, l.Qty, l.Count)
			pub[chBook].b = appendFeedLevel(pub[chBook].b, fa, l.Side, l.Price, l.Qty, l.Count, o.EventSeq)
			pub[chBook].msgs++
			bboDirty = true
			continue
		}
		if bboDirty {
			fa.emitBBO(pub[chBBO])
			bboDirty = false
		}
		ev := &o.Event
		fa.lastSeq = ev.Seq
		if evTime == 0 {
			evTime = ev.Time
		}
		if ev.Kind == engine.EvTrade {
			pub[chTrades].b = appendFeedTrade(pub[chTrades].b, fa, ev)
			pub[chTrades].msgs++
			n.routePrivate(fa, ev, ev.UserID, false)
			n.routePrivate(fa, ev, ev.MakerUserID, true)
		} else {
			n.routePrivate(fa, ev, ev.UserID, false)
		}
	}
	if bboDirty {
		fa.emitBBO(pub[chBBO])
	}
	hasPub := false
	for _, sb := range pub {
		hasPub = hasPub || len(sb.b) > 0
	}
	for i, fl := range fa.loops {
		b := fa.cur[i]
		pubHere := hasPub && fa.npub[i] > 0
		if b == nil {
			if !pubHere {
				continue // nothing for this loop's connections
			}
			b = n.getBatch()
		}
		fa.cur[i] = nil
		b.fa, b.no, b.recv, b.evTime = fa, fa.batch, recv, evTime
		if pubHere {
			for ch, sb := range pub {
				if len(sb.b) > 0 {
					sb.retain()
					b.pub[ch] = sb
				}
			}
		}
		fl.push(b)
	}
	fa.mu.Unlock()

	for _, sb := range pub {
		sb.release()
	}
}

// routePrivate queues one event for the connections of user subscribed to
// its order events on this asset (maker: the maker's side of a trade). A
// connection in the middle of a resume holds it until the journal read is
// done. The caller holds fa.mu.
func (n *Notifier) routePrivate(fa *feedAsset, ev *engine.Event, user uint32, maker bool) {
	conns := fa.owners[user]
	if len(conns) == 0 {
		return
	}
	fa.scratch = appendFeedOrder(fa.scratch[:0], fa, ev, maker)
	for _, fc := range conns {
		ca := &fc.assets[fa.idx]
		if ca.recovering {
			if len(ca.held) >= maxHeld {
				fc.slowConsumer(fc.outbound.Load())
				continue
			}
			ca.held = append(ca.held, heldEvent{ev: *ev, maker: maker})
			continue
		}
		i := fc.loop.idx
		b := fa.cur[i]
		if b == nil {
			b = n.getBatch()
			fa.cur[i] = b
		}
		b.addPriv(fc, fa.scratch, 1)
	}
}

// emitBBO adds a best-bid-and-offer message to buf if the top of the book
// changed since the last one. The caller holds fa.mu.
func (fa *feedAsset) emitBBO(buf *sharedBuf) {
	bid, ask := fa.bids.best(), fa.asks.best()
	if bid == fa.lastBid && ask == fa.lastAsk {
		return
	}
	fa.lastBid, fa.lastAsk = bid, ask
	buf.b = appendFeedBBO(buf.b, fa, bid, ask, fa.lastSeq)
	buf.msgs++
}

// addLoop makes sure fl is in fa.loops. The caller holds fa.mu.
func (fa *feedAsset) addLoop(fl *feedLoop) {
	for len(fa.loops) <= fl.idx {
		fa.loops = append(fa.loops, nil)
		fa.npub = append(fa.npub, 0)
		fa.cur = append(fa.cur, nil)
	}
	fa.loops[fl.idx] = fl
}

// subscribePublic adds fc to public channel ch and returns false if it was
// already subscribed. The caller holds fa.mu and runs on fc's loop; what
// it writes before releasing fa.mu (the snapshot) precedes every batch the
// subscription will receive.
func (n *Notifier) subscribePublic(fa *feedAsset, fc *feedConn, ch channel) bool {
	ca := &fc.assets[fa.idx]
	if ca.pos[ch] != 0 {
		return false
	}
	fa.addLoop(fc.loop)
	fc.loop.subscribe(fc, fa.idx, ch)
	ca.from[ch] = fa.batch
	fa.npub[fc.loop.idx]++
	n.m.subs[ch].Inc()
	return true
}

// unsubscribePublic is the reverse; the caller holds fa.mu and runs on
// fc's loop.
func (n *Notifier) unsubscribePublic(fa *feedAsset, fc *feedConn, ch channel) bool {
	if fc.assets[fa.idx].pos[ch] == 0 {
		return false
	}
	fc.loop.unsubscribe(fc, fa.idx, ch)
	fa.npub[fc.loop.idx]--
	n.m.subs[ch].Dec()
	return true
}

// subscribeOrders adds fc to the owners of its user's events. The caller
// holds fa.mu.
func (n *Notifier) subscribeOrders(fa *feedAsset, fc *feedConn) bool {
	ca := &fc.assets[fa.idx]
	if ca.priv {
		return false
	}
	fa.addLoop(fc.loop)
	ca.priv = true
	fa.owners[fc.userID] = append(fa.owners[fc.userID], fc)
	n.m.subs[chOrders].Inc()
	return true
}

// unsubscribeOrders is the reverse. The caller holds fa.mu.
func (n *Notifier) unsubscribeOrders(fa *feedAsset, fc *feedConn) bool {
	ca := &fc.assets[fa.idx]
	if !ca.priv {
		return false
	}
	ca.priv, ca.recovering, ca.held = false, false, nil
	list := fa.owners[fc.userID]
	for i, other := range list {
		if other == fc {
			list[i] = list[len(list)-1]
			list[len(list)-1] = nil
			list = list[:len(list)-1]
			break
		}
	}
	if len(list) == 0 {
		delete(fa.owners, fc.userID)
	} else {
		fa.owners[fc.userID] = list
	}
	n.m.subs[chOrders].Dec()
	return true
}
