package main

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ringex/ringex/client"
	"github.com/ringex/ringex/netio/wire"
	"github.com/ringex/ringex/perf"
)

// idSpace builds client order ids: the run's random tag (16 bits), the
// session (16 bits) and the tracker's request number (32 bits). The run tag
// keeps the events of an earlier run's orders (still resting, and filled
// now) from being taken for this run's.
type idSpace struct{ run uint16 }

func (s idSpace) id(session int, n uint64) uint64 {
	return uint64(s.run)<<48 | uint64(session)<<32 | n&0xffffffff
}

// parse splits a client order id; ok is false for another run's ids.
func (s idSpace) parse(id uint64) (session int, n uint64, ok bool) {
	if uint16(id>>48) != s.run {
		return 0, 0, false
	}
	return int(id >> 32 & 0xffff), id & 0xffffffff, true
}

// A tracker tag holds the request's kind (3 bits) and its asset (5 bits).
const maxAssets = 1 << 5

func tag(k perf.Kind, asset int) uint8 { return uint8(k) | uint8(asset)<<3 }
func untag(t uint8) (perf.Kind, int)   { return perf.Kind(t & 7), int(t >> 3) }

func restingKind(k perf.Kind) bool { return k == perf.KindLimit || k == perf.KindPostOnly }
func amendKind(k perf.Kind) bool   { return k == perf.KindCancel || k == perf.KindReplace }

func sessionName(k int, user string) string { return fmt.Sprintf("session %d (%s)", k, user) }

// maxPool bounds the resting orders a session remembers as cancel and
// replace targets.
const maxPool = 4096

// loadSession is one order-entry session: the perf.Sender the driver
// sends through, and the client.Handler its answers come back to.
type loadSession struct {
	lr   *loadRun
	k    int
	user string
	tr   *perf.Tracker
	gen  *perf.Generator
	s    *client.Session

	mu   sync.Mutex
	pool []target // acked orders that may rest: cancel and replace targets
}

type target struct {
	orderID uint64
	n       uint64 // the order's request number
	asset   int
}

// Send implements perf.Sender: it draws the next request from the mix,
// registers it with the tracker and buffers it.
func (ls *loadSession) Send(intended time.Time) error {
	ls.mu.Lock()
	canAmend := len(ls.pool) > 0
	ls.mu.Unlock()
	o := ls.gen.Next(canAmend)
	var tgt target
	if amendKind(o.Kind) {
		var ok bool
		if tgt, ok = ls.takeTarget(); ok {
			o.Asset = tgt.asset
			o.Price, o.Qty = ls.gen.PriceQty(tgt.asset)
		} else {
			o.Kind = perf.KindLimit // every known order is gone
		}
	}
	n := ls.tr.Add(intended, tag(o.Kind, o.Asset))
	id := ls.lr.ids.id(ls.k, n)
	sym := ls.lr.syms[o.Asset]
	switch o.Kind {
	case perf.KindCancel:
		return ls.s.Cancel(&wire.Cancel{ClientOrderID: id, Symbol: sym, OrderID: tgt.orderID})
	case perf.KindReplace:
		ls.putTarget(tgt) // it keeps its id; a later cancel or replace may hit it again
		return ls.s.Replace(&wire.Replace{ClientOrderID: id, Symbol: sym, OrderID: tgt.orderID, Price: o.Price, Qty: o.Qty})
	}
	no := wire.NewOrder{ClientOrderID: id, Symbol: sym, Side: o.Side, Type: 1, TIF: 1, Price: o.Price, Qty: o.Qty}
	switch o.Kind {
	case perf.KindMarket:
		no.Type, no.TIF, no.Price = 2, 2, 0
	case perf.KindIOC:
		no.TIF = 2
	case perf.KindFOK:
		no.TIF = 3
	case perf.KindPostOnly:
		no.PostOnly = true
	}
	return ls.s.NewOrder(&no)
}

// Flush implements perf.Sender.
func (ls *loadSession) Flush() error { return ls.s.Flush() }

// takeTarget removes a random live order from the pool; orders seen to
// have left the book are dropped on the way.
func (ls *loadSession) takeTarget() (target, bool) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	for len(ls.pool) > 0 {
		i := ls.gen.Pick(len(ls.pool))
		t := ls.pool[i]
		last := len(ls.pool) - 1
		ls.pool[i] = ls.pool[last]
		ls.pool = ls.pool[:last]
		if ls.tr.Live(t.n) {
			return t, true
		}
	}
	return target{}, false
}

func (ls *loadSession) putTarget(t target) {
	ls.mu.Lock()
	if len(ls.pool) < maxPool {
		ls.pool = append(ls.pool, t)
	}
	ls.mu.Unlock()
}

// number finds the request number of one of this session's client order
// ids; 0 (never a request) for anything else.
func (ls *loadSession) number(id uint64) uint64 {
	k, n, ok := ls.lr.ids.parse(id)
	if !ok || k != ls.k {
		return 0
	}
	return n
}

// OnAck implements client.Handler.
func (ls *loadSession) OnAck(a *wire.OrderAck) {
	n := ls.number(a.ClientOrderID)
	t, ok := ls.tr.Ack(n)
	if !ok {
		return
	}
	if kind, asset := untag(t); restingKind(kind) {
		ls.putTarget(target{orderID: a.OrderID, n: n, asset: asset})
	}
}

// OnReject implements client.Handler.
func (ls *loadSession) OnReject(r *wire.Reject) {
	if r.ClientOrderID == 0 {
		ls.lr.run.Error(fmt.Sprintf("%s: reject %d (%s) of a request the server could not read",
			sessionName(ls.k, ls.user), r.Reason, wire.ReasonText(r.Reason)))
		return
	}
	ls.tr.Reject(ls.number(r.ClientOrderID), r.Reason)
}

// OnLogout implements client.LogoutHandler: a session that ends before
// the run closes it is an error.
func (ls *loadSession) OnLogout(err error) {
	if !errors.Is(err, client.ErrClosed) {
		ls.lr.run.Error(fmt.Sprintf("%s ended: %v", sessionName(ls.k, ls.user), err))
	}
}
