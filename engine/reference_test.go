package engine

import (
	"cmp"
	"slices"
)

// refBook is the reference matcher the tests hold Book to: the same rules,
// written the obvious way. Each side is one slice of orders sorted by
// priority (best price, then arrival), matching always takes the first order
// of the opposite slice, and levels are computed by summing orders. It shares
// no code with Book.
type refBook struct {
	cfg    AssetConfig
	bids   []*refOrder // best first: price descending, then arrival
	asks   []*refOrder // best first: price ascending, then arrival
	arrive uint64      // priority clock
	evSeq  uint64
	cmd    Command
	out    []Event
}

type refOrder struct {
	id, client uint64
	user       uint32
	side       Side
	stp        STPMode
	postOnly   bool
	price, qty int64
	arrival    uint64
}

func newRefBook(cfg AssetConfig) *refBook { return &refBook{cfg: cfg} }

func (r *refBook) sideOf(s Side) *[]*refOrder {
	if s == Buy {
		return &r.bids
	}
	return &r.asks
}

func (r *refBook) oppositeOf(s Side) *[]*refOrder {
	if s == Buy {
		return &r.asks
	}
	return &r.bids
}

func (r *refBook) find(id uint64) *refOrder {
	for _, o := range r.bids {
		if o.id == id {
			return o
		}
	}
	for _, o := range r.asks {
		if o.id == id {
			return o
		}
	}
	return nil
}

// insert adds o with a fresh arrival stamp and re-sorts its side.
func (r *refBook) insert(o *refOrder) {
	r.arrive++
	o.arrival = r.arrive
	s := r.sideOf(o.side)
	*s = append(*s, o)
	slices.SortFunc(*s, func(a, b *refOrder) int {
		if a.price != b.price {
			if o.side == Buy {
				return cmp.Compare(b.price, a.price)
			}
			return cmp.Compare(a.price, b.price)
		}
		return cmp.Compare(a.arrival, b.arrival)
	})
}

func (r *refBook) remove(o *refOrder) {
	s := r.sideOf(o.side)
	i := slices.Index(*s, o)
	*s = slices.Delete(*s, i, i+1)
}

func (r *refBook) event(kind EventKind, o *refOrder) *Event {
	r.evSeq++
	r.out = append(r.out, Event{Seq: r.evSeq, CmdSeq: r.cmd.Seq, Time: r.cmd.Time, Kind: kind,
		OrderID: o.id, ClientOrderID: o.client, UserID: o.user, Side: o.side, Price: o.price})
	return &r.out[len(r.out)-1]
}

func (r *refBook) reject(why RejectReason) {
	c := r.cmd
	r.evSeq++
	r.out = append(r.out, Event{Seq: r.evSeq, CmdSeq: c.Seq, Time: c.Time, Kind: EvRejected,
		OrderID: c.OrderID, ClientOrderID: c.ClientOrderID, UserID: c.UserID, Side: c.Side,
		Reason: uint8(why), Price: c.Price, Qty: c.Qty})
}

func (r *refBook) submit(c Command) []Event {
	r.cmd = c
	r.out = r.out[:0]
	switch c.Kind {
	case CmdNew:
		r.newOrder()
	case CmdCancel:
		r.cancelOrder()
	case CmdReplace:
		r.replaceOrder()
	default:
		r.reject(RejectBadCommand)
	}
	return r.out
}

func (r *refBook) badQty(q int64) RejectReason {
	if q <= 0 || q > r.cfg.MaxQty {
		return RejectBadQuantity
	}
	if q%r.cfg.LotSize != 0 {
		return RejectOffLot
	}
	return 0
}

func (r *refBook) badPrice(p int64) RejectReason {
	if p <= 0 || p < r.cfg.MinPrice || p > r.cfg.MaxPrice {
		return RejectBadPrice
	}
	if p%r.cfg.TickSize != 0 {
		return RejectOffTick
	}
	return 0
}

// acceptable reports whether taker t (limit or, if market, any price) may
// trade at price p.
func acceptable(t *refOrder, market bool, p int64) bool {
	switch {
	case market:
		return true
	case t.side == Buy:
		return p <= t.price
	default:
		return p >= t.price
	}
}

func (r *refBook) newOrder() {
	c := r.cmd
	okEnums := (c.Side == Buy || c.Side == Sell) && (c.Type == Limit || c.Type == Market) &&
		(c.TIF == GTC || c.TIF == IOC || c.TIF == FOK) && c.STP <= STPDecrementCancel
	if !okEnums {
		r.reject(RejectBadCommand)
		return
	}
	if why := r.badQty(c.Qty); why != 0 {
		r.reject(why)
		return
	}
	market := c.Type == Market
	if !market {
		if why := r.badPrice(c.Price); why != 0 {
			r.reject(why)
			return
		}
	}
	if r.find(c.OrderID) != nil {
		r.reject(RejectDuplicateID)
		return
	}
	t := &refOrder{id: c.OrderID, client: c.ClientOrderID, user: c.UserID, side: c.Side,
		stp: c.STP, postOnly: c.PostOnly, price: c.Price, qty: c.Qty}
	if market {
		t.price = 0
	}
	opp := *r.oppositeOf(c.Side)
	if c.PostOnly && (market || len(opp) > 0 && acceptable(t, false, opp[0].price)) {
		r.reject(RejectPostOnlyTake)
		return
	}
	if c.TIF == FOK {
		var avail int64
		for _, m := range opp {
			if acceptable(t, market, m.price) && (c.STP == STPNone || m.user != c.UserID) {
				avail += m.qty
			}
		}
		if avail < c.Qty {
			r.reject(RejectFOKUnfillable)
			return
		}
	}
	if r.take(t, market) {
		return
	}
	if t.qty == 0 {
		r.event(EvDone, t)
		return
	}
	switch {
	case market:
		e := r.event(EvCanceled, t)
		e.Reason, e.Qty = uint8(CancelMarketNoFill), t.qty
	case c.TIF == IOC || c.TIF == FOK:
		e := r.event(EvCanceled, t)
		e.Reason, e.Qty = uint8(CancelIOCRemainder), t.qty
	default:
		r.insert(t)
		e := r.event(EvAccepted, t)
		e.Qty, e.Remaining = t.qty, t.qty
	}
}

// take matches t against the opposite side and reports whether self-trade
// prevention killed it.
func (r *refBook) take(t *refOrder, market bool) bool {
	for t.qty > 0 {
		opp := r.oppositeOf(t.side)
		if len(*opp) == 0 || !acceptable(t, market, (*opp)[0].price) {
			return false
		}
		m := (*opp)[0]
		if t.stp != STPNone && m.user == t.user {
			switch t.stp {
			case STPCancelNewest:
				e := r.event(EvCanceled, t)
				e.Reason, e.Qty = uint8(CancelSelfTrade), t.qty
				t.qty = 0
				return true
			case STPCancelOldest, STPCancelBoth:
				e := r.event(EvCanceled, m)
				e.Reason, e.Qty = uint8(CancelSelfTrade), m.qty
				r.remove(m)
				if t.stp == STPCancelBoth {
					e := r.event(EvCanceled, t)
					e.Reason, e.Qty = uint8(CancelSelfTrade), t.qty
					t.qty = 0
					return true
				}
			case STPDecrementCancel:
				d := min(m.qty, t.qty)
				m.qty -= d
				t.qty -= d
				e := r.event(EvReduced, m)
				if m.qty == 0 {
					e.Kind = EvCanceled
					r.remove(m)
				}
				e.Reason, e.Qty, e.Remaining = uint8(CancelSelfTrade), d, m.qty
				e = r.event(EvReduced, t)
				e.Reason, e.Qty, e.Remaining = uint8(CancelSelfTrade), d, t.qty
				if t.qty == 0 {
					e.Kind = EvCanceled
					return true
				}
			}
			continue
		}
		q := min(m.qty, t.qty)
		m.qty -= q
		t.qty -= q
		e := r.event(EvTrade, t)
		e.Price, e.Qty, e.Remaining = m.price, q, t.qty
		e.MakerOrderID, e.MakerClientOrderID, e.MakerUserID, e.MakerRemaining = m.id, m.client, m.user, m.qty
		if m.qty == 0 {
			r.event(EvDone, m)
			r.remove(m)
		}
	}
	return false
}

func (r *refBook) cancelOrder() {
	o := r.find(r.cmd.OrderID)
	if o == nil {
		r.reject(RejectUnknownOrder)
		return
	}
	if o.user != r.cmd.UserID {
		r.reject(RejectNotOwner)
		return
	}
	e := r.event(EvCanceled, o)
	e.Reason, e.Qty = uint8(CancelUser), o.qty
	r.remove(o)
}

func (r *refBook) replaceOrder() {
	c := r.cmd
	if why := r.badQty(c.Qty); why != 0 {
		r.reject(why)
		return
	}
	if c.Price != 0 {
		if why := r.badPrice(c.Price); why != 0 {
			r.reject(why)
			return
		}
	}
	o := r.find(c.OrderID)
	if o == nil {
		r.reject(RejectUnknownOrder)
		return
	}
	if o.user != c.UserID {
		r.reject(RejectNotOwner)
		return
	}
	if c.Price == 0 || c.Price == o.price {
		if c.Qty > o.qty {
			r.remove(o)
			o.qty = c.Qty
			r.insert(o) // to the back of its level
		}
		o.qty = c.Qty
		e := r.event(EvReplaced, o)
		e.Qty, e.Remaining = o.qty, o.qty
		return
	}
	moved := *o
	moved.price = c.Price
	opp := *r.oppositeOf(o.side)
	if o.postOnly && len(opp) > 0 && acceptable(&moved, false, opp[0].price) {
		r.reject(RejectPostOnlyTake)
		return
	}
	r.remove(o)
	o.price, o.qty = c.Price, c.Qty
	e := r.event(EvReplaced, o)
	e.Qty, e.Remaining = o.qty, o.qty
	if r.take(o, false) {
		return
	}
	if o.qty == 0 {
		r.event(EvDone, o)
		return
	}
	r.insert(o)
}

// levels returns side s aggregated into levels, best first.
func (r *refBook) levels(s Side, dst []Level) []Level {
	for _, o := range *r.sideOf(s) {
		if n := len(dst); n > 0 && dst[n-1].Price == o.price {
			dst[n-1].Qty += o.qty
			dst[n-1].Count++
			continue
		}
		dst = append(dst, Level{Price: o.price, Qty: o.qty, Count: 1})
	}
	return dst
}

func (r *refBook) count() int { return len(r.bids) + len(r.asks) }
