package main

import (
	"errors"
	"fmt"

	"github.com/ringex/ringex/client"
	"github.com/ringex/ringex/netio/wire"
	"github.com/ringex/ringex/perf"
)

// feedBase is what every market-data connection of a run shares: it
// reports its subscriptions and its end to the run.
type feedBase struct {
	client.NopFeedHandler
	lr   *loadRun
	name string
}

func (f *feedBase) OnSubscribed(*wire.Subscribed) { f.lr.subscribed <- nil }

func (f *feedBase) OnSubRejected(m *wire.SubRejected) {
	f.lr.subscribed <- fmt.Errorf("%s: subscription to %s refused: %s (code %d)", f.name, m.Symbol, wire.SubText(m.Reason), m.Reason)
}

// OnLogout implements client.LogoutHandler: a feed that ends before the
// run closes it is an error (its trades or fills are lost to the checks).
func (f *feedBase) OnLogout(err error) {
	if !errors.Is(err, client.ErrClosed) {
		f.lr.run.Error(fmt.Sprintf("%s ended: %v", f.name, err))
	}
}

// tradeFeed is the reference public trade feed: the fill check's list of
// trades, and the count every subscriber must match.
type tradeFeed struct{ feedBase }

func (f *tradeFeed) OnTrade(t *wire.Trade) {
	if ai, ok := f.lr.assetIndex[t.Symbol]; ok {
		f.lr.run.Fills.Trade(ai, t.Seq, t.Qty)
	}
}

// subscriberFeed is one subscriber measuring public trade delivery.
type subscriberFeed struct {
	feedBase
	sub *perf.Subscriber
}

func (f *subscriberFeed) OnTrade(t *wire.Trade) { f.sub.Trade(t.Time) }

// orderFeed is one user's private order events: the fills for the fill
// check, the taker fills for the order-to-fill latency, and the orders'
// ends for the choice of cancel and replace targets.
type orderFeed struct{ feedBase }

func (f *orderFeed) OnOrderEvent(e *wire.OrderEvent) {
	lr := f.lr
	ai, ok := lr.assetIndex[e.Symbol]
	if !ok {
		return
	}
	if e.Kind == wire.OrderFilled {
		lr.run.Fills.Fill(ai, e.Seq, e.Qty) // this run's orders or not: the trade needs both fills
	}
	k, n, ok := lr.ids.parse(e.ClientOrderID)
	if !ok || k >= len(lr.sessions) {
		return
	}
	tr := lr.sessions[k].tr
	switch e.Kind {
	case wire.OrderAccepted:
		tr.Rested(n)
	case wire.OrderFilled:
		tr.Filled(n)
	case wire.OrderCanceled, wire.OrderDone:
		tr.Ended(n)
	case wire.OrderRejected:
		tr.Ended(n) // a refused post-only order never rests
		lr.run.Refused(lr.refusals[e.Reason])
	}
}
