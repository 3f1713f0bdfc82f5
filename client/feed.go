package client

import (
	"context"

	"github.com/ringex/ringex/netio/wire"
)

// FeedHandler receives market data, on the feed's reader goroutine, in the
// order the server sent it. The messages are valid only during the call
// (a snapshot's level slices are reused by the next one). A FeedHandler
// may also implement LogoutHandler and RejectHandler.
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

// RejectHandler may be implemented by a FeedHandler to see the Rejects a
// market-data server sends for a request it could not read (a wrong length
// or an unknown type): a sign of a bug in the client, not of the market.
type RejectHandler interface {
	OnReject(m *wire.Reject)
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

// Feed is a market-data connection. Its methods may be called from any
// goroutine.
type Feed struct {
	*conn
	h FeedHandler
}

// DialFeed connects to a ringexd market-data address. With an empty user
// it does not log in, and only the public channels can be subscribed;
// with a user it logs in as Dial does, and the user's own order events
// (wire.ChanOrders, Resume) are available too.
func DialFeed(ctx context.Context, addr, user, apiKey string, h FeedHandler, opts ...Options) (*Feed, error) {
	c, err := dial(ctx, addr, user, apiKey, firstOptions(opts))
	if err != nil {
		return nil, err
	}
	f := &Feed{conn: c, h: h}
	go f.readLoop()
	return f, nil
}

// Subscribe asks for channels (wire.ChanTrades | wire.ChanBook | ...) of
// an asset, with depth book levels per side in the snapshot (0: as many as
// a frame holds). The server answers Subscribed, then the snapshot and the
// BBO if asked for, or SubRejected. Subscribing to the book again gets a
// fresh snapshot: the way to recover from a gap.
func (f *Feed) Subscribe(symbol string, channels uint8, depth uint16) error {
	m := wire.Subscribe{Symbol: wire.MakeSymbol(symbol), Channels: channels, Depth: depth}
	b, err := f.buffer()
	if err != nil {
		return err
	}
	if err := f.commit(wire.AppendSubscribe(b, &m)); err != nil {
		return err
	}
	return f.Flush()
}

// Unsubscribe drops channels of an asset. Messages already on their way
// may still arrive.
func (f *Feed) Unsubscribe(symbol string, channels uint8) error {
	m := wire.Unsubscribe{Symbol: wire.MakeSymbol(symbol), Channels: channels}
	b, err := f.buffer()
	if err != nil {
		return err
	}
	if err := f.commit(wire.AppendUnsubscribe(b, &m)); err != nil {
		return err
	}
	return f.Flush()
}

// Resume asks for the user's order events of an asset with an event
// sequence above after (the last one processed; 0 for all), from the
// exchange's journal, then ResumeDone, then the live ones. It subscribes
// to the asset's orders channel; it needs a login.
func (f *Feed) Resume(symbol string, after uint64) error {
	m := wire.Resume{Symbol: wire.MakeSymbol(symbol), After: after}
	b, err := f.buffer()
	if err != nil {
		return err
	}
	if err := f.commit(wire.AppendResume(b, &m)); err != nil {
		return err
	}
	return f.Flush()
}

func (f *Feed) readLoop() {
	var (
		sub  wire.Subscribed
		srej wire.SubRejected
		tr   wire.Trade
		snap wire.BookSnapshot
		upd  wire.BookUpdate
		bbo  wire.BBO
		oe   wire.OrderEvent
		done wire.ResumeDone
		rej  wire.Reject
	)

read:
	for {
		fr, err := f.readFrame()
		if err != nil {
			f.readFailed(err)
			break read
		}
		// A frame that does not decode (a server bug) is skipped, as an
		// unknown type is: the stream itself is still in step.
		switch wire.Type(fr) {
		case wire.TypeTrade:
			if wire.DecodeTrade(fr, &tr) == nil {
				f.h.OnTrade(&tr)
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
		case wire.TypeBookSnapshot:
			if wire.DecodeBookSnapshot(fr, &snap) == nil {
				f.h.OnBookSnapshot(&snap)
			}
		case wire.TypeSubscribed:
			if wire.DecodeSubscribed(fr, &sub) == nil {
				f.h.OnSubscribed(&sub)
			}
		case wire.TypeSubRejected:
			if wire.DecodeSubRejected(fr, &srej) == nil {
				f.h.OnSubRejected(&srej)
			}
		case wire.TypeResumeDone:
			if wire.DecodeResumeDone(fr, &done) == nil {
				f.h.OnResumeDone(&done)
			}
		case wire.TypeReject:
			if rh, ok := f.h.(RejectHandler); ok && wire.DecodeReject(fr, &rej) == nil {
				rh.OnReject(&rej)
			}
		case wire.TypeLogout:
			f.serverLogout(fr)
			break read
		}
	}
	if lh, ok := f.h.(LogoutHandler); ok {
		lh.OnLogout(f.Err())
	}
}
