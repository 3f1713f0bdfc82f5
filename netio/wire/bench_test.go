package wire

import (
	"math/rand"
	"testing"
)

// Benchmarks show the codec's cost per message and that it allocates
// nothing: every one reports allocs/op, which must be 0.

var (
	benchOrder = NewOrder{ClientOrderID: 1, Symbol: MakeSymbol("BTC-USD"), Side: 1, Type: 1, TIF: 1, STP: 1, Price: 6_500_000, Qty: 10}
	benchTrade = Trade{Symbol: MakeSymbol("BTC-USD"), Seq: 9, TradeID: 9, Price: 6_500_000, Qty: 3, Aggressor: 2, Time: 1}
	benchEvent = OrderEvent{Symbol: MakeSymbol("BTC-USD"), Seq: 9, Kind: OrderFilled, Side: 1, OrderID: 5, ClientOrderID: 1, Price: 6_500_000, Qty: 3, Remaining: 7, Time: 1}
)

// BenchmarkDecode splits and decodes a read buffer of order-entry frames in
// place, as the gateway does: NextFrame, switch on the type, DecodeX.
func BenchmarkDecode(b *testing.B) {
	var buf []byte
	const msgs = 64
	for i := range msgs {
		switch i % 4 {
		case 0, 1:
			buf = AppendNewOrder(buf, &benchOrder)
		case 2:
			buf = AppendCancel(buf, &Cancel{ClientOrderID: 2, Symbol: benchOrder.Symbol, OrderID: 5})
		case 3:
			buf = AppendReplace(buf, &Replace{ClientOrderID: 3, Symbol: benchOrder.Symbol, OrderID: 5, Price: 6_500_100, Qty: 5})
		}
	}
	var (
		no  NewOrder
		cx  Cancel
		rp  Replace
		sum uint64
	)
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		for off := 0; off < len(buf); {
			frame, n, err := NextFrame(buf[off:], MaxInboundFrame)
			if err != nil || n == 0 {
				b.Fatal("bad frame")
			}
			off += n
			switch Type(frame) {
			case TypeNewOrder:
				err = DecodeNewOrder(frame, &no)
				sum += no.ClientOrderID
			case TypeCancel:
				err = DecodeCancel(frame, &cx)
				sum += cx.OrderID
			case TypeReplace:
				err = DecodeReplace(frame, &rp)
				sum += rp.OrderID
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*msgs), "ns/msg")
	if sum == 0 {
		b.Fatal("nothing decoded")
	}
}

// BenchmarkEncode appends a batch of market-data frames to a reused
// buffer, as the notifier does once per event for all its subscribers.
func BenchmarkEncode(b *testing.B) {
	buf := make([]byte, 0, 64<<10)
	const msgs = 64
	ack := OrderAck{ClientOrderID: 1, OrderID: 5, Seq: 9, RecvTime: 1}
	upd := BookUpdate{Symbol: benchTrade.Symbol, Seq: 9, Side: 1, Price: 6_500_000, Qty: 7, Count: 2}
	b.ReportAllocs()
	for b.Loop() {
		buf = buf[:0]
		for i := range msgs {
			switch i % 4 {
			case 0:
				buf = AppendTrade(buf, &benchTrade)
			case 1:
				buf = AppendBookUpdate(buf, &upd)
			case 2:
				buf = AppendOrderEvent(buf, &benchEvent)
			case 3:
				buf = AppendOrderAck(buf, &ack)
			}
		}
	}
	b.SetBytes(int64(len(buf)))
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*msgs), "ns/msg")
}

// BenchmarkCodec measures the append and the decode of every message type
// on its own.
func BenchmarkCodec(b *testing.B) {
	r := rand.New(rand.NewSource(6))
	for _, c := range codecs {
		frame, _ := c.sample(r)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			var err error
			for b.Loop() {
				_, err = decodeOnly(frame)
			}
			if err != nil {
				b.Fatal(err)
			}
		})
	}
	b.Run("AppendNewOrder", func(b *testing.B) {
		buf := make([]byte, 0, 64)
		b.ReportAllocs()
		for b.Loop() {
			buf = AppendNewOrder(buf[:0], &benchOrder)
		}
	})
	b.Run("AppendBookSnapshot/20levels", func(b *testing.B) {
		side := make([]Level, 10)
		for i := range side {
			side[i] = Level{Price: int64(100 + i), Qty: 5, Count: 1}
		}
		buf := make([]byte, 0, 1024)
		b.ReportAllocs()
		for b.Loop() {
			buf = AppendBookSnapshot(buf[:0], benchTrade.Symbol, 9, side, side)
		}
	})
}

// decodeOnly decodes a frame by its type into reused values, without the
// re-encoding of codec.redo, so that it measures the decoder alone.
var scratch struct {
	login  Login
	no     NewOrder
	cx     Cancel
	rp     Replace
	la     LoginAccepted
	ack    OrderAck
	rej    Reject
	sub    Subscribe
	unsub  Unsubscribe
	res    Resume
	subd   Subscribed
	subr   SubRejected
	trade  Trade
	upd    BookUpdate
	bbo    BBO
	ev     OrderEvent
	done   ResumeDone
	snap   BookSnapshot
	reason uint16
}

func decodeOnly(f []byte) (uint16, error) {
	s := &scratch
	var err error
	switch Type(f) {
	case TypeLogin:
		err = DecodeLogin(f, &s.login)
	case TypeNewOrder:
		err = DecodeNewOrder(f, &s.no)
	case TypeCancel:
		err = DecodeCancel(f, &s.cx)
	case TypeReplace:
		err = DecodeReplace(f, &s.rp)
	case TypeHeartbeat:
		err = DecodeHeartbeat(f)
	case TypeLogout:
		s.reason, err = DecodeLogout(f)
	case TypeLoginAccepted:
		err = DecodeLoginAccepted(f, &s.la)
	case TypeLoginRejected:
		s.reason, err = DecodeLoginRejected(f)
	case TypeOrderAck:
		err = DecodeOrderAck(f, &s.ack)
	case TypeReject:
		err = DecodeReject(f, &s.rej)
	case TypeSubscribe:
		err = DecodeSubscribe(f, &s.sub)
	case TypeUnsubscribe:
		err = DecodeUnsubscribe(f, &s.unsub)
	case TypeResume:
		err = DecodeResume(f, &s.res)
	case TypeSubscribed:
		err = DecodeSubscribed(f, &s.subd)
	case TypeSubRejected:
		err = DecodeSubRejected(f, &s.subr)
	case TypeTrade:
		err = DecodeTrade(f, &s.trade)
	case TypeBookUpdate:
		err = DecodeBookUpdate(f, &s.upd)
	case TypeBBO:
		err = DecodeBBO(f, &s.bbo)
	case TypeOrderEvent:
		err = DecodeOrderEvent(f, &s.ev)
	case TypeResumeDone:
		err = DecodeResumeDone(f, &s.done)
	case TypeBookSnapshot:
		err = DecodeBookSnapshot(f, &s.snap)
	default:
		err = ErrUnknownType
	}
	return s.reason, err
}
