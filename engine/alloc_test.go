package engine

import "testing"

// TestSubmitAllocs: Submit allocates nothing in steady state, for every
// order type and command: a resting limit order and its cancel, IOC, FOK
// and market orders that trade, post-only, both kinds of replace, each
// self-trade prevention mode and a refused command. Each case leaves the
// book as it found it, so the book's storage does not grow between runs.
// (Skipped under -race, whose instrumentation allocates; make test runs it
// without.)
func TestSubmitAllocs(t *testing.T) {
	if raceEnabled || testing.CoverMode() != "" {
		t.Skip("allocation counts are not meaningful under -race or -cover")
	}
	b := NewBook(AssetConfig{Symbol: "A", TickSize: 1, LotSize: 1, MinPrice: 1, MaxPrice: 1 << 20, MaxQty: 1 << 30})
	id := uint64(0)
	next := func() uint64 { id++; return id }
	// A deep book on both sides that the cases trade around.
	for i := range int64(200) {
		c := Command{Kind: CmdNew, OrderID: next(), UserID: 9, Side: Buy, Type: Limit, TIF: GTC, Price: 1000 - i, Qty: 100}
		b.Submit(&c)
		c = Command{Kind: CmdNew, OrderID: next(), UserID: 9, Side: Sell, Type: Limit, TIF: GTC, Price: 2000 + i, Qty: 100}
		b.Submit(&c)
	}
	submit := func(c Command) { b.Submit(&c) }
	rest := func(user uint32, side Side, price, qty int64) uint64 {
		oid := next()
		submit(Command{Kind: CmdNew, OrderID: oid, UserID: user, Side: side, Type: Limit, TIF: GTC, Price: price, Qty: qty})
		return oid
	}
	take := func(user uint32, side Side, typ OrderType, tif TimeInForce, stp STPMode, price, qty int64) {
		submit(Command{Kind: CmdNew, OrderID: next(), UserID: user, Side: side, Type: typ, TIF: tif, STP: stp, Price: price, Qty: qty})
	}
	cases := []struct {
		name string
		run  func()
	}{
		{"limit GTC rests, then cancel", func() {
			oid := rest(1, Buy, 1500, 10)
			submit(Command{Kind: CmdCancel, OrderID: oid, UserID: 1})
		}},
		{"limit IOC trades", func() {
			rest(1, Sell, 1500, 10)
			take(2, Buy, Limit, IOC, 0, 1500, 10)
		}},
		{"limit GTC trades in full", func() {
			rest(1, Sell, 1500, 10)
			take(2, Buy, Limit, GTC, 0, 1500, 10)
		}},
		{"FOK fills", func() {
			rest(1, Buy, 1500, 10)
			take(2, Sell, Limit, FOK, 0, 1500, 10)
		}},
		{"FOK unfillable", func() { take(2, Sell, Limit, FOK, 0, 1500, 10) }},
		{"market trades", func() {
			rest(1, Sell, 1500, 10)
			take(2, Buy, Market, IOC, 0, 0, 10)
		}},
		{"post-only rests, then cancel", func() {
			oid := next()
			submit(Command{Kind: CmdNew, OrderID: oid, UserID: 1, Side: Sell, Type: Limit, TIF: GTC, PostOnly: true, Price: 1500, Qty: 10})
			submit(Command{Kind: CmdCancel, OrderID: oid, UserID: 1})
		}},
		{"post-only would take", func() {
			submit(Command{Kind: CmdNew, OrderID: next(), UserID: 1, Side: Buy, Type: Limit, TIF: GTC, PostOnly: true, Price: 2000, Qty: 10})
		}},
		{"replace in place and to a new price, then cancel", func() {
			oid := rest(1, Buy, 1500, 20)
			submit(Command{Kind: CmdReplace, OrderID: oid, UserID: 1, Qty: 10})
			submit(Command{Kind: CmdReplace, OrderID: oid, UserID: 1, Price: 1400, Qty: 10})
			submit(Command{Kind: CmdCancel, OrderID: oid, UserID: 1})
		}},
		{"STP cancel newest", func() {
			oid := rest(1, Sell, 1500, 10)
			take(1, Buy, Limit, GTC, STPCancelNewest, 1500, 10)
			submit(Command{Kind: CmdCancel, OrderID: oid, UserID: 1})
		}},
		{"STP cancel oldest", func() {
			rest(1, Sell, 1500, 10)
			take(1, Buy, Limit, IOC, STPCancelOldest, 1500, 10)
		}},
		{"STP cancel both", func() {
			rest(1, Sell, 1500, 10)
			take(1, Buy, Limit, IOC, STPCancelBoth, 1500, 10)
		}},
		{"STP decrement and cancel", func() {
			rest(1, Sell, 1500, 10)
			take(1, Buy, Limit, IOC, STPDecrementCancel, 1500, 10)
		}},
		{"refused: off the band, unknown order", func() {
			take(1, Buy, Limit, GTC, 0, 1<<21, 10)
			submit(Command{Kind: CmdCancel, OrderID: 1 << 40, UserID: 1})
		}},
	}
	for _, c := range cases {
		c.run() // warm: the first run may grow the book's storage
		c.run()
		if a := testing.AllocsPerRun(200, c.run); a != 0 {
			t.Errorf("%s: %.2f allocations per run, want 0", c.name, a)
		}
	}
	if b.Depth(Buy, -1, nil)[0].Price != 1000 || b.Depth(Sell, -1, nil)[0].Price != 2000 {
		t.Fatal("the cases left orders on the book: the test no longer measures a steady state")
	}
}
