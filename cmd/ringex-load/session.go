package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ringex/ringex/client"
	"github.com/ringex/ringex/netio/wire"
	"github.com/ringex/ringex/perf"
)

// stats are shared by every session and feed of a run.
type stats struct {
	sent, acked, rejected, dupes atomic.Int64
	trades, fills                atomic.Int64

	ack, fill, delivery *perf.Latency

	mu      sync.Mutex
	rejects map[uint16]int
	errs    []string
	// orders maps a client order id to its intended send time and, once
	// acked, its gateway receive time: a fill whose event time is the
	// order's own receive time (or that comes before the ack) is the
	// order's taker fill, the one order-to-fill latency is about.
	orders map[uint64]orderTimes
}

type orderTimes struct{ intended, recv int64 }

func newStats() *stats {
	return &stats{
		ack: perf.NewLatency("ack"), fill: perf.NewLatency("order-to-fill"), delivery: perf.NewLatency("trade-delivery"),
		rejects: map[uint16]int{}, orders: map[uint64]orderTimes{},
	}
}

func (s *stats) inFlight() int64 { return s.sent.Load() - s.acked.Load() - s.rejected.Load() }

func (s *stats) addError(e string) {
	s.mu.Lock()
	s.errs = append(s.errs, e)
	s.mu.Unlock()
}

func (s *stats) errorList() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.errs...)
}

func (s *stats) rejectsByReason() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for code, n := range s.rejects {
		out[fmt.Sprintf("%d %s", code, wire.ReasonText(code))] = n
	}
	return out
}

// loadSession is one order-entry connection and its own bookkeeping.
type loadSession struct {
	st     *stats
	k      int
	s      *client.Session
	gen    *perf.Generator
	params []perf.AssetParams
	seq    uint64
	window chan struct{} // max-throughput mode: one token per order in flight

	mu      sync.Mutex
	pending map[uint64]pendingOrder
	resting []restingOrder // orders that may rest, for cancels and replaces
}

type pendingOrder struct {
	intended int64
	kind     perf.Kind
	asset    int
}

type restingOrder struct {
	id    uint64
	asset int
}

func (ls *loadSession) nextID() uint64 {
	ls.seq++
	return uint64(ls.k+1)<<40 | ls.seq
}

// send buffers one generated request meant for intended.
func (ls *loadSession) send(intended time.Time) {
	ls.mu.Lock()
	if ls.pending == nil {
		ls.pending = map[uint64]pendingOrder{}
	}
	o := ls.gen.Next(len(ls.resting) > 0)
	id := ls.nextID()
	a := &ls.params[o.Asset]
	sym := wire.MakeSymbol(a.Symbol)
	var err error
	switch o.Kind {
	case perf.KindCancel, perf.KindReplace:
		i := ls.gen.Pick(len(ls.resting))
		target := ls.resting[i]
		ls.resting[i] = ls.resting[len(ls.resting)-1]
		ls.resting = ls.resting[:len(ls.resting)-1]
		o.Asset = target.asset
		o.Price, o.Qty = ls.gen.PriceQty(target.asset)
		sym = wire.MakeSymbol(ls.params[target.asset].Symbol)
		ls.pending[id] = pendingOrder{intended.UnixNano(), o.Kind, o.Asset}
		ls.mu.Unlock()
		if o.Kind == perf.KindCancel {
			err = ls.s.Cancel(&wire.Cancel{ClientOrderID: id, Symbol: sym, OrderID: target.id})
		} else {
			err = ls.s.Replace(&wire.Replace{ClientOrderID: id, Symbol: sym, OrderID: target.id, Price: o.Price, Qty: o.Qty})
		}
	default:
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
		ls.pending[id] = pendingOrder{intended.UnixNano(), o.Kind, o.Asset}
		ls.mu.Unlock()
		err = ls.s.NewOrder(&no)
	}
	ls.st.mu.Lock()
	ls.st.orders[id] = orderTimes{intended: intended.UnixNano()}
	ls.st.mu.Unlock()
	ls.st.sent.Add(1)
	if err != nil {
		ls.st.addError(fmt.Sprintf("session %d: send: %v", ls.k, err))
	}
}

// openLoop sends at the schedule's pace until end; when it falls behind it
// sends everything due at once, each order keeping its intended time.
func (ls *loadSession) openLoop(ctx context.Context, sch perf.Schedule, end time.Time) {
	for i := int64(0); ; {
		next := sch.Intended(i)
		if !next.Before(end) || ctx.Err() != nil {
			break
		}
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
		now := time.Now()
		for due := sch.Due(now); i < due; i++ {
			t := sch.Intended(i)
			if !t.Before(end) {
				break
			}
			ls.send(t)
		}
		if err := ls.s.Flush(); err != nil {
			ls.st.addError(fmt.Sprintf("session %d: flush: %v", ls.k, err))
			return
		}
	}
}

// maxThroughput keeps the window full until end.
func (ls *loadSession) maxThroughput(ctx context.Context, end time.Time) {
	for time.Now().Before(end) && ctx.Err() == nil {
		select {
		case ls.window <- struct{}{}:
			ls.send(time.Now())
			if len(ls.window) == cap(ls.window) || len(ls.window)%8 == 0 {
				ls.s.Flush()
			}
		default:
			ls.s.Flush()
			select {
			case ls.window <- struct{}{}:
				ls.send(time.Now())
			case <-time.After(time.Until(end)):
				return
			}
		}
	}
	ls.s.Flush()
}

func (ls *loadSession) answered(id uint64) (pendingOrder, bool) {
	ls.mu.Lock()
	p, ok := ls.pending[id]
	if ok {
		delete(ls.pending, id)
	}
	ls.mu.Unlock()
	if ok && ls.window != nil {
		<-ls.window
	}
	if !ok {
		ls.st.dupes.Add(1)
	}
	return p, ok
}

// OnAck implements client.Handler.
func (ls *loadSession) OnAck(a *wire.OrderAck) {
	now := time.Now().UnixNano()
	p, ok := ls.answered(a.ClientOrderID)
	if !ok {
		return
	}
	ls.st.acked.Add(1)
	ls.st.ack.Record(time.Duration(now - p.intended))
	ls.st.mu.Lock()
	if t, ok := ls.st.orders[a.ClientOrderID]; ok {
		t.recv = a.RecvTime
		ls.st.orders[a.ClientOrderID] = t
	}
	ls.st.mu.Unlock()
	if p.kind == perf.KindLimit || p.kind == perf.KindPostOnly {
		ls.mu.Lock()
		if len(ls.resting) < 1000 {
			ls.resting = append(ls.resting, restingOrder{a.OrderID, p.asset})
		}
		ls.mu.Unlock()
	}
}

// OnReject implements client.Handler.
func (ls *loadSession) OnReject(r *wire.Reject) {
	if _, ok := ls.answered(r.ClientOrderID); !ok {
		return
	}
	ls.st.rejected.Add(1)
	ls.st.mu.Lock()
	ls.st.rejects[r.Reason]++
	ls.st.mu.Unlock()
}

// fillWatcher counts a user's fill notifications and times taker fills.
type fillWatcher struct {
	client.NopFeedHandler
	st *stats
}

func (f *fillWatcher) OnOrderEvent(e *wire.OrderEvent) {
	if e.Kind != wire.OrderFilled {
		return
	}
	now := time.Now().UnixNano()
	f.st.fills.Add(1)
	f.st.mu.Lock()
	t, ok := f.st.orders[e.ClientOrderID]
	f.st.mu.Unlock()
	if ok && (t.recv == 0 || t.recv == e.Time) {
		f.st.fill.Record(time.Duration(now - t.intended))
	}
}

// tradeCounter counts public trades (for the fill check).
type tradeCounter struct {
	client.NopFeedHandler
	st *stats
}

func (c *tradeCounter) OnTrade(*wire.Trade) { c.st.trades.Add(1) }

// tradeLatency times public trade delivery at a subscriber: from the
// taker's gateway receive time to arrival here.
type tradeLatency struct {
	client.NopFeedHandler
	st *stats
}

func (l *tradeLatency) OnTrade(t *wire.Trade) {
	l.st.delivery.Record(time.Duration(time.Now().UnixNano() - t.Time))
}
