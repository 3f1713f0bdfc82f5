package engine

import (
	"fmt"
	"strings"
	"testing"
)

var testCfg = AssetConfig{Symbol: "TEST", TickSize: 5, LotSize: 10, MinPrice: 50, MaxPrice: 1000, MaxQty: 1000}

// Command builders for the tables. Users: 1 and 2 are different people.
func buy(id uint64, user uint32, price, qty int64) Command {
	return Command{Kind: CmdNew, OrderID: id, ClientOrderID: id * 10, UserID: user, Side: Buy, Type: Limit, TIF: GTC, Price: price, Qty: qty}
}

func sell(id uint64, user uint32, price, qty int64) Command {
	c := buy(id, user, price, qty)
	c.Side = Sell
	return c
}

func with(c Command, f func(*Command)) Command { f(&c); return c }

func ioc(c Command) Command { c.TIF = IOC; return c }
func fok(c Command) Command { c.TIF = FOK; return c }
func market(c Command) Command {
	c.Type = Market
	c.Price = 0
	return c
}
func postOnly(c Command) Command       { c.PostOnly = true; return c }
func stp(c Command, m STPMode) Command { c.STP = m; return c }
func cancel(id uint64, user uint32) Command {
	return Command{Kind: CmdCancel, OrderID: id, UserID: user, ClientOrderID: 999}
}
func replace(id uint64, user uint32, price, qty int64) Command {
	return Command{Kind: CmdReplace, OrderID: id, UserID: user, Price: price, Qty: qty, ClientOrderID: 999}
}

// ev is the part of an Event a table states. Trades are written
// "trade taker maker price qty takerRemaining makerRemaining".
func evString(e Event) string {
	switch e.Kind {
	case EvAccepted:
		return fmt.Sprintf("accepted %d %d@%d", e.OrderID, e.Qty, e.Price)
	case EvTrade:
		return fmt.Sprintf("trade %d %d %d@%d rem %d/%d", e.OrderID, e.MakerOrderID, e.Qty, e.Price, e.Remaining, e.MakerRemaining)
	case EvCanceled:
		return fmt.Sprintf("canceled %d %s %d rem %d", e.OrderID, cancelNames[e.Reason], e.Qty, e.Remaining)
	case EvReplaced:
		return fmt.Sprintf("replaced %d %d@%d", e.OrderID, e.Qty, e.Price)
	case EvRejected:
		return fmt.Sprintf("rejected %d %s", e.OrderID, rejectNames[e.Reason])
	case EvDone:
		return fmt.Sprintf("done %d", e.OrderID)
	case EvReduced:
		return fmt.Sprintf("reduced %d %s %d rem %d", e.OrderID, cancelNames[e.Reason], e.Qty, e.Remaining)
	}
	return fmt.Sprintf("kind %d", e.Kind)
}

var cancelNames = map[uint8]string{1: "user", 2: "ioc", 3: "stp", 4: "market"}

var rejectNames = map[uint8]string{1: "bad-price", 2: "off-tick", 3: "bad-qty", 4: "off-lot",
	5: "unknown", 6: "not-owner", 7: "fok", 8: "post-only", 9: "duplicate", 10: "bad-command"}

// bookString lists the resting orders in priority order: "B id:qty@price
// ... | S ...". It walks the internal FIFOs, so it also checks their links.
func bookString(t *testing.T, b *Book) string {
	var sb strings.Builder
	for _, s := range []Side{Buy, Sell} {
		if s == Sell {
			sb.WriteString("| ")
		}
		sb.WriteString(map[Side]string{Buy: "B ", Sell: "S "}[s])
		l := b.side(s)
		for i := len(l.lvls) - 1; i >= 0; i-- {
			lv := &b.levels[l.lvls[i]]
			prev := nilIndex
			for oi := lv.head; oi != nilIndex; oi = b.orders[oi].next {
				o := &b.orders[oi]
				if o.prev != prev || o.level != l.lvls[i] {
					t.Fatalf("order %d: broken links", o.id)
				}
				prev = oi
				fmt.Fprintf(&sb, "%d:%d@%d ", o.id, o.qty, o.price)
			}
			if lv.tail != prev {
				t.Fatalf("level %d: tail is not the last order", lv.price)
			}
		}
	}
	return strings.TrimSpace(sb.String())
}

func TestBook(t *testing.T) {
	tests := []struct {
		name  string
		setup []Command
		cmd   Command
		want  []string // events
		book  string   // resting orders after
	}{
		// Rejects, in the documented order of checks.
		{name: "bad kind", cmd: Command{Kind: 9, OrderID: 1}, want: []string{"rejected 1 bad-command"}, book: "B | S"},
		{name: "bad side", cmd: with(buy(1, 1, 100, 10), func(c *Command) { c.Side = 0 }), want: []string{"rejected 1 bad-command"}, book: "B | S"},
		{name: "bad type", cmd: with(buy(1, 1, 100, 10), func(c *Command) { c.Type = 3 }), want: []string{"rejected 1 bad-command"}, book: "B | S"},
		{name: "bad tif", cmd: with(buy(1, 1, 100, 10), func(c *Command) { c.TIF = 0 }), want: []string{"rejected 1 bad-command"}, book: "B | S"},
		{name: "bad stp", cmd: stp(buy(1, 1, 100, 10), 5), want: []string{"rejected 1 bad-command"}, book: "B | S"},
		{name: "bad command before bad qty", cmd: with(buy(1, 1, 100, 0), func(c *Command) { c.Side = 9 }), want: []string{"rejected 1 bad-command"}, book: "B | S"},
		{name: "zero qty", cmd: buy(1, 1, 100, 0), want: []string{"rejected 1 bad-qty"}, book: "B | S"},
		{name: "negative qty", cmd: buy(1, 1, 100, -10), want: []string{"rejected 1 bad-qty"}, book: "B | S"},
		{name: "qty above max", cmd: buy(1, 1, 100, 1010), want: []string{"rejected 1 bad-qty"}, book: "B | S"},
		{name: "qty at max", cmd: buy(1, 1, 100, 1000), want: []string{"accepted 1 1000@100"}, book: "B 1:1000@100 | S"},
		{name: "off lot", cmd: buy(1, 1, 100, 15), want: []string{"rejected 1 off-lot"}, book: "B | S"},
		{name: "bad qty before bad price", cmd: buy(1, 1, 0, 0), want: []string{"rejected 1 bad-qty"}, book: "B | S"},
		{name: "off lot before bad price", cmd: buy(1, 1, 0, 15), want: []string{"rejected 1 off-lot"}, book: "B | S"},
		{name: "zero price", cmd: buy(1, 1, 0, 10), want: []string{"rejected 1 bad-price"}, book: "B | S"},
		{name: "negative price", cmd: buy(1, 1, -100, 10), want: []string{"rejected 1 bad-price"}, book: "B | S"},
		{name: "below band", cmd: buy(1, 1, 45, 10), want: []string{"rejected 1 bad-price"}, book: "B | S"},
		{name: "above band", cmd: buy(1, 1, 1005, 10), want: []string{"rejected 1 bad-price"}, book: "B | S"},
		{name: "band edges", setup: []Command{buy(1, 1, 50, 10)}, cmd: sell(2, 1, 1000, 10), want: []string{"accepted 2 10@1000"}, book: "B 1:10@50 | S 2:10@1000"},
		{name: "off tick", cmd: buy(1, 1, 101, 10), want: []string{"rejected 1 off-tick"}, book: "B | S"},
		{name: "bad price before duplicate", setup: []Command{buy(1, 1, 100, 10)}, cmd: buy(1, 1, 101, 10), want: []string{"rejected 1 off-tick"}, book: "B 1:10@100 | S"},
		{name: "duplicate id", setup: []Command{buy(1, 1, 100, 10)}, cmd: sell(1, 2, 200, 10), want: []string{"rejected 1 duplicate"}, book: "B 1:10@100 | S"},
		{name: "duplicate id of market order", setup: []Command{buy(1, 1, 100, 10)}, cmd: market(sell(1, 2, 0, 10)), want: []string{"rejected 1 duplicate"}, book: "B 1:10@100 | S"},
		{name: "id of a filled order is free again", setup: []Command{buy(1, 1, 100, 10), sell(2, 2, 100, 10)}, cmd: buy(1, 1, 100, 10), want: []string{"accepted 1 10@100"}, book: "B 1:10@100 | S"},
		{name: "market ignores price", cmd: market(with(buy(1, 1, 0, 10), func(c *Command) { c.Price = 7 })), want: []string{"canceled 1 market 10 rem 0"}, book: "B | S"},

		// Limit orders.
		{name: "limit rests", cmd: buy(1, 1, 100, 10), want: []string{"accepted 1 10@100"}, book: "B 1:10@100 | S"},
		{name: "limit levels sorted", setup: []Command{buy(1, 1, 100, 10), buy(2, 1, 110, 10), buy(3, 1, 90, 10), sell(4, 1, 130, 10), sell(5, 1, 120, 10)},
			cmd: sell(6, 1, 125, 10), want: []string{"accepted 6 10@125"}, book: "B 2:10@110 1:10@100 3:10@90 | S 5:10@120 6:10@125 4:10@130"},
		{name: "limit partial fill rests", setup: []Command{sell(1, 1, 100, 10)}, cmd: buy(2, 2, 100, 30),
			want: []string{"trade 2 1 10@100 rem 20/0", "done 1", "accepted 2 20@100"}, book: "B 2:20@100 | S"},
		{name: "limit fills at maker price", setup: []Command{sell(1, 1, 100, 10)}, cmd: buy(2, 2, 120, 10),
			want: []string{"trade 2 1 10@100 rem 0/0", "done 1", "done 2"}, book: "B | S"},
		{name: "limit maker partially filled", setup: []Command{sell(1, 1, 100, 30)}, cmd: buy(2, 2, 100, 10),
			want: []string{"trade 2 1 10@100 rem 0/20", "done 2"}, book: "B | S 1:20@100"},
		{name: "limit sweeps levels up to its price", setup: []Command{sell(1, 1, 100, 10), sell(2, 1, 105, 10), sell(3, 1, 110, 10)}, cmd: buy(4, 2, 105, 30),
			want: []string{"trade 4 1 10@100 rem 20/0", "done 1", "trade 4 2 10@105 rem 10/0", "done 2", "accepted 4 10@105"}, book: "B 4:10@105 | S 3:10@110"},
		{name: "sell limit sweeps bids", setup: []Command{buy(1, 1, 100, 10), buy(2, 1, 95, 20)}, cmd: sell(3, 2, 95, 20),
			want: []string{"trade 3 1 10@100 rem 10/0", "done 1", "trade 3 2 10@95 rem 0/10", "done 3"}, book: "B 2:10@95 | S"},
		{name: "time priority", setup: []Command{sell(1, 1, 100, 20), sell(2, 1, 100, 20), sell(3, 1, 100, 20)}, cmd: buy(4, 2, 100, 30),
			want: []string{"trade 4 1 20@100 rem 10/0", "done 1", "trade 4 2 10@100 rem 0/10", "done 4"}, book: "B | S 2:10@100 3:20@100"},
		{name: "no cross rests", setup: []Command{sell(1, 1, 105, 10)}, cmd: buy(2, 2, 100, 10), want: []string{"accepted 2 10@100"}, book: "B 2:10@100 | S 1:10@105"},

		// Market orders.
		{name: "market empty book", cmd: market(buy(1, 1, 0, 10)), want: []string{"canceled 1 market 10 rem 0"}, book: "B | S"},
		{name: "market sweeps", setup: []Command{sell(1, 1, 100, 10), sell(2, 1, 500, 10)}, cmd: market(buy(3, 2, 0, 30)),
			want: []string{"trade 3 1 10@100 rem 20/0", "done 1", "trade 3 2 10@500 rem 10/0", "done 2", "canceled 3 market 10 rem 0"}, book: "B | S"},
		{name: "market sell fills", setup: []Command{buy(1, 1, 100, 10), buy(2, 1, 50, 10)}, cmd: market(sell(3, 2, 0, 20)),
			want: []string{"trade 3 1 10@100 rem 10/0", "done 1", "trade 3 2 10@50 rem 0/0", "done 2", "done 3"}, book: "B | S"},
		{name: "market IOC is market", cmd: ioc(market(sell(3, 2, 0, 20))), want: []string{"canceled 3 market 20 rem 0"}, book: "B | S"},
		{name: "market FOK unfillable", setup: []Command{sell(1, 1, 100, 10)}, cmd: fok(market(buy(3, 2, 0, 20))), want: []string{"rejected 3 fok"}, book: "B | S 1:10@100"},
		{name: "market FOK fills", setup: []Command{sell(1, 1, 100, 10), sell(2, 1, 1000, 10)}, cmd: fok(market(buy(3, 2, 0, 20))),
			want: []string{"trade 3 1 10@100 rem 10/0", "done 1", "trade 3 2 10@1000 rem 0/0", "done 2", "done 3"}, book: "B | S"},
		{name: "market post-only is refused", setup: []Command{sell(1, 1, 100, 10)}, cmd: postOnly(market(buy(3, 2, 0, 10))),
			want: []string{"rejected 3 post-only"}, book: "B | S 1:10@100"},
		{name: "market post-only is refused on an empty book", cmd: postOnly(market(buy(3, 2, 0, 10))),
			want: []string{"rejected 3 post-only"}, book: "B | S"},
		{name: "market FOK empty book", cmd: fok(market(sell(3, 2, 0, 20))), want: []string{"rejected 3 fok"}, book: "B | S"},

		// Time in force.
		{name: "IOC no cross", setup: []Command{sell(1, 1, 105, 10)}, cmd: ioc(buy(2, 2, 100, 10)), want: []string{"canceled 2 ioc 10 rem 0"}, book: "B | S 1:10@105"},
		{name: "IOC partial", setup: []Command{sell(1, 1, 100, 10)}, cmd: ioc(buy(2, 2, 100, 30)),
			want: []string{"trade 2 1 10@100 rem 20/0", "done 1", "canceled 2 ioc 20 rem 0"}, book: "B | S"},
		{name: "IOC full", setup: []Command{sell(1, 1, 100, 30)}, cmd: ioc(buy(2, 2, 100, 20)),
			want: []string{"trade 2 1 20@100 rem 0/10", "done 2"}, book: "B | S 1:10@100"},
		{name: "FOK limited by price", setup: []Command{sell(1, 1, 100, 10), sell(2, 1, 110, 10)}, cmd: fok(buy(3, 2, 105, 20)),
			want: []string{"rejected 3 fok"}, book: "B | S 1:10@100 2:10@110"},
		{name: "FOK exact", setup: []Command{sell(1, 1, 100, 10), sell(2, 1, 110, 10)}, cmd: fok(buy(3, 2, 110, 20)),
			want: []string{"trade 3 1 10@100 rem 10/0", "done 1", "trade 3 2 10@110 rem 0/0", "done 2", "done 3"}, book: "B | S"},
		{name: "FOK empty book", cmd: fok(sell(3, 2, 110, 20)), want: []string{"rejected 3 fok"}, book: "B | S"},
		{name: "FOK counts own orders without STP", setup: []Command{sell(1, 2, 100, 10), sell(2, 1, 100, 10)}, cmd: fok(buy(3, 2, 100, 20)),
			want: []string{"trade 3 1 10@100 rem 10/0", "done 1", "trade 3 2 10@100 rem 0/0", "done 2", "done 3"}, book: "B | S"},
		{name: "FOK excludes own orders with STP", setup: []Command{sell(1, 2, 100, 10), sell(2, 1, 100, 10)}, cmd: stp(fok(buy(3, 2, 100, 20)), STPCancelOldest),
			want: []string{"rejected 3 fok"}, book: "B | S 1:10@100 2:10@100"},
		{name: "FOK with STP cancel-oldest fills around own order", setup: []Command{sell(1, 2, 100, 10), sell(2, 1, 100, 20)}, cmd: stp(fok(buy(3, 2, 100, 20)), STPCancelOldest),
			want: []string{"canceled 1 stp 10 rem 0", "trade 3 2 20@100 rem 0/0", "done 2", "done 3"}, book: "B | S"},
		{name: "FOK with STP cancel-newest stops at own order", setup: []Command{sell(1, 2, 100, 10), sell(2, 1, 100, 20)}, cmd: stp(fok(buy(3, 2, 100, 20)), STPCancelNewest),
			want: []string{"canceled 3 stp 20 rem 0"}, book: "B | S 1:10@100 2:20@100"},

		// Post-only.
		{name: "post-only rests", setup: []Command{sell(1, 1, 105, 10)}, cmd: postOnly(buy(2, 2, 100, 10)), want: []string{"accepted 2 10@100"}, book: "B 2:10@100 | S 1:10@105"},
		{name: "post-only would take", setup: []Command{sell(1, 1, 105, 10)}, cmd: postOnly(buy(2, 2, 105, 10)), want: []string{"rejected 2 post-only"}, book: "B | S 1:10@105"},
		{name: "post-only sell would take", setup: []Command{buy(1, 1, 105, 10)}, cmd: postOnly(sell(2, 2, 100, 10)), want: []string{"rejected 2 post-only"}, book: "B 1:10@105 | S"},
		{name: "post-only against own order is still a take", setup: []Command{sell(1, 2, 105, 10)}, cmd: stp(postOnly(buy(2, 2, 105, 10)), STPCancelNewest), want: []string{"rejected 2 post-only"}, book: "B | S 1:10@105"},
		{name: "post-only IOC never trades", setup: []Command{sell(1, 1, 105, 10)}, cmd: ioc(postOnly(buy(2, 2, 100, 10))), want: []string{"canceled 2 ioc 10 rem 0"}, book: "B | S 1:10@105"},
		{name: "post-only FOK", setup: []Command{sell(1, 1, 105, 10)}, cmd: fok(postOnly(buy(2, 2, 100, 10))), want: []string{"rejected 2 fok"}, book: "B | S 1:10@105"},

		// Self-trade prevention. User 2 owns order 1 and sends order 3.
		{name: "STP none trades with self", setup: []Command{sell(1, 2, 100, 10)}, cmd: buy(3, 2, 100, 10),
			want: []string{"trade 3 1 10@100 rem 0/0", "done 1", "done 3"}, book: "B | S"},
		{name: "STP other user trades", setup: []Command{sell(1, 1, 100, 10)}, cmd: stp(buy(3, 2, 100, 10), STPCancelBoth),
			want: []string{"trade 3 1 10@100 rem 0/0", "done 1", "done 3"}, book: "B | S"},
		{name: "STP cancel newest", setup: []Command{sell(9, 1, 100, 10), sell(1, 2, 100, 10), sell(2, 1, 100, 10)}, cmd: stp(buy(3, 2, 100, 20), STPCancelNewest),
			want: []string{"trade 3 9 10@100 rem 10/0", "done 9", "canceled 3 stp 10 rem 0"}, book: "B | S 1:10@100 2:10@100"},
		{name: "STP cancel oldest", setup: []Command{sell(1, 2, 100, 10), sell(2, 1, 100, 10)}, cmd: stp(buy(3, 2, 100, 20), STPCancelOldest),
			want: []string{"canceled 1 stp 10 rem 0", "trade 3 2 10@100 rem 10/0", "done 2", "accepted 3 10@100"}, book: "B 3:10@100 | S"},
		{name: "STP cancel both", setup: []Command{sell(1, 2, 100, 10), sell(2, 1, 100, 10)}, cmd: stp(buy(3, 2, 100, 20), STPCancelBoth),
			want: []string{"canceled 1 stp 10 rem 0", "canceled 3 stp 20 rem 0"}, book: "B | S 2:10@100"},
		{name: "STP decrement taker larger", setup: []Command{sell(1, 2, 100, 10), sell(2, 1, 100, 10)}, cmd: stp(buy(3, 2, 100, 30), STPDecrementCancel),
			want: []string{"canceled 1 stp 10 rem 0", "reduced 3 stp 10 rem 20", "trade 3 2 10@100 rem 10/0", "done 2", "accepted 3 10@100"}, book: "B 3:10@100 | S"},
		{name: "STP decrement maker larger", setup: []Command{sell(1, 2, 100, 30), sell(2, 1, 100, 10)}, cmd: stp(buy(3, 2, 100, 10), STPDecrementCancel),
			want: []string{"reduced 1 stp 10 rem 20", "canceled 3 stp 10 rem 0"}, book: "B | S 1:20@100 2:10@100"},
		{name: "STP decrement equal", setup: []Command{sell(1, 2, 100, 10)}, cmd: stp(ioc(buy(3, 2, 100, 10)), STPDecrementCancel),
			want: []string{"canceled 1 stp 10 rem 0", "canceled 3 stp 10 rem 0"}, book: "B | S"},
		{name: "STP maker mode does not govern", setup: []Command{stp(sell(1, 2, 100, 10), STPCancelBoth)}, cmd: buy(3, 2, 100, 10),
			want: []string{"trade 3 1 10@100 rem 0/0", "done 1", "done 3"}, book: "B | S"},
		{name: "STP market cancel oldest", setup: []Command{sell(1, 2, 100, 10)}, cmd: stp(market(buy(3, 2, 0, 10)), STPCancelOldest),
			want: []string{"canceled 1 stp 10 rem 0", "canceled 3 market 10 rem 0"}, book: "B | S"},

		// Cancel.
		{name: "cancel", setup: []Command{buy(1, 1, 100, 10), buy(2, 1, 100, 20)}, cmd: cancel(1, 1), want: []string{"canceled 1 user 10 rem 0"}, book: "B 2:20@100 | S"},
		{name: "cancel partially filled", setup: []Command{buy(1, 1, 100, 30), sell(2, 2, 100, 10)}, cmd: cancel(1, 1), want: []string{"canceled 1 user 20 rem 0"}, book: "B | S"},
		{name: "cancel unknown", setup: []Command{buy(1, 1, 100, 10)}, cmd: cancel(2, 1), want: []string{"rejected 2 unknown"}, book: "B 1:10@100 | S"},
		{name: "cancel twice", setup: []Command{buy(1, 1, 100, 10), cancel(1, 1)}, cmd: cancel(1, 1), want: []string{"rejected 1 unknown"}, book: "B | S"},
		{name: "cancel filled", setup: []Command{buy(1, 1, 100, 10), sell(2, 2, 100, 10)}, cmd: cancel(1, 1), want: []string{"rejected 1 unknown"}, book: "B | S"},
		{name: "cancel not owner", setup: []Command{buy(1, 1, 100, 10)}, cmd: cancel(1, 2), want: []string{"rejected 1 not-owner"}, book: "B 1:10@100 | S"},

		// Replace.
		{name: "replace decrease keeps priority", setup: []Command{sell(1, 1, 100, 20), sell(2, 1, 100, 10), replace(1, 1, 100, 10)}, cmd: buy(3, 2, 100, 10),
			want: []string{"trade 3 1 10@100 rem 0/0", "done 1", "done 3"}, book: "B | S 2:10@100"},
		{name: "replace decrease price 0 keeps priority", setup: []Command{sell(1, 1, 100, 20), sell(2, 1, 100, 10)}, cmd: replace(1, 1, 0, 10),
			want: []string{"replaced 1 10@100"}, book: "B | S 1:10@100 2:10@100"},
		{name: "replace same keeps priority", setup: []Command{sell(1, 1, 100, 20), sell(2, 1, 100, 10)}, cmd: replace(1, 1, 100, 20),
			want: []string{"replaced 1 20@100"}, book: "B | S 1:20@100 2:10@100"},
		{name: "replace increase loses priority", setup: []Command{sell(1, 1, 100, 10), sell(2, 1, 100, 10), replace(1, 1, 0, 20)}, cmd: buy(3, 2, 100, 10),
			want: []string{"trade 3 2 10@100 rem 0/0", "done 2", "done 3"}, book: "B | S 1:20@100"},
		{name: "replace price change loses priority", setup: []Command{sell(1, 1, 100, 10), sell(2, 1, 100, 10), replace(1, 1, 105, 10)}, cmd: replace(1, 1, 100, 10),
			want: []string{"replaced 1 10@100"}, book: "B | S 2:10@100 1:10@100"},
		{name: "replace moves level", setup: []Command{buy(1, 1, 100, 10), buy(2, 1, 90, 10)}, cmd: replace(1, 1, 80, 30),
			want: []string{"replaced 1 30@80"}, book: "B 2:10@90 1:30@80 | S"},
		{name: "replace crosses and rests", setup: []Command{buy(1, 1, 100, 30), sell(2, 2, 105, 10), sell(3, 2, 110, 10)}, cmd: replace(1, 1, 105, 30),
			want: []string{"replaced 1 30@105", "trade 1 2 10@105 rem 20/0", "done 2"}, book: "B 1:20@105 | S 3:10@110"},
		{name: "replace crosses and fills", setup: []Command{sell(1, 1, 120, 10), buy(2, 2, 110, 20)}, cmd: replace(1, 1, 105, 10),
			want: []string{"replaced 1 10@105", "trade 1 2 10@110 rem 0/10", "done 1"}, book: "B 2:10@110 | S"},
		{name: "replace uses the order's STP", setup: []Command{stp(sell(1, 1, 120, 10), STPCancelNewest), buy(2, 1, 110, 20)}, cmd: replace(1, 1, 105, 10),
			want: []string{"replaced 1 10@105", "canceled 1 stp 10 rem 0"}, book: "B 2:20@110 | S"},
		{name: "replace post-only would take", setup: []Command{postOnly(sell(1, 1, 120, 10)), buy(2, 2, 110, 20)}, cmd: replace(1, 1, 110, 10),
			want: []string{"rejected 1 post-only"}, book: "B 2:20@110 | S 1:10@120"},
		{name: "replace post-only moves", setup: []Command{postOnly(sell(1, 1, 120, 10)), buy(2, 2, 110, 20)}, cmd: replace(1, 1, 115, 10),
			want: []string{"replaced 1 10@115"}, book: "B 2:20@110 | S 1:10@115"},
		{name: "replace unknown", cmd: replace(1, 1, 100, 10), want: []string{"rejected 1 unknown"}, book: "B | S"},
		{name: "replace not owner", setup: []Command{buy(1, 1, 100, 10)}, cmd: replace(1, 2, 100, 20), want: []string{"rejected 1 not-owner"}, book: "B 1:10@100 | S"},
		{name: "replace zero qty", setup: []Command{buy(1, 1, 100, 10)}, cmd: replace(1, 1, 100, 0), want: []string{"rejected 1 bad-qty"}, book: "B 1:10@100 | S"},
		{name: "replace qty above max", setup: []Command{buy(1, 1, 100, 10)}, cmd: replace(1, 1, 100, 2000), want: []string{"rejected 1 bad-qty"}, book: "B 1:10@100 | S"},
		{name: "replace off lot", setup: []Command{buy(1, 1, 100, 10)}, cmd: replace(1, 1, 100, 11), want: []string{"rejected 1 off-lot"}, book: "B 1:10@100 | S"},
		{name: "replace bad price", setup: []Command{buy(1, 1, 100, 10)}, cmd: replace(1, 1, 2000, 10), want: []string{"rejected 1 bad-price"}, book: "B 1:10@100 | S"},
		{name: "replace negative price", setup: []Command{buy(1, 1, 100, 10)}, cmd: replace(1, 1, -5, 10), want: []string{"rejected 1 bad-price"}, book: "B 1:10@100 | S"},
		{name: "replace off tick", setup: []Command{buy(1, 1, 100, 10)}, cmd: replace(1, 1, 102, 10), want: []string{"rejected 1 off-tick"}, book: "B 1:10@100 | S"},
		{name: "replace checks fields before the order", cmd: replace(1, 1, 102, 10), want: []string{"rejected 1 off-tick"}, book: "B | S"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := NewBook(testCfg)
			r := newRefBook(testCfg)
			seq := uint64(0)
			submit := func(c Command) []Event {
				seq++
				c.Seq, c.Time = seq, int64(seq)*100
				want := r.submit(c)
				got := b.Submit(&c)
				if !slicesEqual(got, want) {
					t.Fatalf("command %d %+v: book and reference disagree:%s\nvs%s", seq, c, fmtEvents(got), fmtEvents(want))
				}
				return got
			}
			for _, c := range tc.setup {
				submit(c)
			}
			var got []string
			for _, e := range submit(tc.cmd) {
				got = append(got, evString(e))
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("events:\n got %q\nwant %q", got, tc.want)
			}
			if s := bookString(t, b); s != tc.book {
				t.Errorf("book:\n got %s\nwant %s", s, tc.book)
			}
		})
	}
}

// TestEventFields checks the fields every event carries.
func TestEventFields(t *testing.T) {
	b := NewBook(testCfg)
	b.Submit(&Command{Seq: 7, Time: 70, Kind: CmdNew, OrderID: 1, ClientOrderID: 11, UserID: 1, Side: Sell, Type: Limit, TIF: GTC, Price: 100, Qty: 20})
	if b.LastCmdSeq() != 7 || b.LastEventSeq() != 1 {
		t.Fatalf("sequences: cmd %d event %d", b.LastCmdSeq(), b.LastEventSeq())
	}
	evs := b.Submit(&Command{Seq: 8, Time: 80, Kind: CmdNew, OrderID: 2, ClientOrderID: 22, UserID: 2, Side: Buy, Type: Limit, TIF: GTC, Price: 105, Qty: 20})
	want := []Event{
		{Seq: 2, CmdSeq: 8, Time: 80, OrderID: 2, ClientOrderID: 22, UserID: 2, Kind: EvTrade, Side: Buy, Price: 100, Qty: 20,
			MakerOrderID: 1, MakerClientOrderID: 11, MakerUserID: 1},
		{Seq: 3, CmdSeq: 8, Time: 80, OrderID: 1, ClientOrderID: 11, UserID: 1, Kind: EvDone, Side: Sell, Price: 100},
		{Seq: 4, CmdSeq: 8, Time: 80, OrderID: 2, ClientOrderID: 22, UserID: 2, Kind: EvDone, Side: Buy, Price: 105},
	}
	if !slicesEqual(evs, want) {
		t.Fatalf("got%s\nwant%s", fmtEvents(evs), fmtEvents(want))
	}
	evs = b.Submit(&Command{Seq: 9, Time: 90, Kind: CmdCancel, OrderID: 5, ClientOrderID: 55, UserID: 3, Price: 1, Qty: 2})
	want = []Event{{Seq: 5, CmdSeq: 9, Time: 90, OrderID: 5, ClientOrderID: 55, UserID: 3, Kind: EvRejected,
		Reason: uint8(RejectUnknownOrder), Price: 1, Qty: 2}}
	if !slicesEqual(evs, want) {
		t.Fatalf("got%s\nwant%s", fmtEvents(evs), fmtEvents(want))
	}
}

// TestChanges checks the level changes of a sweep.
func TestChanges(t *testing.T) {
	b := NewBook(testCfg)
	for i, c := range []Command{sell(1, 1, 100, 10), sell(2, 1, 105, 10), sell(3, 1, 105, 10), sell(4, 1, 110, 10), buy(5, 1, 90, 10)} {
		c.Seq = uint64(i + 1)
		b.Submit(&c)
	}
	c := buy(6, 2, 105, 40)
	b.Submit(&c)
	want := []LevelChange{{Sell, 100, 0, 0, 6}, {Sell, 105, 0, 0, 10}, {Buy, 105, 10, 1, 12}}
	if got := b.Changes(); !slicesEqual(got, want) {
		t.Fatalf("changes %v, want %v", got, want)
	}
	if p, q, ok := b.BestBid(); p != 105 || q != 10 || !ok {
		t.Fatalf("best bid %d %d %v", p, q, ok)
	}
	if p, q, ok := b.BestAsk(); p != 110 || q != 10 || !ok {
		t.Fatalf("best ask %d %d %v", p, q, ok)
	}
	if got := b.Depth(Buy, 1, nil); !slicesEqual(got, []Level{{105, 10, 1}}) {
		t.Fatalf("depth %v", got)
	}
	if got := b.Depth(Buy, 5, nil); !slicesEqual(got, []Level{{105, 10, 1}, {90, 10, 1}}) {
		t.Fatalf("depth %v", got)
	}
	c = cancel(9, 1)
	b.Submit(&c)
	if len(b.Changes()) != 0 {
		t.Fatalf("rejected cancel changed %v", b.Changes())
	}
}

func TestNewBookPanicsOnBadConfig(t *testing.T) {
	for _, cfg := range []AssetConfig{
		{TickSize: 0, LotSize: 1, MinPrice: 1, MaxPrice: 2, MaxQty: 1},
		{TickSize: 1, LotSize: 0, MinPrice: 1, MaxPrice: 2, MaxQty: 1},
		{TickSize: 1, LotSize: 1, MinPrice: 3, MaxPrice: 2, MaxQty: 1},
		{TickSize: 1, LotSize: 1, MinPrice: -1, MaxPrice: 2, MaxQty: 1},
		{TickSize: 1, LotSize: 1, MinPrice: 1, MaxPrice: 2, MaxQty: 0},
		{TickSize: 1, LotSize: 1, MinPrice: 1, MaxPrice: 2, MaxQty: MaxQtyLimit + 1},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewBook(%+v) did not panic", cfg)
				}
			}()
			NewBook(cfg)
		}()
	}
}
