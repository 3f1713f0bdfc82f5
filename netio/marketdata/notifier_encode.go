package marketdata

import (
	"github.com/ringex/ringex/engine"
	"github.com/ringex/ringex/netio/wire"
)

// The notifier's encoders: engine values to market-data frames
// (docs/protocol.md, part 2). Each appends to dst and allocates nothing
// once dst has grown.

func feedSymbolKey(symbol string) wire.Symbol { return wire.MakeSymbol(symbol) }

func appendFeedTrade(dst []byte, fa *feedAsset, ev *engine.Event) []byte {
	m := wire.Trade{
		Symbol:    fa.key,
		Seq:       ev.Seq,
		TradeID:   ev.Seq,
		Price:     ev.Price,
		Qty:       ev.Qty,
		Aggressor: uint8(ev.Side),
		Time:      ev.Time,
	}
	return wire.AppendTrade(dst, &m)
}

func appendFeedLevel(dst []byte, fa *feedAsset, side engine.Side, price, qty int64, count int32, seq uint64) []byte {
	m := wire.BookUpdate{Symbol: fa.key, Seq: seq, Side: uint8(side), Price: price, Qty: qty, Count: uint32(count)}
	return wire.AppendBookUpdate(dst, &m)
}

func appendFeedBBO(dst []byte, fa *feedAsset, bid, ask depthLevel, seq uint64) []byte {
	m := wire.BBO{Symbol: fa.key, Seq: seq, BidPrice: bid.price, BidQty: bid.qty, AskPrice: ask.price, AskQty: ask.qty}
	return wire.AppendBBO(dst, &m)
}

// appendFeedOrder encodes ev as one user's order event: the taker's view,
// or for a trade with maker set, the maker's (its order, its side, its
// remaining quantity).
func appendFeedOrder(dst []byte, fa *feedAsset, ev *engine.Event, maker bool) []byte {
	m := wire.OrderEvent{
		Symbol:        fa.key,
		Seq:           ev.Seq,
		Kind:          uint8(ev.Kind),
		Reason:        ev.Reason,
		Side:          uint8(ev.Side),
		OrderID:       ev.OrderID,
		ClientOrderID: ev.ClientOrderID,
		Price:         ev.Price,
		Qty:           ev.Qty,
		Remaining:     ev.Remaining,
		Time:          ev.Time,
	}
	if maker {
		m.Side = uint8(opposite(ev.Side))
		m.OrderID, m.ClientOrderID, m.Remaining = ev.MakerOrderID, ev.MakerClientOrderID, ev.MakerRemaining
	}
	return wire.AppendOrderEvent(dst, &m)
}

func opposite(s engine.Side) engine.Side {
	if s == engine.Buy {
		return engine.Sell
	}
	return engine.Buy
}

// appendFeedSnapshot encodes the top depth levels of each side (0: all,
// within what one frame holds). The caller holds fa.mu.
func appendFeedSnapshot(dst []byte, fa *feedAsset, depth int) []byte {
	if depth <= 0 || depth > wire.MaxSnapshotSide {
		depth = wire.MaxSnapshotSide
	}
	fa.snapBids = appendWireLevels(fa.snapBids[:0], &fa.bids, depth)
	fa.snapAsks = appendWireLevels(fa.snapAsks[:0], &fa.asks, depth)
	return wire.AppendBookSnapshot(dst, fa.key, fa.lastSeq, fa.snapBids, fa.snapAsks)
}

func appendWireLevels(dst []wire.Level, d *depthSide, n int) []wire.Level {
	n = min(n, d.len())
	for i := range n {
		l := d.at(i)
		dst = append(dst, wire.Level{Price: l.price, Qty: l.qty, Count: uint32(l.count)})
	}
	return dst
}

func appendFeedResumed(dst []byte, fa *feedAsset, seq uint64) []byte {
	m := wire.ResumeDone{Symbol: fa.key, Seq: seq}
	return wire.AppendResumeDone(dst, &m)
}
