package fanout

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ringex/ringex/netio/wire"
)

// TestTallyAgainstStream: a subscriber that starts anywhere in the stream
// passes with exactly the reference's suffix, in order, and each way of
// getting it wrong is caught.
func TestTallyAgainstStream(t *testing.T) {
	ref := NewStream()
	trades := make([]wire.Trade, 0, 20)
	for i := range 20 {
		tr := wire.Trade{Seq: uint64(10 + 3*i), Price: 100 + int64(i%4), Qty: 5, Aggressor: 1}
		trades = append(trades, tr)
		ref.Add(tr.Seq, TradeKey(&tr))
	}
	for _, tc := range []struct {
		name    string
		start   uint64
		mangle  func([]wire.Trade) []wire.Trade
		missing int
		differ  bool
		back    bool
	}{
		{name: "from the first", start: 0},
		{name: "from the middle", start: 31},
		{name: "after the last", start: 100},
		{name: "one missing", start: 0, missing: 1, mangle: func(ts []wire.Trade) []wire.Trade {
			return append(ts[:5:5], ts[6:]...)
		}},
		{name: "one twice", start: 0, missing: -1, back: true, mangle: func(ts []wire.Trade) []wire.Trade {
			return append(ts[:6:6], ts[5:]...)
		}},
		{name: "two swapped", start: 0, back: true, mangle: func(ts []wire.Trade) []wire.Trade {
			ts[3], ts[4] = ts[4], ts[3]
			return ts
		}},
		{name: "a wrong price", start: 0, differ: true, mangle: func(ts []wire.Trade) []wire.Trade {
			ts[7].Price++
			return ts
		}},
		{name: "one before its start", start: 31, back: true, mangle: func(ts []wire.Trade) []wire.Trade {
			return ts // all of them, from before the subscription on
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := append([]wire.Trade(nil), trades...)
			if tc.mangle != nil {
				got = tc.mangle(got)
			} else {
				i := 0
				for i < len(got) && got[i].Seq <= tc.start {
					i++
				}
				got = got[i:]
			}
			var tl Tally
			tl.Begin(tc.start, true)
			for i := range got {
				tl.Add(got[i].Seq, TradeKey(&got[i]))
			}
			missing, differ := tl.Against(ref)
			if tc.name == "one before its start" {
				missing = 0 // it has 20 for the reference's 13: what matters is Back
			}
			if missing != tc.missing || differ != tc.differ || (tl.Back > 0) != tc.back {
				t.Fatalf("missing %d, differ %v, back %d; want %d, %v, back %v", missing, differ, tl.Back, tc.missing, tc.differ, tc.back)
			}
		})
	}
}

// TestOrderEventsShareSequences: the two fills of one trade carry its
// sequence; the tally of a private stream accepts that but not a
// sequence that goes back.
func TestOrderEventsShareSequences(t *testing.T) {
	var tl Tally
	tl.Begin(0, false)
	tl.Add(5, 1)
	tl.Add(5, 2)
	tl.Add(7, 3)
	if tl.Back != 0 {
		t.Fatalf("back %d after 5, 5, 7", tl.Back)
	}
	tl.Add(6, 4)
	if tl.Back != 1 {
		t.Fatalf("back %d after 5, 5, 7, 6", tl.Back)
	}
}

func TestBookDiff(t *testing.T) {
	build := func(updates ...wire.BookUpdate) *Book {
		b := new(Book)
		b.Reset(0)
		b.Snapshot(&wire.BookSnapshot{Seq: 1, Bids: []wire.Level{{Price: 99, Qty: 3, Count: 1}}, Asks: []wire.Level{{Price: 101, Qty: 2, Count: 1}}})
		for i := range updates {
			b.Update(&updates[i])
		}
		return b
	}
	want := build(wire.BookUpdate{Seq: 2, Side: 2, Price: 102, Qty: 4, Count: 2}, wire.BookUpdate{Seq: 3, Side: 1, Price: 99, Qty: 0})
	if d := build(wire.BookUpdate{Seq: 2, Side: 2, Price: 102, Qty: 4, Count: 2}, wire.BookUpdate{Seq: 3, Side: 1, Price: 99, Qty: 0}).Diff(want); d != "" {
		t.Fatalf("equal books differ: %s", d)
	}
	missed := build(wire.BookUpdate{Seq: 2, Side: 2, Price: 102, Qty: 4, Count: 2}) // the removal of bid 99 lost
	if d := missed.Diff(want); !strings.Contains(d, "bid 99") {
		t.Fatalf("a lost removal: diff %q", d)
	}
	wrong := build(wire.BookUpdate{Seq: 2, Side: 2, Price: 102, Qty: 5, Count: 2}, wire.BookUpdate{Seq: 3, Side: 1, Price: 99, Qty: 0})
	if d := wrong.Diff(want); !strings.Contains(d, "ask 102") {
		t.Fatalf("a wrong quantity: diff %q", d)
	}
	back := build(wire.BookUpdate{Seq: 3, Side: 1, Price: 99, Qty: 0}, wire.BookUpdate{Seq: 2, Side: 2, Price: 102, Qty: 4, Count: 2})
	if back.Back != 1 {
		t.Fatalf("an update whose sequence went back: Back %d", back.Back)
	}
}

// TestVerify: Verify counts each kind of fault of each kind of subscriber.
func TestVerify(t *testing.T) {
	m := NewMix([]string{"AAA", "BBB"}, []string{"p"})
	trades := []*Stream{NewStream(), NewStream()}
	orders := map[string][]*Stream{"u": {NewStream(), NewStream()}}
	for i := range 5 {
		trades[0].Add(uint64(i+1), uint64(100+i))
		orders["u"][1].Add(uint64(i+1), uint64(200+i))
	}
	book := new(Book)
	book.Reset(5)
	books := []*Book{book, book}
	good := func() *MixSub {
		s := &MixSub{m: m, Asset: 0}
		s.Trades.Begin(2, true)
		s.Book.Reset(2)
		for i := 2; i < 5; i++ {
			s.Trades.Add(uint64(i+1), uint64(100+i))
		}
		return s
	}
	priv := func() *MixSub {
		s := &MixSub{m: m, User: "u", Orders: make([]Tally, 2)}
		for a := range s.Orders {
			s.Orders[a].Begin(0, false)
		}
		for i := range 5 {
			s.Orders[1].Add(uint64(i+1), uint64(200+i))
		}
		return s
	}
	if v := Verify([]*MixSub{good(), priv()}, trades, orders, books); !v.OK() || v.Public != 1 || v.Private != 1 {
		t.Fatalf("good subscribers: %+v", v)
	}
	short := good()
	short.Trades.Count--
	longer := priv()
	longer.Orders[1].Add(6, 1)
	badBook := good()
	badBook.Book.Bids[5] = wire.Level{Price: 5, Qty: 1, Count: 1}
	v := Verify([]*MixSub{short, longer, badBook}, trades, orders, books)
	if v.Missing != 1 || v.Extra != 1 || v.BookDiffer != 1 || v.OK() {
		t.Fatalf("faulty subscribers: %+v", v)
	}
}

// TestPrivateEventsBetweenSubscriptions: a private subscriber subscribes
// to several assets at once, and the server may send an order event of
// the first before the Subscribed of the next; the subscriber must count
// it (reading only up to the last Subscribed before starting the reader
// lost it).
func TestPrivateEventsBetweenSubscriptions(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 4096)
		c.Read(buf) // the login and the subscriptions
		var out []byte
		out = wire.AppendLoginAccepted(out, &wire.LoginAccepted{})
		out = wire.AppendSubscribed(out, &wire.Subscribed{Symbol: wire.MakeSymbol("AAA"), Channels: wire.ChanOrders, Seq: 5})
		out = wire.AppendOrderEvent(out, &wire.OrderEvent{Symbol: wire.MakeSymbol("AAA"), Seq: 6, Kind: wire.OrderAccepted, OrderID: 1})
		out = wire.AppendSubscribed(out, &wire.Subscribed{Symbol: wire.MakeSymbol("BBB"), Channels: wire.ChanOrders, Seq: 6})
		out = wire.AppendOrderEvent(out, &wire.OrderEvent{Symbol: wire.MakeSymbol("AAA"), Seq: 7, Kind: wire.OrderAccepted, OrderID: 2})
		c.Write(out)
		c.Read(buf) // until the subscriber closes
	}()
	m := NewMix([]string{"AAA", "BBB"}, []string{"p"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := m.DialPrivate(ctx, ln.Addr().String(), "u", "k", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	for !s.Reached(0, 7) {
		if ctx.Err() != nil {
			t.Fatal("the second event never came")
		}
		time.Sleep(time.Millisecond)
	}
	s.Close()
	if got := s.Orders[0].Count; got != 2 || s.Err != nil {
		t.Fatalf("%d order events of AAA counted (err %v), want 2", got, s.Err)
	}
}
