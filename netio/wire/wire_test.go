package wire

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
)

// roundTrip encodes every message type with random field values, decodes,
// re-encodes and compares: a field at a wrong offset or of a wrong size in
// either direction shows up as a difference.
func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	i64 := func() int64 { return int64(rng.Uint64()) }
	u8 := func() uint8 { return uint8(rng.Uint32()) }
	sym := func() Symbol { return MakeSymbol([]string{"BTC-USD", "ETH", "ABCDEFGH", ""}[rng.IntN(4)]) }
	for range 2000 {
		var lg Login
		lg.Version = uint16(rng.Uint32())
		lg.SetUser("alice")
		lg.SetKey("key-" + string(rune('a'+rng.IntN(26))))
		check(t, AppendLogin(nil, &lg), func(f []byte) []byte {
			var m Login
			must(t, DecodeLogin(f, &m))
			return AppendLogin(nil, &m)
		})
		no := NewOrder{rng.Uint64(), sym(), u8(), u8(), u8(), rng.IntN(2) == 1, u8(), i64(), i64()}
		check(t, AppendNewOrder(nil, &no), func(f []byte) []byte {
			var m NewOrder
			must(t, DecodeNewOrder(f, &m))
			if m != no {
				t.Fatalf("NewOrder: %+v != %+v", m, no)
			}
			return AppendNewOrder(nil, &m)
		})
		cx := Cancel{rng.Uint64(), sym(), rng.Uint64()}
		check(t, AppendCancel(nil, &cx), func(f []byte) []byte {
			var m Cancel
			must(t, DecodeCancel(f, &m))
			return AppendCancel(nil, &m)
		})
		rp := Replace{rng.Uint64(), sym(), rng.Uint64(), i64(), i64()}
		check(t, AppendReplace(nil, &rp), func(f []byte) []byte {
			var m Replace
			must(t, DecodeReplace(f, &m))
			if m != rp {
				t.Fatalf("Replace: %+v != %+v", m, rp)
			}
			return AppendReplace(nil, &m)
		})
		la := LoginAccepted{rng.Uint32(), i64()}
		check(t, AppendLoginAccepted(nil, &la), func(f []byte) []byte {
			var m LoginAccepted
			must(t, DecodeLoginAccepted(f, &m))
			return AppendLoginAccepted(nil, &m)
		})
		ack := OrderAck{rng.Uint64(), rng.Uint64(), rng.Uint64(), i64()}
		check(t, AppendOrderAck(nil, &ack), func(f []byte) []byte {
			var m OrderAck
			must(t, DecodeOrderAck(f, &m))
			if m != ack {
				t.Fatalf("OrderAck: %+v != %+v", m, ack)
			}
			return AppendOrderAck(nil, &m)
		})
		code := RejectReasons()[rng.IntN(len(RejectReasons()))]
		check(t, AppendReject(nil, 42, code), func(f []byte) []byte {
			var m Reject
			must(t, DecodeReject(f, &m))
			if m.Reason != code || m.TextString() != ReasonText(code) || m.ClientOrderID != 42 {
				t.Fatalf("Reject: %+v", m)
			}
			return AppendReject(nil, m.ClientOrderID, m.Reason)
		})
		tr := Trade{sym(), rng.Uint64(), rng.Uint64(), i64(), i64(), u8(), i64()}
		check(t, AppendTrade(nil, &tr), func(f []byte) []byte {
			var m Trade
			must(t, DecodeTrade(f, &m))
			if m != tr {
				t.Fatalf("Trade: %+v != %+v", m, tr)
			}
			return AppendTrade(nil, &m)
		})
		bu := BookUpdate{sym(), rng.Uint64(), u8(), i64(), i64(), rng.Uint32()}
		check(t, AppendBookUpdate(nil, &bu), func(f []byte) []byte {
			var m BookUpdate
			must(t, DecodeBookUpdate(f, &m))
			if m != bu {
				t.Fatalf("BookUpdate: %+v != %+v", m, bu)
			}
			return AppendBookUpdate(nil, &m)
		})
		bbo := BBO{sym(), rng.Uint64(), i64(), i64(), i64(), i64()}
		check(t, AppendBBO(nil, &bbo), func(f []byte) []byte {
			var m BBO
			must(t, DecodeBBO(f, &m))
			return AppendBBO(nil, &m)
		})
		oe := OrderEvent{sym(), rng.Uint64(), u8(), u8(), u8(), rng.Uint64(), rng.Uint64(), i64(), i64(), i64(), i64()}
		check(t, AppendOrderEvent(nil, &oe), func(f []byte) []byte {
			var m OrderEvent
			must(t, DecodeOrderEvent(f, &m))
			if m != oe {
				t.Fatalf("OrderEvent: %+v != %+v", m, oe)
			}
			return AppendOrderEvent(nil, &m)
		})
		var bids, asks []Level
		for range rng.IntN(20) {
			bids = append(bids, Level{i64(), i64(), rng.Uint32()})
		}
		for range rng.IntN(20) {
			asks = append(asks, Level{i64(), i64(), rng.Uint32()})
		}
		s := sym()
		check(t, AppendBookSnapshot(nil, s, 9, bids, asks), func(f []byte) []byte {
			var m BookSnapshot
			must(t, DecodeBookSnapshot(f, &m))
			return AppendBookSnapshot(nil, m.Symbol, m.Seq, m.Bids, m.Asks)
		})
		sub := Subscribe{sym(), u8(), uint16(rng.Uint32())}
		check(t, AppendSubscribe(nil, &sub), func(f []byte) []byte {
			var m Subscribe
			must(t, DecodeSubscribe(f, &m))
			return AppendSubscribe(nil, &m)
		})
		rs := Resume{sym(), rng.Uint64()}
		check(t, AppendResume(nil, &rs), func(f []byte) []byte {
			var m Resume
			must(t, DecodeResume(f, &m))
			return AppendResume(nil, &m)
		})
	}
}

func check(t *testing.T, frame []byte, redo func([]byte) []byte) {
	t.Helper()
	f, n, err := NextFrame(frame, MaxFrame)
	if err != nil || n != len(frame) {
		t.Fatalf("NextFrame on a whole frame: n=%d of %d, err=%v", n, len(frame), err)
	}
	if got := redo(f); !bytes.Equal(got, frame) {
		t.Fatalf("type %c: re-encoded % x, want % x", frame[2], got, frame)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestNextFrame(t *testing.T) {
	hb := AppendHeartbeat(nil)
	two := append(AppendHeartbeat(nil), AppendLogout(nil, 3)...)
	tests := []struct {
		name    string
		in      []byte
		wantN   int
		wantErr error
	}{
		{"empty", nil, 0, nil},
		{"one byte", []byte{0}, 0, nil},
		{"zero length", []byte{0, 0, 'H'}, 0, ErrFrameTooShort},
		{"too long", []byte{0xff, 0xff}, 0, ErrFrameTooLong},
		{"partial body", []byte{0, 5, 'Z', 0}, 0, nil},
		{"heartbeat", hb, 3, nil},
		{"two frames", two, 3, nil},
	}
	for _, tc := range tests {
		_, n, err := NextFrame(tc.in, MaxInboundFrame)
		if n != tc.wantN || !errors.Is(err, tc.wantErr) {
			t.Errorf("%s: n=%d err=%v, want n=%d err=%v", tc.name, n, err, tc.wantN, tc.wantErr)
		}
	}
}

func TestWrongLength(t *testing.T) {
	f := AppendNewOrder(nil, &NewOrder{})
	short := append([]byte{0, byte(len(f) - 3), f[2]}, f[3:len(f)-1]...)
	var m NewOrder
	if err := DecodeNewOrder(short, &m); !errors.Is(err, ErrBadLength) {
		t.Fatalf("short NewOrder: %v, want ErrBadLength", err)
	}
	bad := append([]byte(nil), f...)
	bad[3+19] = 7 // post-only must be 0 or 1
	if err := DecodeNewOrder(bad, &m); !errors.Is(err, ErrBadValue) {
		t.Fatalf("post-only 7: %v, want ErrBadValue", err)
	}
	var snap BookSnapshot
	if err := DecodeBookSnapshot([]byte{0, 1, 'W'}, &snap); !errors.Is(err, ErrBadLength) {
		t.Fatalf("empty snapshot: %v", err)
	}
}

func TestSymbol(t *testing.T) {
	if s := MakeSymbol("BTC"); s.String() != "BTC" || s[7] != ' ' {
		t.Fatalf("MakeSymbol: %q", s[:])
	}
}

func TestEveryReasonHasText(t *testing.T) {
	for _, c := range RejectReasons() {
		txt := ReasonText(c)
		if txt == "unknown reason" || len(txt) > RejectTextLen {
			t.Errorf("reason %d: text %q", c, txt)
		}
	}
}

// decodeAny decodes a frame by its type, as a server would.
func decodeAny(f []byte) error {
	switch Type(f) {
	case TypeLogin:
		var m Login
		return DecodeLogin(f, &m)
	case TypeNewOrder:
		var m NewOrder
		return DecodeNewOrder(f, &m)
	case TypeCancel:
		var m Cancel
		return DecodeCancel(f, &m)
	case TypeReplace:
		var m Replace
		return DecodeReplace(f, &m)
	case TypeLogout:
		_, err := DecodeLogout(f)
		return err
	case TypeSubscribe:
		var m Subscribe
		return DecodeSubscribe(f, &m)
	case TypeUnsubscribe:
		var m Unsubscribe
		return DecodeUnsubscribe(f, &m)
	case TypeResume:
		var m Resume
		return DecodeResume(f, &m)
	case TypeBookSnapshot:
		var m BookSnapshot
		return DecodeBookSnapshot(f, &m)
	case TypeOrderEvent:
		var m OrderEvent
		return DecodeOrderEvent(f, &m)
	case TypeHeartbeat:
		return nil
	}
	return ErrUnknownType
}

// FuzzDecode feeds arbitrary byte streams through the frame splitter and
// the decoders: nothing may panic, and a frame that decodes must re-encode
// to the same bytes.
func FuzzDecode(f *testing.F) {
	f.Add(AppendNewOrder(nil, &NewOrder{ClientOrderID: 1, Symbol: MakeSymbol("BTC-USD"), Side: 1, Type: 1, TIF: 1, Price: 100, Qty: 1}))
	f.Add(append(AppendHeartbeat(nil), AppendCancel(nil, &Cancel{})...))
	f.Add(AppendBookSnapshot(nil, MakeSymbol("X"), 1, []Level{{1, 2, 3}}, nil))
	f.Add([]byte{0xff, 0xff, 'O'})
	f.Fuzz(func(t *testing.T, data []byte) {
		for len(data) > 0 {
			frame, n, err := NextFrame(data, MaxFrame)
			if err != nil || n == 0 {
				return
			}
			data = data[n:]
			if decodeAny(frame) != nil {
				continue
			}
			switch Type(frame) {
			case TypeNewOrder:
				var m NewOrder
				DecodeNewOrder(frame, &m)
				if got := AppendNewOrder(nil, &m); !bytes.Equal(got, frame) {
					t.Fatalf("NewOrder re-encodes to % x, want % x", got, frame)
				}
			case TypeBookSnapshot:
				var m BookSnapshot
				DecodeBookSnapshot(frame, &m)
				if got := AppendBookSnapshot(nil, m.Symbol, m.Seq, m.Bids, m.Asks); !bytes.Equal(got, frame) {
					t.Fatalf("snapshot re-encodes differently")
				}
			}
		}
	})
}

func BenchmarkEncodeDecode(b *testing.B) {
	b.ReportAllocs()
	buf := make([]byte, 0, 256)
	no := NewOrder{ClientOrderID: 1, Symbol: MakeSymbol("BTC-USD"), Side: 1, Type: 1, TIF: 1, Price: 100, Qty: 1}
	var m NewOrder
	var ack OrderAck
	for b.Loop() {
		buf = AppendNewOrder(buf[:0], &no)
		frame, _, _ := NextFrame(buf, MaxInboundFrame)
		if err := DecodeNewOrder(frame, &m); err != nil {
			b.Fatal(err)
		}
		buf = AppendOrderAck(buf[:0], &OrderAck{ClientOrderID: m.ClientOrderID, OrderID: 2, Seq: 3})
		DecodeOrderAck(buf, &ack)
	}
}

// BenchmarkDecode decodes one NewOrder frame in place, as the gateway does
// per message.
func BenchmarkDecode(b *testing.B) {
	b.ReportAllocs()
	buf := AppendNewOrder(nil, &NewOrder{ClientOrderID: 1, Symbol: MakeSymbol("BTC-USD"), Side: 1, Type: 1, TIF: 1, Price: 100, Qty: 1})
	buf = append(buf, buf...)
	var m NewOrder
	for b.Loop() {
		for off := 0; off < len(buf); {
			frame, n, err := NextFrame(buf[off:], MaxInboundFrame)
			if err != nil || n == 0 {
				b.Fatal("bad frame")
			}
			if err := DecodeNewOrder(frame, &m); err != nil {
				b.Fatal(err)
			}
			off += n
		}
	}
	b.ReportMetric(2, "msgs/op")
}
