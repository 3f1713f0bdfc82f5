package engine

// taker is an order while it matches: a New order before it rests (it has no
// slot yet) or a replaced order that was taken off the book to move.
type taker struct {
	id       uint64
	clientID uint64
	user     uint32
	side     Side
	stp      STPMode
	killed   bool  // self-trade prevention canceled the remainder
	price    int64 // the order's limit price, 0 for a market order
	limit    int64 // the worst acceptable maker price (MaxInt64 or 0 for a market order)
	qty      int64 // open quantity
}

// accepts reports whether the taker may trade at a maker's price.
func (t *taker) accepts(price int64) bool {
	return sideKey(t.side, t.limit-price) >= 0
}

// crosses reports whether the taker would trade with the best opposite
// level, that is, take liquidity.
func (b *Book) crosses(t *taker) bool {
	return b.opposite(t.side).reaches(t.side, t.limit)
}

// fillable reports whether the opposite side holds at least t.qty at prices
// t accepts. With self-trade prevention on, the taker's own orders do not
// count, since it will never trade with them. (Under cancel-newest or
// cancel-both, meeting one of them still ends the FOK order: the check is
// about liquidity, and self-trade prevention then governs.)
func (b *Book) fillable(t *taker) bool {
	need := t.qty
	l := b.opposite(t.side)
	for i := len(l.lvls) - 1; i >= 0; i-- {
		lv := &b.levels[l.lvls[i]]
		if !t.accepts(lv.price) {
			return false
		}
		if t.stp == STPNone {
			need -= lv.qty
		} else {
			for oi := lv.head; oi != nilIndex; oi = b.orders[oi].next {
				if o := &b.orders[oi]; o.user != t.user {
					need -= o.qty
				}
			}
		}
		if need <= 0 {
			return true
		}
	}
	return false
}

// match trades t against the opposite side in price-time priority.
//
// The invariant it keeps: before and after every step the book is not
// crossed, every linked order has qty > 0, and each level's qty and count are
// the sum and number of its orders. The taker walks the best opposite level
// from the head of its FIFO; each maker either trades (price = the maker's,
// quantity = the smaller open quantity), or, if it belongs to the taker's
// user and STP is on, is handled by the taker's STP mode. A maker that
// reaches zero is unlinked and freed at once, and a level that empties is
// removed before the next one is looked at, so the loop only ever sees live
// orders. It stops when the taker is filled or killed, or the best opposite
// price is no longer acceptable.
func (b *Book) match(t *taker) {
	l := b.opposite(t.side)
	for t.qty > 0 && l.reaches(t.side, t.limit) {
		li := l.lvls[len(l.lvls)-1]
		b.matchLevel(t, li)
		if lv := &b.levels[li]; lv.count == 0 {
			l.removeAt(len(l.lvls) - 1)
			b.prices.del(lv.price, b.levels)
			b.freeLevel(li)
		}
		if t.killed {
			return
		}
	}
}

// matchLevel trades t against level li until one of them is exhausted or t
// is killed by self-trade prevention.
func (b *Book) matchLevel(t *taker, li int32) {
	lv := &b.levels[li]
	var seq uint64 // the last event that changed the level, 0 if none
	for oi := lv.head; oi != nilIndex && t.qty > 0 && !t.killed; {
		o := &b.orders[oi]
		next := o.next
		if o.user == t.user && t.stp != STPNone {
			if s := b.selfTrade(t, oi); s != 0 {
				seq = s
			}
			oi = next
			continue
		}
		q := min(t.qty, o.qty)
		o.qty -= q
		lv.qty -= q
		t.qty -= q

		e := b.emit(EvTrade)
		seq = e.Seq
		e.OrderID, e.ClientOrderID, e.UserID, e.Side = t.id, t.clientID, t.user, t.side
		e.Price, e.Qty, e.Remaining = o.price, q, t.qty
		e.MakerOrderID, e.MakerClientOrderID, e.MakerUserID, e.MakerRemaining = o.id, o.clientID, o.user, o.qty
		if o.qty == 0 {
			b.emitOrder(EvDone, oi)
			b.removeOrder(oi)
		}
		oi = next
	}
	if seq != 0 {
		b.touchAt(li, seq)
	}
}

// selfTrade applies the taker's STP mode to maker oi, which belongs to the
// taker's user. It returns the sequence of the event that changed the
// maker's level, or 0 if the level did not change.
func (b *Book) selfTrade(t *taker, oi int32) uint64 {
	o := &b.orders[oi]
	var seq uint64
	switch t.stp {
	case STPCancelNewest:
		b.killTaker(t)
	case STPCancelOldest:
		seq = b.reduceMaker(oi, o.qty)
	case STPCancelBoth:
		seq = b.reduceMaker(oi, o.qty)
		b.killTaker(t)
	default: // STPDecrementCancel
		d := min(t.qty, o.qty)
		seq = b.reduceMaker(oi, d)
		t.qty -= d
		e := b.takerEvent(reducedOrCanceled(t.qty), t)
		e.Reason, e.Qty, e.Remaining = uint8(CancelSelfTrade), d, t.qty
		t.killed = t.qty == 0
	}
	return seq
}

// reducedOrCanceled is the kind of the event for an order that self-trade
// prevention leaves with open quantity left: EvReduced while the order
// lives on, EvCanceled when it is gone.
func reducedOrCanceled(left int64) EventKind {
	if left > 0 {
		return EvReduced
	}
	return EvCanceled
}

// killTaker cancels the taker's whole remainder for self-trade prevention.
func (b *Book) killTaker(t *taker) {
	b.takerEvent(EvCanceled, t).Reason = uint8(CancelSelfTrade)
	t.qty = 0
	t.killed = true
}

// reduceMaker cancels q of maker oi for self-trade prevention, removing it
// if nothing is left, and returns the sequence of its event (EvReduced or
// EvCanceled). The caller touches the level.
func (b *Book) reduceMaker(oi int32, q int64) uint64 {
	o := &b.orders[oi]
	o.qty -= q
	b.levels[o.level].qty -= q
	e := b.emitOrder(reducedOrCanceled(o.qty), oi)
	e.Reason, e.Qty, e.Remaining = uint8(CancelSelfTrade), q, o.qty
	seq := e.Seq
	if o.qty == 0 {
		b.removeOrder(oi)
	}
	return seq
}
