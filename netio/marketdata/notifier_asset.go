package marketdata

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
	// numMasks indexes the combinations of public channels (bit 1<<ch).
	numMasks = 1 << numPublic
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

// eventsWaiter is the pipeline's notification of what the event journal
// holds (*pipeline.Asset).
type eventsWaiter interface {
	// WaitEventsJournaled waits until the event journal holds every event
	// up to seq; false if the event journal stage stopped or failed
	// first, timeout passed, or cancel was closed.
	WaitEventsJournaled(seq uint64, timeout time.Duration, cancel <-chan struct{}) bool
}

// feedAsset is the notifier's state for one asset.
//
// mu is held by the asset's notifier goroutine for a whole output batch
// (apply the level changes, encode, route, queue a loopBatch per event
// loop) and, briefly, by the event loops and resumes to change
// subscriptions. That one lock makes a book snapshot consistent with the
// increments after it: the snapshot is read from the depth picture and
// queued on the subscriber's loop as a control batch under the lock, so it
// sits in the loop's inbox after every batch it covers and before every
// later one (notifier_loop.go). Nothing holding mu waits for a loop or a
// socket.
type feedAsset struct {
	id     uint32
	idx    int
	symbol string
	key    wire.Symbol
	events eventsWaiter // the pipeline asset: resumes wait on its event journal

	mu      sync.Mutex
	bids    depthSide
	asks    depthSide
	lastSeq uint64 // the last event sequence applied
	lastBid depthLevel
	lastAsk depthLevel
	// loops lists the event loops with subscribers of this asset; npub
	// counts each one's connections with public subscriptions (by loop
	// index), and masks the connections of each channel combination.
	loops []*feedLoop
	npub  []int
	masks [numMasks]int
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
	fa.mu.Lock()
	// One shared buffer per channel combination someone subscribes to.
	var pub [numMasks]*sharedBuf
	for m := 1; m < numMasks; m++ {
		if fa.masks[m] > 0 {
			pub[m] = n.getShared()
			pub[m].marks = append(pub[m].marks, 0)
		}
	}
	var evTime int64
	bboDirty := false
	seg, cmd := -1, uint64(0)
	for s := lo; s <= hi; s++ {
		o := a.Output(s)
		if o.IsLevel {
			l := &o.Level
			fa.side(l.Side).apply(l.Price, l.Qty, l.Count)
			if fa.wants(&pub, chBook) {
				fa.scratch = appendFeedLevel(fa.scratch[:0], fa, l.Side, l.Price, l.Qty, l.Count, o.EventSeq)
				fa.publish(&pub, chBook, fa.scratch)
			}
			bboDirty = true
			continue
		}
		ev := &o.Event
		if seg >= 0 {
			if ev.CmdSeq != cmd && bboDirty {
				// The last command is complete: its top of book.
				fa.emitBBO(&pub)
				bboDirty = false
			}
			markEvent(&pub)
		}
		seg, cmd = seg+1, ev.CmdSeq
		fa.lastSeq = ev.Seq
		if evTime == 0 {
			evTime = ev.Time
		}
		if ev.Kind == engine.EvTrade {
			if fa.wants(&pub, chTrades) {
				fa.scratch = appendFeedTrade(fa.scratch[:0], fa, ev)
				fa.publish(&pub, chTrades, fa.scratch)
			}
			n.routePrivate(fa, ev, ev.UserID, false, seg)
			n.routePrivate(fa, ev, ev.MakerUserID, true, seg)
		} else {
			n.routePrivate(fa, ev, ev.UserID, false, seg)
		}
	}
	if bboDirty {
		fa.emitBBO(&pub)
	}
	markEvent(&pub)

	hasPub := false
	for _, sb := range pub {
		hasPub = hasPub || (sb != nil && len(sb.b) > 0)
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
		b.fa, b.recv, b.evTime = fa, recv, evTime
		if pubHere {
			for m, sb := range pub {
				if sb != nil && len(sb.b) > 0 {
					sb.retain()
					b.pub[m] = sb
				}
			}
		}
		fl.push(b)
	}
	fa.mu.Unlock()

	for _, sb := range pub {
		if sb != nil {
			sb.release()
		}
	}
}

// wants reports whether any combination being built includes ch.
func (fa *feedAsset) wants(pub *[numMasks]*sharedBuf, ch channel) bool {
	for m, sb := range pub {
		if sb != nil && m&(1<<ch) != 0 {
			return true
		}
	}
	return false
}

// publish appends msg, a message of channel ch, to every combination
// being built that includes ch.
func (fa *feedAsset) publish(pub *[numMasks]*sharedBuf, ch channel, msg []byte) {
	for m, sb := range pub {
		if sb != nil && m&(1<<ch) != 0 {
			sb.b = append(sb.b, msg...)
			sb.msgs++
		}
	}
}

// markEvent records where the next event's public messages start. A level
// update goes with the event that made it (it follows that event in the
// output ring and carries its sequence); a command's BBO goes with its last
// event, whose sequence it carries.
func markEvent(pub *[numMasks]*sharedBuf) {
	for _, sb := range pub {
		if sb != nil {
			sb.marks = append(sb.marks, int32(len(sb.b)))
		}
	}
}

// routePrivate queues one event for the connections of user subscribed to
// its order events on this asset (maker: the maker's side of a trade); seg
// is the event's index within the batch. A connection in the middle of a resume
// holds it until the journal read is done. The caller holds fa.mu.
func (n *Notifier) routePrivate(fa *feedAsset, ev *engine.Event, user uint32, maker bool, seg int) {
	conns := fa.owners[user]
	if len(conns) == 0 {
		return
	}
	fa.scratch = appendFeedOrder(fa.scratch[:0], fa, ev, maker)
	for _, fc := range conns {
		ca := &fc.assets[fa.idx]
		if ca.recovering {
			if len(ca.held) >= maxHeld {
				fc.fallBehind()
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
		b.addPriv(fc, fa.scratch, 1, seg)
	}
}

// emitBBO publishes a best-bid-and-offer message if the top of the book
// changed since the last one. The caller holds fa.mu.
func (fa *feedAsset) emitBBO(pub *[numMasks]*sharedBuf) {
	bid, ask := fa.bids.best(), fa.asks.best()
	if bid == fa.lastBid && ask == fa.lastAsk {
		return
	}
	fa.lastBid, fa.lastAsk = bid, ask
	if fa.wants(pub, chBBO) {
		fa.scratch = appendFeedBBO(fa.scratch[:0], fa, bid, ask, fa.lastSeq)
		fa.publish(pub, chBBO, fa.scratch)
	}
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

// changeSubscription adds (add) or drops the channels of a Subscribe or
// Unsubscribe of fc on fa. Under the asset's lock it changes the asset's
// counts, so the next batch is encoded for fc's new channels, and queues on
// fc's loop a control batch with the loop-list change and, for a Subscribe,
// ack completed with the sequence, the book snapshot and the BBO asked for:
// the loop applies the change and writes the reply between the last batch
// before it and the first after it. Loop only.
func (n *Notifier) changeSubscription(fc *feedConn, fa *feedAsset, channels uint8, add bool, depth int, ack *wire.Subscribed) {
	n.sendReply(fc) // earlier replies go first
	fa.mu.Lock()
	defer fa.mu.Unlock()
	ca := &fc.assets[fa.idx]
	mask := ca.amask &^ publicMask(channels)
	if add {
		mask = ca.amask | publicMask(channels)
	}
	n.setPublic(fa, fc, mask)
	if channels&wire.ChanOrders != 0 {
		if add {
			n.subscribeOrders(fa, fc)
		} else {
			n.unsubscribeOrders(fa, fc)
		}
	}
	b := n.getBatch()
	b.fa, b.control = fa, true
	b.ctl = append(b.ctl, maskChange{fc: fc, ai: fa.idx, mask: mask})
	if ack != nil {
		// Subscriptions add up: Subscribed reports every channel in force.
		ack.Channels = channelsInForce(ca)
		ack.Seq = fa.lastSeq
		fa.scratch = wire.AppendSubscribed(fa.scratch[:0], ack)
		msgs := 1
		if channels&wire.ChanBook != 0 {
			ca.depth = int32(depth)
			fa.scratch = appendFeedSnapshot(fa.scratch, fa, depth)
			msgs++
		}
		if channels&wire.ChanBBO != 0 {
			fa.scratch = appendFeedBBO(fa.scratch, fa, fa.lastBid, fa.lastAsk, fa.lastSeq)
			msgs++
		}
		b.addPriv(fc, fa.scratch, msgs, 0)
	}
	fc.ctlQueued++
	fc.loop.push(b)
}

// channelsInForce returns the wire channel bits of the subscriptions ca
// holds, as the asset counts them. The caller holds the asset's lock.
func channelsInForce(ca *connAsset) uint8 {
	var ch uint8
	for _, c := range [...]struct {
		pub  channel
		wire uint8
	}{{chTrades, wire.ChanTrades}, {chBook, wire.ChanBook}, {chBBO, wire.ChanBBO}} {
		if ca.amask&(1<<c.pub) != 0 {
			ch |= c.wire
		}
	}
	if ca.priv {
		ch |= wire.ChanOrders
	}
	return ch
}

// resync sends fl's book and BBO subscribers of asset index ai a fresh
// snapshot after the loop's inbox dropped public batches of the asset
// (conflation): under the asset's lock it ends the dropping and queues the
// snapshots as a control batch, so the updates after them follow exactly.
// Loop only.
func (n *Notifier) resync(fl *feedLoop, ai int) {
	fa := n.assets[ai]
	fa.mu.Lock()
	defer fa.mu.Unlock()
	fl.mu.Lock()
	fl.stale[ai] = false
	fl.mu.Unlock()
	b := n.getBatch()
	b.fa, b.control = fa, true
	const bookBBO = 1<<chBook | 1<<chBBO
	for m := 1; m < numMasks; m++ {
		if m&bookBBO == 0 {
			continue
		}
		for _, fc := range fl.subs[ai][m] {
			ca := &fc.assets[ai]
			msgs := 0
			fa.scratch = fa.scratch[:0]
			if m&(1<<chBook) != 0 {
				fa.scratch = appendFeedSnapshot(fa.scratch, fa, int(ca.depth))
				msgs++
			}
			if m&(1<<chBBO) != 0 {
				fa.scratch = appendFeedBBO(fa.scratch, fa, fa.lastBid, fa.lastAsk, fa.lastSeq)
				msgs++
			}
			b.addPriv(fc, fa.scratch, msgs, 0)
		}
	}
	fl.push(b)
	n.log.Warn("market data: an event loop fell behind: public batches dropped, snapshots resent",
		"asset", fa.symbol, "loop", fl.idx, "conns", len(b.items))
}

// setPublic changes the public channels the asset counts for fc to mask (a
// combination of 1<<chTrades, 1<<chBook and 1<<chBBO): from the next batch
// on, the combinations fc needs are encoded and fc's loop gets the batch.
// The loop's own lists follow through a control batch (changeSubscription)
// or, for a closed connection, at once (dropSubscriptions). The caller
// holds fa.mu.
func (n *Notifier) setPublic(fa *feedAsset, fc *feedConn, mask uint8) {
	ca := &fc.assets[fa.idx]
	old := ca.amask
	if mask == old {
		return
	}
	fa.addLoop(fc.loop)
	ca.amask = mask
	if old != 0 {
		fa.masks[old]--
	}
	if mask != 0 {
		fa.masks[mask]++
	}
	switch {
	case old == 0:
		fa.npub[fc.loop.idx]++
	case mask == 0:
		fa.npub[fc.loop.idx]--
	}
	for ch := range numPublic {
		bit := uint8(1) << ch
		switch {
		case old&bit == 0 && mask&bit != 0:
			n.m.subs[ch].Inc()
		case old&bit != 0 && mask&bit == 0:
			n.m.subs[ch].Dec()
		}
	}
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
	fa.owners[fc.UserID] = append(fa.owners[fc.UserID], fc)
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
	list := fa.owners[fc.UserID]
	for i, other := range list {
		if other == fc {
			list[i] = list[len(list)-1]
			list[len(list)-1] = nil
			list = list[:len(list)-1]
			break
		}
	}
	if len(list) == 0 {
		delete(fa.owners, fc.UserID)
	} else {
		fa.owners[fc.UserID] = list
	}
	n.m.subs[chOrders].Dec()
	return true
}
