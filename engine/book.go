package engine

import (
	"fmt"
	"math"
)

// Level is one price level of the L2 book.
type Level struct {
	Price int64
	Qty   int64 // total open quantity at Price
	Count int32 // number of orders at Price
}

// LevelChange is the state of one price level after a command touched it.
// Qty == 0 (and Count == 0) means the level is gone.
type LevelChange struct {
	Side  Side
	Price int64
	Qty   int64
	Count int32
	// Seq is the event that last changed the level: for a maker's level
	// the last trade (or self-trade cancel) there, so that market data
	// reports a trade and the level it emptied with one sequence; for a
	// rest, a cancel or a replace, that order's event. A moved order that
	// rests after matching has no event of its own: its level carries the
	// command's last event. Seq does not decrease along Changes.
	Seq uint64
}

// OrderInfo is the state of a resting order.
type OrderInfo struct {
	ID            uint64
	ClientOrderID uint64
	UserID        uint32
	Side          Side
	Price         int64
	Qty           int64 // open quantity
	STP           STPMode
	PostOnly      bool
}

// Book is one asset's order book and matcher. Single-threaded: not safe for
// concurrent use.
type Book struct {
	cfg AssetConfig

	orders     []order
	levels     []level
	freeOrders int32
	freeLevels int32
	ladders    [3]ladder // indexed by Side: bids at [Buy], asks at [Sell]
	ids        idMap     // order id -> order
	prices     priceMap  // price -> level, both sides

	// Per-Submit state: the events and level changes of the command being
	// applied, and stamp, which identifies that command to touch.
	events  []Event
	changes []LevelChange
	stamp   uint64
	cmdSeq  uint64
	cmdTime int64

	eventSeq uint64

	snap []byte // reused by Snapshot
}

// MaxQtyLimit bounds AssetConfig.MaxQty, so that the total quantity of a
// price level (a sum of int64 quantities) cannot overflow with fewer than
// 2^23 orders on it.
const MaxQtyLimit = 1 << 40

// Validate reports whether c describes a tradable asset: positive tick and
// lot, 0 < MaxQty <= MaxQtyLimit, and 0 <= MinPrice <= MaxPrice.
func (c AssetConfig) Validate() error {
	switch {
	case c.TickSize <= 0:
		return fmt.Errorf("engine: asset %q: tick size %d is not positive", c.Symbol, c.TickSize)
	case c.LotSize <= 0:
		return fmt.Errorf("engine: asset %q: lot size %d is not positive", c.Symbol, c.LotSize)
	case c.MaxQty <= 0 || c.MaxQty > MaxQtyLimit:
		return fmt.Errorf("engine: asset %q: max quantity %d is not in (0, 2^40]", c.Symbol, c.MaxQty)
	case c.MinPrice < 0 || c.MaxPrice < c.MinPrice:
		return fmt.Errorf("engine: asset %q: price band [%d, %d] is empty or negative", c.Symbol, c.MinPrice, c.MaxPrice)
	case len(c.Symbol) > math.MaxUint16:
		return fmt.Errorf("engine: asset symbol is %d bytes long", len(c.Symbol))
	}
	return nil
}

// NewBook returns an empty book for the asset cfg. It panics if cfg is not
// valid (see AssetConfig.Validate): configurations are checked when they are
// parsed, so a bad one here is a programming error.
func NewBook(cfg AssetConfig) *Book {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	return newBook(cfg, 1024)
}

func newBook(cfg AssetConfig, orders int) *Book {
	return &Book{
		cfg:        cfg,
		orders:     make([]order, 0, orders),
		levels:     make([]level, 0, 256),
		freeOrders: nilIndex,
		freeLevels: nilIndex,
		ladders:    [3]ladder{Buy: newLadder(256), Sell: newLadder(256)},
		ids:        newIDMap(orders),
		prices:     newPriceMap(256),
		events:     make([]Event, 0, 64),
		changes:    make([]LevelChange, 0, 16),
	}
}

// reset empties the book and gives it configuration cfg, keeping its
// storage.
func (b *Book) reset(cfg AssetConfig) {
	b.cfg = cfg
	b.orders, b.levels = b.orders[:0], b.levels[:0]
	b.freeOrders, b.freeLevels = nilIndex, nilIndex
	for s := range b.ladders {
		l := &b.ladders[s]
		l.keys, l.lvls = l.keys[:0], l.lvls[:0]
	}
	clear(b.ids.slots)
	b.ids.n = 0
	clear(b.prices.slots)
	b.prices.n = 0
	b.events, b.changes = b.events[:0], b.changes[:0]
	b.cmdSeq, b.eventSeq, b.cmdTime = 0, 0, 0
}

// Config returns the asset configuration.
func (b *Book) Config() AssetConfig { return b.cfg }

// LastEventSeq returns the sequence of the last event emitted (0 if none).
func (b *Book) LastEventSeq() uint64 { return b.eventSeq }

// LastCmdSeq returns the Seq of the last command submitted (0 if none).
func (b *Book) LastCmdSeq() uint64 { return b.cmdSeq }

// Changes returns the L2 levels touched by the last Submit, each once, in
// the order they were first touched, with their state after the command. The
// slice is owned by the Book and valid until the next Submit.
func (b *Book) Changes() []LevelChange { return b.changes }

// BestBid returns the highest bid price and its total quantity.
func (b *Book) BestBid() (price, qty int64, ok bool) { return b.top(&b.ladders[Buy]) }

// BestAsk returns the lowest ask price and its total quantity.
func (b *Book) BestAsk() (price, qty int64, ok bool) { return b.top(&b.ladders[Sell]) }

func (b *Book) top(l *ladder) (price, qty int64, ok bool) {
	li := l.best()
	if li == nilIndex {
		return 0, 0, false
	}
	lv := &b.levels[li]
	return lv.price, lv.qty, true
}

// Depth appends up to n levels of side to dst, best first, and returns the
// extended slice. n <= 0 means all levels.
func (b *Book) Depth(side Side, n int, dst []Level) []Level {
	l := b.side(side)
	if l == nil {
		return dst
	}
	if n <= 0 || n > len(l.lvls) {
		n = len(l.lvls)
	}
	for i := len(l.lvls) - 1; i >= len(l.lvls)-n; i-- {
		lv := &b.levels[l.lvls[i]]
		dst = append(dst, Level{Price: lv.price, Qty: lv.qty, Count: lv.count})
	}
	return dst
}

// Order returns the state of the resting order id.
func (b *Book) Order(id uint64) (OrderInfo, bool) {
	oi, ok := b.ids.get(id, b.orders)
	if !ok {
		return OrderInfo{}, false
	}
	o := &b.orders[oi]
	return OrderInfo{ID: o.id, ClientOrderID: o.clientID, UserID: o.user, Side: o.side,
		Price: o.price, Qty: o.qty, STP: o.stp, PostOnly: o.postOnly}, true
}

// Len returns the number of resting orders.
func (b *Book) Len() int { return b.ids.n }

// side returns the ladder of side, or nil for an invalid side.
func (b *Book) side(s Side) *ladder {
	if s != Buy && s != Sell {
		return nil
	}
	return &b.ladders[s]
}

// opposite returns the ladder an order of side s (Buy or Sell) trades
// against. Indexing instead of branching matters: sides arrive at random,
// and a mispredicted branch costs more than the rest of the lookup.
func (b *Book) opposite(s Side) *ladder {
	return &b.ladders[3-s]
}

// Submit applies one command and returns the events it caused, in order.
// The returned slice is owned by the Book and valid only until the next call
// to Submit or Restore. Event.Seq is the asset's dense event sequence:
// b.LastEventSeq()+1 for the first event. Every command yields at least one
// event.
func (b *Book) Submit(cmd *Command) []Event {
	b.events = b.events[:0]
	b.changes = b.changes[:0]
	b.stamp++
	b.cmdSeq = cmd.Seq
	b.cmdTime = cmd.Time
	switch cmd.Kind {
	case CmdNew:
		b.submitNew(cmd)
	case CmdCancel:
		b.cancel(cmd)
	case CmdReplace:
		b.replace(cmd)
	default:
		b.reject(cmd, RejectBadCommand)
	}
	return b.events
}

// emit appends an event of kind with the command's sequence and time and a
// fresh event sequence, and returns it for the caller to fill in.
func (b *Book) emit(kind EventKind) *Event {
	n := len(b.events)
	if n == cap(b.events) {
		b.events = append(b.events, Event{})
	} else {
		b.events = b.events[:n+1]
	}
	b.eventSeq++
	e := &b.events[n]
	*e = Event{Seq: b.eventSeq, CmdSeq: b.cmdSeq, Time: b.cmdTime, Kind: kind}
	return e
}

// emitOrder emits an event about resting (or replacing) order oi.
func (b *Book) emitOrder(kind EventKind, oi int32) *Event {
	e := b.emit(kind)
	o := &b.orders[oi]
	e.OrderID, e.ClientOrderID, e.UserID, e.Side, e.Price = o.id, o.clientID, o.user, o.side, o.price
	return e
}

func (b *Book) reject(c *Command, r RejectReason) {
	e := b.emit(EvRejected)
	e.OrderID, e.ClientOrderID, e.UserID, e.Side = c.OrderID, c.ClientOrderID, c.UserID, c.Side
	e.Reason, e.Price, e.Qty = uint8(r), c.Price, c.Qty
}

// touch records level li in the changes of the current Submit with its
// current state, as changed by the last event emitted. Call it after every
// change to a level's qty or count, once the event that reports the change
// is out.
func (b *Book) touch(li int32) { b.touchAt(li, b.eventSeq) }

// touchAt is touch for a change made by event seq, which may be earlier
// than the last event (a trade before the maker's EvDone).
func (b *Book) touchAt(li int32, seq uint64) {
	lv := &b.levels[li]
	if lv.stamp != b.stamp {
		lv.stamp = b.stamp
		lv.change = int32(len(b.changes))
		b.changes = append(b.changes, LevelChange{Side: lv.side, Price: lv.price})
	}
	c := &b.changes[lv.change]
	c.Qty, c.Count, c.Seq = lv.qty, lv.count, seq
}

// checkQty and checkPrice apply the asset's rules (check.go).
func (b *Book) checkQty(qty int64) RejectReason     { return b.cfg.checkQty(qty) }
func (b *Book) checkPrice(price int64) RejectReason { return b.cfg.checkPrice(price) }

// submitNew applies a New command: validate, check post-only and FOK,
// match, then rest, cancel or finish the remainder according to the type and
// time in force.
func (b *Book) submitNew(c *Command) {
	if c.BadField() != FieldNone {
		b.reject(c, RejectBadCommand)
		return
	}
	if r := b.checkQty(c.Qty); r != 0 {
		b.reject(c, r)
		return
	}
	// Field by field, not a composite literal: see pool.go.
	var t taker
	t.id, t.clientID, t.user, t.side, t.stp, t.qty = c.OrderID, c.ClientOrderID, c.UserID, c.Side, c.STP, c.Qty
	if c.Type == Limit {
		if r := b.checkPrice(c.Price); r != 0 {
			b.reject(c, r)
			return
		}
		t.price, t.limit = c.Price, c.Price
	} else if c.Side == Buy {
		t.limit = math.MaxInt64
	}
	if _, dup := b.ids.get(c.OrderID, b.orders); dup {
		b.reject(c, RejectDuplicateID)
		return
	}
	if c.PostOnly && (c.Type == Market || b.crosses(&t)) {
		b.reject(c, RejectPostOnlyTake)
		return
	}
	if c.TIF == FOK && !b.fillable(&t) {
		b.reject(c, RejectFOKUnfillable)
		return
	}
	b.match(&t)
	switch {
	case t.killed:
		// Self-trade prevention canceled the remainder; its event is out.
	case t.qty == 0:
		b.takerEvent(EvDone, &t)
	case c.Type == Market:
		b.takerEvent(EvCanceled, &t).Reason = uint8(CancelMarketNoFill)
	case c.TIF != GTC:
		b.takerEvent(EvCanceled, &t).Reason = uint8(CancelIOCRemainder)
	default:
		oi := b.allocOrder()
		o := &b.orders[oi] // a free slot is zero but for its links, which rest sets
		o.id, o.clientID, o.price, o.qty, o.user = t.id, t.clientID, t.price, t.qty, t.user
		o.side, o.stp, o.postOnly = t.side, t.stp, c.PostOnly
		e := b.emitOrder(EvAccepted, oi)
		e.Qty, e.Remaining = t.qty, t.qty
		b.rest(oi) // after the event: its level change carries its sequence
		b.ids.put(oi, b.orders)
	}
}

// takerEvent emits an event about a taker that does not rest. For EvCanceled
// the canceled quantity is the taker's whole remainder.
func (b *Book) takerEvent(kind EventKind, t *taker) *Event {
	e := b.emit(kind)
	e.OrderID, e.ClientOrderID, e.UserID, e.Side, e.Price = t.id, t.clientID, t.user, t.side, t.price
	if kind == EvCanceled {
		e.Qty = t.qty
	}
	return e
}

// rest links order oi (price, side and qty set) at the tail of its price
// level, creating the level if needed. The caller indexes it by id.
func (b *Book) rest(oi int32) {
	o := &b.orders[oi]
	li, found := b.prices.get(o.price, b.levels)
	if !found {
		li = b.newLevel(o.side, o.price)
	} else if b.levels[li].side != o.side {
		panic(fmt.Sprintf("engine: order %d (side %d) would rest at %d, a level of side %d", o.id, o.side, o.price, b.levels[li].side))
	}
	b.pushBack(li, oi)
	b.touch(li)
}

// newLevel creates an empty level and puts it in its ladder and the price
// index.
func (b *Book) newLevel(side Side, price int64) int32 {
	l := &b.ladders[side]
	key := sideKey(side, price)
	i, found := l.search(key)
	if found {
		panic(fmt.Sprintf("engine: level side %d price %d in the ladder but not the price index", side, price))
	}
	li := b.allocLevel(side, price)
	l.insert(i, key, li)
	b.prices.put(li, b.levels)
	return li
}

// dropLevel removes level li, which has no orders left, from its ladder and
// the price index, and frees it.
func (b *Book) dropLevel(li int32) {
	lv := &b.levels[li]
	l := &b.ladders[lv.side]
	i, found := l.search(sideKey(lv.side, lv.price))
	if !found || l.lvls[i] != li {
		panic(fmt.Sprintf("engine: level %d (side %d price %d) missing from its ladder", li, lv.side, lv.price))
	}
	l.removeAt(i)
	b.prices.del(lv.price, b.levels)
	b.freeLevel(li)
}

// removeOrder takes order oi out of the book for good: unlinks it, forgets
// its id and frees its slot. The caller touches and drops the level.
func (b *Book) removeOrder(oi int32) {
	b.unlink(oi)
	b.ids.del(b.orders[oi].id, b.orders)
	b.freeOrder(oi)
}

// cancel applies a Cancel command.
func (b *Book) cancel(c *Command) {
	oi, ok := b.ids.get(c.OrderID, b.orders)
	if !ok {
		b.reject(c, RejectUnknownOrder)
		return
	}
	o := &b.orders[oi]
	if o.user != c.UserID {
		b.reject(c, RejectNotOwner)
		return
	}
	e := b.emitOrder(EvCanceled, oi)
	e.Reason, e.Qty = uint8(CancelUser), o.qty
	li := o.level
	b.removeOrder(oi)
	b.touch(li)
	if b.levels[li].count == 0 {
		b.dropLevel(li)
	}
}

// replace applies a Replace command. A quantity decrease (or no change) at
// the same price keeps the order's place in its queue; an increase moves it
// to the back. A new price takes the order off the book, lets it match as a
// GTC taker under its own STP mode, and rests what is left at the back of
// the new level.
func (b *Book) replace(c *Command) {
	if r := b.checkQty(c.Qty); r != 0 {
		b.reject(c, r)
		return
	}
	if c.Price != 0 {
		if r := b.checkPrice(c.Price); r != 0 {
			b.reject(c, r)
			return
		}
	}
	oi, ok := b.ids.get(c.OrderID, b.orders)
	if !ok {
		b.reject(c, RejectUnknownOrder)
		return
	}
	o := &b.orders[oi]
	if o.user != c.UserID {
		b.reject(c, RejectNotOwner)
		return
	}
	price := c.Price
	if price == 0 || price == o.price {
		li, old := o.level, o.qty
		switch {
		case c.Qty < old:
			b.levels[li].qty -= old - c.Qty
			o.qty = c.Qty
		case c.Qty > old:
			b.unlink(oi)
			o.qty = c.Qty
			b.pushBack(li, oi)
		}
		e := b.emitOrder(EvReplaced, oi)
		e.Qty, e.Remaining = o.qty, o.qty
		if c.Qty != old {
			b.touch(li)
		}
		return
	}

	crosses := b.opposite(o.side).reaches(o.side, price)
	if crosses && o.postOnly {
		b.reject(c, RejectPostOnlyTake)
		return
	}
	e := b.emit(EvReplaced)
	e.OrderID, e.ClientOrderID, e.UserID, e.Side = o.id, o.clientID, o.user, o.side
	e.Price, e.Qty, e.Remaining = price, c.Qty, c.Qty
	li := o.level
	b.unlink(oi)
	b.touch(li)
	if b.levels[li].count == 0 {
		b.dropLevel(li)
	}
	o.price, o.qty = price, c.Qty
	if !crosses {
		// The common move (most commands of a busy book): nothing to
		// match. This is rest, written out to save the calls.
		li, found := b.prices.get(price, b.levels)
		if !found {
			li = b.newLevel(o.side, price)
		}
		b.pushBack(li, oi)
		b.touch(li)
		return
	}

	var t taker
	t.id, t.clientID, t.user, t.side, t.stp = o.id, o.clientID, o.user, o.side, o.stp
	t.price, t.limit, t.qty = price, price, c.Qty
	b.match(&t)
	switch {
	case t.killed:
		b.ids.del(t.id, b.orders)
		b.freeOrder(oi)
	case t.qty == 0:
		b.takerEvent(EvDone, &t)
		b.ids.del(t.id, b.orders)
		b.freeOrder(oi)
	default:
		b.orders[oi].qty = t.qty
		b.rest(oi)
	}
}
