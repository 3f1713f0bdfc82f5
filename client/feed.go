package client

import (
	"context"

	"github.com/ringex/ringex/netio/wire"
)

// FeedHandler receives market data, on the feed's reader goroutine. The
// messages are valid only during the call.
type FeedHandler interface {
	OnSubscribed(m *wire.Subscribed)
	OnSubRejected(m *wire.SubRejected)
	OnTrade(m *wire.Trade)
	OnBookSnapshot(m *wire.BookSnapshot)
	OnBookUpdate(m *wire.BookUpdate)
	OnBBO(m *wire.BBO)
	OnOrderEvent(m *wire.OrderEvent)
	OnResumeDone(m *wire.ResumeDone)
}

// NopFeedHandler ignores everything; embed it to handle only some messages.
type NopFeedHandler struct{}

func (NopFeedHandler) OnSubscribed(*wire.Subscribed)     {}
func (NopFeedHandler) OnSubRejected(*wire.SubRejected)   {}
func (NopFeedHandler) OnTrade(*wire.Trade)               {}
func (NopFeedHandler) OnBookSnapshot(*wire.BookSnapshot) {}
func (NopFeedHandler) OnBookUpdate(*wire.BookUpdate)     {}
func (NopFeedHandler) OnBBO(*wire.BBO)                   {}
func (NopFeedHandler) OnOrderEvent(*wire.OrderEvent)     {}
func (NopFeedHandler) OnResumeDone(*wire.ResumeDone)     {}

// Feed is a market-data connection.
type Feed struct {
	*conn
	h FeedHandler
}

// DialFeed connects to a ringexd market-data address. With an empty user
// it does not log in and only public channels can be subscribed.
func DialFeed(ctx context.Context, addr, user, apiKey string, h FeedHandler, opts ...Options) (*Feed, error) {
	c, err := dialConn(ctx, addr, user, apiKey, opts)
	if err != nil {
		return nil, err
	}
	f := &Feed{conn: c, h: h}
	go f.readLoop()
	return f, nil
}

// Subscribe asks for channels (wire.ChanTrades | ...) of an asset, with
// depth book levels per side in the snapshot (0: all).
func (f *Feed) Subscribe(symbol string, channels uint8, depth uint16) error {
	m := wire.Subscribe{Symbol: wire.MakeSymbol(symbol), Channels: channels, Depth: depth}
	if err := f.encode(func(b []byte) []byte { return wire.AppendSubscribe(b, &m) }); err != nil {
		return err
	}
	return f.Flush()
}

// Unsubscribe drops channels of an asset.
func (f *Feed) Unsubscribe(symbol string, channels uint8) error {
	m := wire.Unsubscribe{Symbol: wire.MakeSymbol(symbol), Channels: channels}
	if err := f.encode(func(b []byte) []byte { return wire.AppendUnsubscribe(b, &m) }); err != nil {
		return err
	}
	return f.Flush()
}

// Resume asks for the user's private events of an asset after event
// sequence after (the last one seen), then live ones.
func (f *Feed) Resume(symbol string, after uint64) error {
	m := wire.Resume{Symbol: wire.MakeSymbol(symbol), After: after}
	if err := f.encode(func(b []byte) []byte { return wire.AppendResume(b, &m) }); err != nil {
		return err
	}
	return f.Flush()
}

func (f *Feed) readLoop() {
	var (
		sub  wire.Subscribed
		rej  wire.SubRejected
		tr   wire.Trade
		snap wire.BookSnapshot
		upd  wire.BookUpdate
		bbo  wire.BBO
		oe   wire.OrderEvent
		done wire.ResumeDone
	)
	for {
		fr, err := f.readFrame()
		if err != nil {
			f.fail(err)
			return
		}
		switch wire.Type(fr) {
		case wire.TypeSubscribed:
			if wire.DecodeSubscribed(fr, &sub) == nil {
				f.h.OnSubscribed(&sub)
			}
		case wire.TypeSubRejected:
			if wire.DecodeSubRejected(fr, &rej) == nil {
				f.h.OnSubRejected(&rej)
			}
		case wire.TypeTrade:
			if wire.DecodeTrade(fr, &tr) == nil {
				f.h.OnTrade(&tr)
			}
		case wire.TypeBookSnapshot:
			if wire.DecodeBookSnapshot(fr, &snap) == nil {
				f.h.OnBookSnapshot(&snap)
			}
		case wire.TypeBookUpdate:
			if wire.DecodeBookUpdate(fr, &upd) == nil {
				f.h.OnBookUpdate(&upd)
			}
		case wire.TypeBBO:
			if wire.DecodeBBO(fr, &bbo) == nil {
				f.h.OnBBO(&bbo)
			}
		case wire.TypeOrderEvent:
			if wire.DecodeOrderEvent(fr, &oe) == nil {
				f.h.OnOrderEvent(&oe)
			}
		case wire.TypeResumeDone:
			if wire.DecodeResumeDone(fr, &done) == nil {
				f.h.OnResumeDone(&done)
			}
		case wire.TypeLogout:
			code, _ := wire.DecodeLogout(fr)
			f.fail(&LogoutError{Code: code})
			return
		}
	}
}
