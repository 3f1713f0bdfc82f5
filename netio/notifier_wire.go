package netio

// INTERIM encoding, used until netio/wire has the market-data messages:
// frames are a big-endian uint16 length, a type byte and the body. It will
// be replaced by the netio/wire codec (docs/protocol.md).

import (
	"encoding/binary"

	"github.com/panjf2000/gnet/v2"

	"github.com/ringex/ringex/engine"
)

const (
	reasonFeedSlowConsumer uint16 = iota + 1
	reasonFeedShutdown
	reasonFeedTooManyConns
	reasonFeedIdle
	reasonFeedUnavailable
)

func feedSymbolKey(s string) [8]byte {
	var k [8]byte
	copy(k[:], s)
	return k
}

func feedStubFrame(dst []byte, typ byte, body func([]byte) []byte) []byte {
	at := len(dst)
	dst = append(dst, 0, 0, typ)
	dst = body(dst)
	binary.BigEndian.PutUint16(dst[at:], uint16(len(dst)-at-2))
	return dst
}
func feedStubU64(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }

func appendFeedLogout(dst []byte, reason uint16) []byte {
	return feedStubFrame(dst, 'L', func(b []byte) []byte { return feedStubU64(b, uint64(reason)) })
}
func appendFeedHeartbeat(dst []byte) []byte {
	return feedStubFrame(dst, 'H', func(b []byte) []byte { return b })
}
func appendFeedLevel(dst []byte, fa *feedAsset, side engine.Side, price, qty int64, count int32, seq uint64) []byte {
	return feedStubFrame(dst, 'B', func(b []byte) []byte {
		b = feedStubU64(b, seq)
		b = append(b, byte(side))
		b = feedStubU64(b, uint64(price))
		b = feedStubU64(b, uint64(qty))
		return feedStubU64(b, uint64(count))
	})
}
func appendFeedTrade(dst []byte, fa *feedAsset, ev *engine.Event) []byte {
	return feedStubFrame(dst, 'T', func(b []byte) []byte {
		b = feedStubU64(b, ev.Seq)
		b = append(b, byte(ev.Side))
		b = feedStubU64(b, uint64(ev.Price))
		b = feedStubU64(b, uint64(ev.Qty))
		return feedStubU64(b, uint64(ev.Time))
	})
}
func appendFeedOrder(dst []byte, fa *feedAsset, ev *engine.Event, maker bool) []byte {
	return feedStubFrame(dst, 'O', func(b []byte) []byte {
		b = feedStubU64(b, ev.Seq)
		b = append(b, byte(ev.Kind))
		id, rem := ev.OrderID, ev.Remaining
		m := byte(0)
		if maker {
			id, rem, m = ev.MakerOrderID, ev.MakerRemaining, 1
		}
		b = append(b, m)
		b = feedStubU64(b, id)
		b = feedStubU64(b, uint64(ev.Qty))
		return feedStubU64(b, uint64(rem))
	})
}
func appendFeedBBO(dst []byte, fa *feedAsset, bid, ask depthLevel, seq uint64) []byte {
	return feedStubFrame(dst, 'Q', func(b []byte) []byte { return feedStubU64(b, seq) })
}
func appendFeedSnapshot(dst []byte, fa *feedAsset) []byte {
	return feedStubFrame(dst, 'S', func(b []byte) []byte {
		b = feedStubU64(b, fa.lastSeq)
		b = feedStubU64(b, uint64(fa.bids.len()))
		b = feedStubU64(b, uint64(fa.asks.len()))
		for _, d := range []*depthSide{&fa.bids, &fa.asks} {
			for i := 0; i < d.len(); i++ {
				l := d.at(i)
				b = feedStubU64(b, uint64(l.price))
				b = feedStubU64(b, uint64(l.qty))
				b = feedStubU64(b, uint64(l.count))
			}
		}
		return b
	})
}
func appendFeedResumed(dst []byte, fa *feedAsset, seq uint64) []byte {
	return feedStubFrame(dst, 'R', func(b []byte) []byte { return feedStubU64(b, seq) })
}
func appendFeedStubAck(dst []byte, seq uint64) []byte {
	return feedStubFrame(dst, 'A', func(b []byte) []byte { return feedStubU64(b, seq) })
}

// Requests: 16 bytes: op, asset index, 6 pad, u64 arg.
func (n *Notifier) OnTraffic(c gnet.Conn) gnet.Action {
	fc := c.Context().(*feedConn)
	fc.touch()
	buf, _ := c.Peek(-1)
	off := 0
	for ; off+16 <= len(buf); off += 16 {
		r := buf[off : off+16]
		op, fa, arg := r[0], n.assets[r[1]], binary.BigEndian.Uint64(r[8:])
		switch op {
		case 'l':
			fc.userID = uint32(arg)
			fc.reply = appendFeedStubAck(fc.reply, arg)
		case 't', 'b', 'q':
			ch := map[byte]channel{'t': chTrades, 'b': chBook, 'q': chBBO}[op]
			fa.mu.Lock()
			fc.writeNow(fc.reply)
			fc.reply = fc.reply[:0]
			n.subscribePublic(fa, fc, ch)
			fc.writeNow(appendFeedStubAck(nil, fa.lastSeq))
			if ch == chBook {
				fc.writeNow(appendFeedSnapshot(nil, fa))
			}
			fa.mu.Unlock()
		case 'o':
			fa.mu.Lock()
			n.subscribeOrders(fa, fc)
			fa.mu.Unlock()
			fc.reply = appendFeedStubAck(fc.reply, 0)
		case 'r':
			n.startResume(fc, fa, arg)
			fc.reply = appendFeedStubAck(fc.reply, 0)
		}
	}
	c.Discard(off)
	fc.writeNow(fc.reply)
	fc.reply = fc.reply[:0]
	return gnet.None
}
