package wire

import (
	"bytes"
	"errors"
	"math/rand"
	"reflect"
	"testing"
	"testing/quick"
)

// codec is one message type as the tests see it: a random valid frame and
// a decode that re-encodes what it decoded. Every message type is in
// codecs, which the round-trip, malformed-frame, fuzz and spec tests share.
type codec struct {
	name string
	typ  byte
	// sample returns a valid frame with random field values and the value
	// it encodes.
	sample func(r *rand.Rand) (frame []byte, value any)
	// redo decodes frame and encodes the result again; value is what it
	// decoded.
	redo func(frame []byte) (again []byte, value any, err error)
}

// fixed builds the codec of a fixed-length message from its encoder and
// decoder. Values are drawn by testing/quick, so every field takes values
// across its whole range, sign bits and padding bytes included.
func fixed[T comparable](name string, typ byte, app func([]byte, *T) []byte, dec func([]byte, *T) error) codec {
	return codec{
		name: name,
		typ:  typ,
		sample: func(r *rand.Rand) ([]byte, any) {
			v, ok := quick.Value(reflect.TypeFor[T](), r)
			if !ok {
				panic("quick.Value: " + name)
			}
			m := v.Interface().(T)
			return app(nil, &m), m
		},
		redo: func(frame []byte) ([]byte, any, error) {
			var m T
			if err := dec(frame, &m); err != nil {
				return nil, nil, err
			}
			return app(nil, &m), m, nil
		},
	}
}

// Adapters for the messages whose codec takes or returns a plain value.
type (
	heartbeat     struct{}
	logout        struct{ Reason uint16 }
	loginRejected struct{ Reason uint16 }
)

var codecs = []codec{
	fixed("Login", TypeLogin, AppendLogin, DecodeLogin),
	fixed("NewOrder", TypeNewOrder, AppendNewOrder, DecodeNewOrder),
	fixed("Cancel", TypeCancel, AppendCancel, DecodeCancel),
	fixed("Replace", TypeReplace, AppendReplace, DecodeReplace),
	fixed("Heartbeat", TypeHeartbeat,
		func(dst []byte, _ *heartbeat) []byte { return AppendHeartbeat(dst) },
		func(f []byte, _ *heartbeat) error { return DecodeHeartbeat(f) }),
	fixed("Logout", TypeLogout,
		func(dst []byte, m *logout) []byte { return AppendLogout(dst, m.Reason) },
		func(f []byte, m *logout) (err error) { m.Reason, err = DecodeLogout(f); return err }),
	fixed("LoginAccepted", TypeLoginAccepted, AppendLoginAccepted, DecodeLoginAccepted),
	fixed("LoginRejected", TypeLoginRejected,
		func(dst []byte, m *loginRejected) []byte { return AppendLoginRejected(dst, m.Reason) },
		func(f []byte, m *loginRejected) (err error) { m.Reason, err = DecodeLoginRejected(f); return err }),
	fixed("OrderAck", TypeOrderAck, AppendOrderAck, DecodeOrderAck),
	fixed("Reject", TypeReject, AppendRejectMessage, DecodeReject),
	fixed("Subscribe", TypeSubscribe, AppendSubscribe, DecodeSubscribe),
	fixed("Unsubscribe", TypeUnsubscribe, AppendUnsubscribe, DecodeUnsubscribe),
	fixed("Resume", TypeResume, AppendResume, DecodeResume),
	fixed("Subscribed", TypeSubscribed, AppendSubscribed, DecodeSubscribed),
	fixed("SubRejected", TypeSubRejected, AppendSubRejected, DecodeSubRejected),
	fixed("Trade", TypeTrade, AppendTrade, DecodeTrade),
	fixed("BookUpdate", TypeBookUpdate, AppendBookUpdate, DecodeBookUpdate),
	fixed("BBO", TypeBBO, AppendBBO, DecodeBBO),
	fixed("OrderEvent", TypeOrderEvent, AppendOrderEvent, DecodeOrderEvent),
	fixed("ResumeDone", TypeResumeDone, AppendResumeDone, DecodeResumeDone),
	{
		name: "BookSnapshot",
		typ:  TypeBookSnapshot,
		sample: func(r *rand.Rand) ([]byte, any) {
			m := BookSnapshot{Seq: r.Uint64(), Bids: levels(r), Asks: levels(r)}
			r.Read(m.Symbol[:])
			return AppendBookSnapshot(nil, m.Symbol, m.Seq, m.Bids, m.Asks), m
		},
		redo: func(frame []byte) ([]byte, any, error) {
			var m BookSnapshot
			if err := DecodeBookSnapshot(frame, &m); err != nil {
				return nil, nil, err
			}
			return AppendBookSnapshot(nil, m.Symbol, m.Seq, m.Bids, m.Asks), m, nil
		},
	},
}

// levels returns a random side of a snapshot: often empty, sometimes deep.
func levels(r *rand.Rand) []Level {
	n := r.Intn(8)
	if r.Intn(8) == 0 {
		n = r.Intn(300)
	}
	var ls []Level
	for range n {
		ls = append(ls, Level{Price: int64(r.Uint64()), Qty: int64(r.Uint64()), Count: r.Uint32()})
	}
	return ls
}

func codecOf(typ byte) *codec {
	for i := range codecs {
		if codecs[i].typ == typ {
			return &codecs[i]
		}
	}
	return nil
}

// TestRoundTrip is the property every codec keeps: for random values,
// decode(encode(v)) == v and encode(decode(f)) == f, the frame is whole
// (NextFrame takes all of it), of its type's length, and passes Check.
func TestRoundTrip(t *testing.T) {
	n := 2000
	if testing.Short() {
		n = 300
	}
	r := rand.New(rand.NewSource(1))
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			for range n {
				frame, v := c.sample(r)
				f, k, err := NextFrame(frame, MaxFrame)
				if err != nil || k != len(frame) || len(f) != len(frame) {
					t.Fatalf("NextFrame on a whole frame: n=%d of %d, err=%v", k, len(frame), err)
				}
				if Type(f) != c.typ {
					t.Fatalf("type %q, want %q", Type(f), c.typ)
				}
				if body, isFixed, _ := BodyLen(c.typ); isFixed && len(f) != HeaderLen+body {
					t.Fatalf("frame of %d bytes, want %d", len(f), HeaderLen+body)
				}
				if err := Check(f); err != nil {
					t.Fatalf("Check: %v", err)
				}
				again, got, err := c.redo(f)
				if err != nil {
					t.Fatalf("decode % x: %v", f, err)
				}
				if !reflect.DeepEqual(normalize(got), normalize(v)) {
					t.Fatalf("decoded %+v, encoded %+v", got, v)
				}
				if !bytes.Equal(again, frame) {
					t.Fatalf("re-encoded\n% x\nwant\n% x", again, frame)
				}
			}
		})
	}
}

// normalize makes an empty snapshot side compare equal to a nil one.
func normalize(v any) any {
	if s, ok := v.(BookSnapshot); ok {
		if len(s.Bids) == 0 {
			s.Bids = nil
		}
		if len(s.Asks) == 0 {
			s.Asks = nil
		}
		return s
	}
	return v
}

// TestConcatenated checks that a stream of many frames of every type,
// delivered in chunks of every size, splits back into the same frames: a
// reader that keeps a partial frame and waits for the rest loses nothing.
func TestConcatenated(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	var stream []byte
	var frames [][]byte
	for range 200 {
		f, _ := codecs[r.Intn(len(codecs))].sample(r)
		stream = append(stream, f...)
		frames = append(frames, f)
	}
	for _, chunk := range []int{1, 2, 3, 7, 64, 1500, len(stream)} {
		var pending []byte
		got := 0
		for off := 0; off < len(stream); off += chunk {
			pending = append(pending, stream[off:min(off+chunk, len(stream))]...)
			for {
				f, n, err := NextFrame(pending, MaxFrame)
				if err != nil {
					t.Fatalf("chunk %d: %v", chunk, err)
				}
				if n == 0 {
					break
				}
				if !bytes.Equal(f, frames[got]) {
					t.Fatalf("chunk %d: frame %d is % x, want % x", chunk, got, f, frames[got])
				}
				got++
				pending = pending[n:]
			}
		}
		if got != len(frames) || len(pending) != 0 {
			t.Fatalf("chunk %d: %d frames of %d, %d bytes left", chunk, got, len(frames), len(pending))
		}
	}
}

func TestEveryTypeHasACodec(t *testing.T) {
	seen := map[byte]string{}
	for c := byte(0); ; c++ {
		if _, _, ok := BodyLen(c); ok {
			if codecOf(c) == nil {
				t.Errorf("type %q has a length but no codec in the tests", c)
			}
			seen[c] = string(c)
		}
		if c == 255 {
			break
		}
	}
	if len(seen) != len(codecs) {
		t.Errorf("%d types have lengths, %d codecs", len(seen), len(codecs))
	}
}

func TestRejectStandardText(t *testing.T) {
	for _, code := range RejectReasons() {
		f := AppendReject(nil, 42, code)
		var m Reject
		if err := DecodeReject(f, &m); err != nil {
			t.Fatal(err)
		}
		if m.ClientOrderID != 42 || m.Reason != code || m.TextString() != ReasonText(code) {
			t.Errorf("reject %d: %+v text %q", code, m, m.TextString())
		}
	}
}

func TestReasonTexts(t *testing.T) {
	lists := []struct {
		name  string
		codes []uint16
		text  func(uint16) string
		max   int
	}{
		{"reject", RejectReasons(), ReasonText, RejectTextLen},
		{"login", LoginReasons(), LoginText, 64},
		{"logout", LogoutReasons(), LogoutText, 64},
		{"subscription", SubReasons(), SubText, 64},
		{"cancel", u8s(CancelReasons()), func(c uint16) string { return CancelText(uint8(c)) }, 64},
	}
	for _, l := range lists {
		texts := map[string]uint16{}
		for i, c := range l.codes {
			if i > 0 && c <= l.codes[i-1] {
				t.Errorf("%s codes not increasing at %d", l.name, c)
			}
			txt := l.text(c)
			if txt == "unknown reason" || txt == "" || len(txt) > l.max {
				t.Errorf("%s reason %d: text %q", l.name, c, txt)
			}
			if other, dup := texts[txt]; dup {
				t.Errorf("%s reasons %d and %d share the text %q", l.name, other, c, txt)
			}
			texts[txt] = c
		}
		if l.text(9999) != "unknown reason" {
			t.Errorf("%s: code 9999 has a text", l.name)
		}
	}
}

func u8s(b []uint8) []uint16 {
	out := make([]uint16, len(b))
	for i, c := range b {
		out[i] = uint16(c)
	}
	return out
}

func TestSymbol(t *testing.T) {
	tests := []struct {
		in    string
		wire  string
		valid bool
	}{
		{"BTC", "BTC     ", true},
		{"BTC-USD", "BTC-USD ", true},
		{"ABCDEFGH", "ABCDEFGH", true},
		{"ABCDEFGHIJ", "ABCDEFGH", true}, // cut
		{"", "        ", false},
		{" BTC", " BTC    ", false}, // not left-aligned
		{"BT C", "BT C    ", false}, // a space inside
		{"BTC\x00", "BTC\x00    ", false},
		{"\xffBC", "\xffBC     ", false},
	}
	for _, tc := range tests {
		s := MakeSymbol(tc.in)
		if string(s[:]) != tc.wire {
			t.Errorf("MakeSymbol(%q) = %q, want %q", tc.in, s[:], tc.wire)
		}
		if s != SymbolFromBytes([]byte(tc.in)) {
			t.Errorf("SymbolFromBytes(%q) differs from MakeSymbol", tc.in)
		}
		if s.Valid() != tc.valid {
			t.Errorf("%q.Valid() = %v, want %v", tc.wire, s.Valid(), tc.valid)
		}
		if tc.valid {
			want := tc.in[:min(len(tc.in), SymbolLen)]
			if s.String() != want || string(s.Bytes()) != want || MakeSymbol(s.String()) != s {
				t.Errorf("%q: String %q Bytes %q, want %q", tc.wire, s.String(), s.Bytes(), want)
			}
		}
	}
}

func TestLoginText(t *testing.T) {
	var m Login
	m.SetUser("alice")
	m.SetKey("k3y")
	f := AppendLogin(nil, &m)
	want := "alice           " + "k3y" + string(bytes.Repeat([]byte(" "), 29))
	if string(f[5:]) != want {
		t.Fatalf("login body %q, want %q", f[5:], want)
	}
	var got Login
	if err := DecodeLogin(f, &got); err != nil || got.UserName() != "alice" || string(got.KeyBytes()) != "k3y" {
		t.Fatalf("decoded %q %q, %v", got.UserName(), got.KeyBytes(), err)
	}
}

func TestPostOnlyMustBeZeroOrOne(t *testing.T) {
	f := AppendNewOrder(nil, &NewOrder{ClientOrderID: 9, PostOnly: true})
	for v := range 256 {
		f[HeaderLen+19] = byte(v)
		var m NewOrder
		err := DecodeNewOrder(f, &m)
		if v <= 1 && (err != nil || m.PostOnly != (v == 1)) {
			t.Fatalf("post-only %d: %v %v", v, err, m.PostOnly)
		}
		if v > 1 && (!errors.Is(err, ErrBadValue) || m.ClientOrderID != 9) {
			t.Fatalf("post-only %d: %v, client order id %d: want ErrBadValue and the id", v, err, m.ClientOrderID)
		}
	}
}
