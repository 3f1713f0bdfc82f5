package engine

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
)

// cmdGen produces seeded random commands that exercise every path of the
// matcher: a narrow price band so that orders cross often, few users so that
// self-trade prevention fires, ids that are sometimes reused, unknown or
// someone else's, and a few invalid fields of every kind.
type cmdGen struct {
	rng    *rand.Rand
	cfg    AssetConfig
	mid    int64 // centre of the prices, in ticks
	spread int   // prices span mid +- spread ticks
	users  int
	seq    uint64
	nextID uint64
	recent [256]struct {
		id   uint64
		user uint32
	}
	nRecent int

	// ref, if set, is the reference book the commands go to; target
	// picks a resting order from it liveTargets percent of the time. The
	// more often, the more cancels hit, and the smaller the book stays.
	ref         *refBook
	liveTargets int
}

func newCmdGen(seed uint64, cfg AssetConfig, mid int64, spread, users int) *cmdGen {
	return &cmdGen{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), cfg: cfg,
		mid: mid, spread: spread, users: users, nextID: 1}
}

func (g *cmdGen) chance(percent int) bool { return g.rng.IntN(100) < percent }

func (g *cmdGen) price() int64 {
	// The middle wanders so that orders left far from it are eventually
	// crossed and the book stays a realistic size.
	if g.chance(5) {
		g.mid += int64(2*g.rng.IntN(2) - 1)
		lo, hi := g.cfg.MinPrice/g.cfg.TickSize+int64(g.spread), g.cfg.MaxPrice/g.cfg.TickSize-int64(g.spread)
		g.mid = max(lo, min(hi, g.mid))
	}
	p := (g.mid + int64(g.rng.IntN(2*g.spread+1)-g.spread)) * g.cfg.TickSize
	switch r := g.rng.IntN(200); {
	case r == 0:
		return 0
	case r == 1:
		return -p
	case r == 2:
		return g.cfg.MaxPrice + g.cfg.TickSize
	case r == 3:
		return g.cfg.MinPrice - g.cfg.TickSize
	case r == 4:
		return p + 1
	case r == 5:
		return g.cfg.MaxPrice / g.cfg.TickSize * g.cfg.TickSize
	}
	return p
}

func (g *cmdGen) qty() int64 {
	q := int64(1+g.rng.IntN(8)) * g.cfg.LotSize
	switch r := g.rng.IntN(200); {
	case r == 0:
		return 0
	case r == 1:
		return -q
	case r == 2:
		return g.cfg.MaxQty + g.cfg.LotSize
	case r == 3:
		return q + 1
	case r == 4:
		return g.cfg.MaxQty / g.cfg.LotSize * g.cfg.LotSize
	}
	return q
}

func (g *cmdGen) user() uint32 { return uint32(1 + g.rng.IntN(g.users)) }

// target picks an id for Cancel or Replace: usually a resting order (if
// the generator can see the reference book) or a recent one with its owner,
// sometimes a stranger or an id that never existed.
func (g *cmdGen) target() (uint64, uint32) {
	if g.ref != nil && g.ref.count() > 0 && g.chance(g.liveTargets) {
		var o *refOrder
		if i := g.rng.IntN(g.ref.count()); i < len(g.ref.bids) {
			o = g.ref.bids[i]
		} else {
			o = g.ref.asks[i-len(g.ref.bids)]
		}
		if g.chance(5) {
			return o.id, g.user()
		}
		return o.id, o.user
	}
	if g.nRecent == 0 || g.chance(3) {
		return g.nextID + 1000, g.user()
	}
	r := g.recent[g.rng.IntN(min(g.nRecent, len(g.recent)))]
	if g.chance(5) {
		return r.id, g.user()
	}
	return r.id, r.user
}

func (g *cmdGen) next() Command {
	g.seq++
	c := Command{Seq: g.seq, Time: int64(g.seq) * 1000, ClientOrderID: g.rng.Uint64(), UserID: g.user()}
	switch k := g.rng.IntN(100); {
	case k < 1:
		c.Kind = CommandKind(4 + g.rng.IntN(250))
	case k < 55:
		c.Kind = CmdNew
		c.OrderID = g.nextID
		if g.nRecent > 0 && g.chance(2) {
			c.OrderID = g.recent[g.rng.IntN(min(g.nRecent, len(g.recent)))].id
		} else {
			g.nextID++
		}
		c.Side = Side(1 + g.rng.IntN(2))
		c.Type = Limit
		if g.chance(8) {
			c.Type = Market
		}
		c.TIF = GTC
		switch t := g.rng.IntN(100); {
		case t < 15:
			c.TIF = IOC
		case t < 25:
			c.TIF = FOK
		}
		if g.chance(40) {
			c.STP = STPMode(1 + g.rng.IntN(4))
		}
		c.PostOnly = g.chance(10)
		c.Price, c.Qty = g.price(), g.qty()
		if g.chance(1) {
			switch g.rng.IntN(4) {
			case 0:
				c.Side = Side(3 + g.rng.IntN(200))
			case 1:
				c.Type = OrderType(3 + g.rng.IntN(200))
			case 2:
				c.TIF = TimeInForce(4 + g.rng.IntN(200))
			default:
				c.STP = STPMode(5 + g.rng.IntN(200))
			}
		}
		g.recent[g.nRecent%len(g.recent)] = struct {
			id   uint64
			user uint32
		}{c.OrderID, c.UserID}
		g.nRecent++
	case k < 75:
		c.Kind = CmdCancel
		c.OrderID, c.UserID = g.target()
	default:
		c.Kind = CmdReplace
		c.OrderID, c.UserID = g.target()
		c.Qty = g.qty()
		if !g.chance(30) {
			c.Price = g.price()
		}
	}
	return c
}

// checker runs a Book and the reference side by side and checks, after
// every command: identical events; level changes that name exactly the
// levels whose state changed, with their new state; the book's invariants
// (not crossed, depth equal to the sum of its orders, every resting order
// findable with the right state); and quantities conserved as the event
// stream tells them.
type checker struct {
	t    testing.TB
	book *Book
	ref  *refBook

	// shadow, when not nil, is a book restored from a snapshot of book that
	// is fed the same commands and must give the same events.
	shadow *Book

	before, after [3][]Level // indexed by Side, reference levels
	depth         []Level
	open          map[uint64]ledgerEntry // resting orders as the events tell them
	openTotal     int64

	// feeds is each user's view of their own orders built from their
	// private feed alone, as a client of docs/protocol.md builds it:
	// user -> order id -> open quantity (see checkFeeds).
	feeds map[uint32]map[uint64]int64
}

func newChecker(t testing.TB, cfg AssetConfig) *checker {
	return &checker{t: t, book: NewBook(cfg), ref: newRefBook(cfg), open: map[uint64]ledgerEntry{},
		feeds: map[uint32]map[uint64]int64{}}
}

func (k *checker) step(c Command) {
	t := k.t
	for s := Buy; s <= Sell; s++ {
		k.before[s] = append(k.before[s][:0], k.after[s]...)
	}
	got := k.book.Submit(&c)
	want := k.ref.submit(c)
	if len(got) != len(want) {
		t.Fatalf("cmd %+v:\n got %d events %s\nwant %d events %s", c, len(got), fmtEvents(got), len(want), fmtEvents(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("cmd %+v: event %d:\n got %+v\nwant %+v\nall got %s", c, i, got[i], want[i], fmtEvents(got))
		}
	}
	if len(got) == 0 {
		t.Fatalf("cmd %+v: no events", c)
	}
	if got[0].Seq != k.book.LastEventSeq()-uint64(len(got))+1 || k.book.LastCmdSeq() != c.Seq {
		t.Fatalf("cmd %+v: sequences: first event %d, last %d, cmd %d", c, got[0].Seq, k.book.LastEventSeq(), k.book.LastCmdSeq())
	}
	if k.shadow != nil {
		sh := k.shadow.Submit(&c)
		if len(sh) != len(got) {
			t.Fatalf("cmd %+v: restored book gave %d events, original %d:\n%s\n%s", c, len(sh), len(got), fmtEvents(sh), fmtEvents(got))
		}
		for i := range sh {
			if sh[i] != got[i] {
				t.Fatalf("cmd %+v: restored book event %d:\n got %+v\nwant %+v", c, i, sh[i], got[i])
			}
		}
		if !slicesEqual(k.shadow.Changes(), k.book.Changes()) {
			t.Fatalf("cmd %+v: restored book changes %v, original %v", c, k.shadow.Changes(), k.book.Changes())
		}
	}
	for s := Buy; s <= Sell; s++ {
		k.after[s] = k.ref.levels(s, k.after[s][:0])
	}
	k.checkChanges(c, got)
	k.checkBook(c)
	k.checkLedger(c, got)
	k.checkFeeds(c, got)
}

// checkFeeds replays each event into its owners' private feeds (a trade
// goes to both owners, each from its own order's side) with only the
// rules a client has (docs/protocol.md 6.6): accepted, filled, replaced
// and reduced set the order's open quantity to Remaining; canceled and
// done remove it; rejected changes nothing. It then requires every user's
// feed to hold exactly that user's resting orders with their open
// quantities, after every command.
func (k *checker) checkFeeds(c Command, evs []Event) {
	set := func(user uint32, id uint64, open int64, gone bool) {
		f := k.feeds[user]
		if f == nil {
			f = map[uint64]int64{}
			k.feeds[user] = f
		}
		if gone {
			delete(f, id)
		} else {
			f[id] = open
		}
	}
	for _, e := range evs {
		switch e.Kind {
		case EvTrade:
			set(e.UserID, e.OrderID, e.Remaining, false)
			set(e.MakerUserID, e.MakerOrderID, e.MakerRemaining, false)
		case EvAccepted, EvReplaced, EvReduced:
			set(e.UserID, e.OrderID, e.Remaining, false)
		case EvCanceled, EvDone:
			set(e.UserID, e.OrderID, 0, true)
		}
	}
	n := 0
	for _, side := range [][]*refOrder{k.ref.bids, k.ref.asks} {
		for _, o := range side {
			if got, ok := k.feeds[o.user][o.id]; !ok || got != o.qty {
				k.t.Fatalf("cmd %+v: user %d's feed has order %d open %d (listed %v), the book %d%s",
					c, o.user, o.id, got, ok, o.qty, fmtEvents(evs))
			}
			n++
		}
	}
	listed := 0
	for _, f := range k.feeds {
		listed += len(f)
	}
	if listed != n {
		k.t.Fatalf("cmd %+v: the users' feeds list %d live orders, the book holds %d%s", c, listed, n, fmtEvents(evs))
	}
}

func slicesEqual[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// checkChanges requires Changes to list each level whose state differs
// between before and after exactly once, with its after state, and nothing
// whose state did not change; and each change's Seq to be one of the
// command's events, not lower than the change before it, and, for a
// level a trade changed, the last trade at that level.
func (k *checker) checkChanges(c Command, evs []Event) {
	changes := k.book.Changes()
	seen := 0
	first := evs[0].Seq
	for i, ch := range changes {
		if ch.Seq < first || ch.Seq > evs[len(evs)-1].Seq || i > 0 && ch.Seq < changes[i-1].Seq {
			k.t.Fatalf("cmd %+v: change %+v: sequence not in [%d, %d] or lower than the one before: %v", c, ch, first, evs[len(evs)-1].Seq, changes)
		}
		var lastTrade uint64
		for _, e := range evs {
			if e.Kind == EvTrade && e.Side != ch.Side && e.Price == ch.Price {
				lastTrade = e.Seq
			}
		}
		e := evs[ch.Seq-first]
		var changed bool // whether e is an event that changes this level
		switch e.Kind {
		case EvTrade:
			changed = e.Side != ch.Side && e.Price == ch.Price
		case EvAccepted, EvCanceled, EvReduced:
			changed = e.Side == ch.Side && e.Price == ch.Price
		case EvReplaced:
			changed = e.Side == ch.Side // the old level or the new one
		}
		// A moved order that rests after matching has no event of its
		// own: its level carries the command's last event.
		restAfterMove := c.Kind == CmdReplace && ch.Seq == evs[len(evs)-1].Seq
		if !changed && !restAfterMove || lastTrade > ch.Seq {
			k.t.Fatalf("cmd %+v: change %+v: event %+v does not change the level, or a trade at it is later (%d)%s",
				c, ch, e, lastTrade, fmtEvents(evs))
		}
		for j := range i {
			if changes[j].Side == ch.Side && changes[j].Price == ch.Price {
				k.t.Fatalf("cmd %+v: level %d/%d reported twice in %v", c, ch.Side, ch.Price, changes)
			}
		}
		if ch.Side != Buy && ch.Side != Sell {
			k.t.Fatalf("cmd %+v: change with side %d", c, ch.Side)
		}
		b := findLevel(k.before[ch.Side], ch.Price)
		a := findLevel(k.after[ch.Side], ch.Price)
		if a != (Level{Price: ch.Price, Qty: ch.Qty, Count: ch.Count}) && !(a == Level{} && ch.Qty == 0 && ch.Count == 0) {
			k.t.Fatalf("cmd %+v: change %+v, level after is %+v", c, ch, a)
		}
		if a == b {
			k.t.Fatalf("cmd %+v: change %+v for a level that did not change", c, ch)
		}
		seen++
	}
	// Every level that changed must be listed: count them with a merge of
	// the best-first lists.
	diff := 0
	for s := Buy; s <= Sell; s++ {
		before, after := k.before[s], k.after[s]
		i, j := 0, 0
		for i < len(before) || j < len(after) {
			switch {
			case j == len(after) || i < len(before) && sideKey(s, before[i].Price) > sideKey(s, after[j].Price):
				diff++ // gone
				i++
			case i == len(before) || sideKey(s, after[j].Price) > sideKey(s, before[i].Price):
				diff++ // new
				j++
			default:
				if before[i] != after[j] {
					diff++
				}
				i++
				j++
			}
		}
	}
	if diff != seen {
		k.t.Fatalf("cmd %+v: %d levels changed, Changes lists %d: %v", c, diff, seen, changes)
	}
}

// findLevel returns the level at price in a best-first list, or the zero
// Level. The lists are short; a linear scan is fine.
func findLevel(levels []Level, price int64) Level {
	for _, lv := range levels {
		if lv.Price == price {
			return lv
		}
	}
	return Level{}
}

// idCheckEvery is how often checkBook looks every resting order up by id.
const idCheckEvery = 16

// checkBook checks the book's invariants after a command: not crossed; the
// depth equal to the reference's; every resting order present, in the same
// priority order and state as in the reference, with each level's quantity
// and count the sum and number of its orders (a walk of the book's own
// FIFOs, every command); and every order findable by id (every command for
// the orders the events name, see checkLedger, and every idCheckEvery
// commands for all of them: the walk is sequential, the lookups are not).
func (k *checker) checkBook(c Command) {
	b := k.book
	bid, _, okb := b.BestBid()
	ask, _, oka := b.BestAsk()
	if okb && oka && bid >= ask {
		k.t.Fatalf("cmd %+v: crossed book: bid %d ask %d", c, bid, ask)
	}
	for s := Buy; s <= Sell; s++ {
		k.depth = b.Depth(s, 0, k.depth[:0])
		if !slicesEqual(k.depth, k.after[s]) {
			k.t.Fatalf("cmd %+v: side %d depth\n got %v\nwant %v", c, s, k.depth, k.after[s])
		}
	}
	if b.Len() != k.ref.count() {
		k.t.Fatalf("cmd %+v: %d orders, reference has %d", c, b.Len(), k.ref.count())
	}
	for s := Buy; s <= Sell; s++ {
		ref := *k.ref.sideOf(s)
		n := 0
		l := &b.ladders[s]
		for i := len(l.lvls) - 1; i >= 0; i-- {
			lv := &b.levels[l.lvls[i]]
			var qty int64
			var count int32
			for oi := lv.head; oi != nilIndex; oi = b.orders[oi].next {
				o := &b.orders[oi]
				if n == len(ref) {
					k.t.Fatalf("cmd %+v: side %d: order %d beyond the reference's %d", c, s, o.id, n)
				}
				r := ref[n]
				if o.id != r.id || o.clientID != r.client || o.user != r.user || o.side != r.side || o.price != r.price ||
					o.qty != r.qty || o.stp != r.stp || o.postOnly != r.postOnly || o.price != lv.price || o.level != l.lvls[i] {
					k.t.Fatalf("cmd %+v: side %d position %d: book has %+v, reference %+v", c, s, n, *o, *r)
				}
				qty += o.qty
				count++
				n++
			}
			if qty != lv.qty || count != lv.count || count == 0 {
				k.t.Fatalf("cmd %+v: level %d: qty %d count %d, its orders sum to %d in %d", c, lv.price, lv.qty, lv.count, qty, count)
			}
		}
		if n != len(ref) {
			k.t.Fatalf("cmd %+v: side %d: %d orders, reference %d", c, s, n, len(ref))
		}
	}
	if c.Seq%idCheckEvery != 0 {
		return
	}
	for _, side := range [][]*refOrder{k.ref.bids, k.ref.asks} {
		for _, o := range side {
			got, ok := b.Order(o.id)
			want := OrderInfo{ID: o.id, ClientOrderID: o.client, UserID: o.user, Side: o.side,
				Price: o.price, Qty: o.qty, STP: o.stp, PostOnly: o.postOnly}
			if !ok || got != want {
				k.t.Fatalf("cmd %+v: order %d: got %+v (found %v), want %+v", c, o.id, got, ok, want)
			}
		}
	}
}

// checkLedger follows each order's open quantity through the events alone
// and requires every event to be consistent with it, the book to hold what
// the events say, and the total resting quantity to equal the depth.
func (k *checker) checkLedger(c Command, evs []Event) {
	fail := func(e Event, format string, args ...any) {
		k.t.Helper()
		k.t.Fatalf("cmd %+v: event %+v: %s", c, e, fmt.Sprintf(format, args...))
	}
	// The taker is the order of a New, or a replaced order that moved to
	// a new price (it leaves the book and matches like a new order).
	var (
		hasTaker   bool
		takerID    uint64
		takerOpen  int64
		takerPrice int64
	)
	if c.Kind == CmdNew {
		hasTaker, takerID, takerOpen = true, c.OrderID, c.Qty
	}
	isTaker := func(id uint64) bool { return hasTaker && id == takerID }
	set := func(id uint64, qty, price int64) {
		k.openTotal += qty - k.open[id].qty
		if qty == 0 {
			delete(k.open, id)
			return
		}
		k.open[id] = ledgerEntry{qty, price}
	}
	for _, e := range evs {
		switch e.Kind {
		case EvTrade:
			if e.Qty <= 0 || !isTaker(e.OrderID) || e.Remaining != takerOpen-e.Qty {
				fail(e, "taker %d had %d open", takerID, takerOpen)
			}
			takerOpen = e.Remaining
			m, ok := k.open[e.MakerOrderID]
			if !ok || m.qty-e.Qty != e.MakerRemaining || m.price != e.Price {
				fail(e, "maker had %+v", m)
			}
			set(e.MakerOrderID, e.MakerRemaining, m.price)
		case EvCanceled, EvReduced:
			// EvCanceled means gone, EvReduced alive: the kind must
			// say which, so that the owner's feed alone tells.
			if (e.Kind == EvCanceled) != (e.Remaining == 0) {
				fail(e, "kind %d with %d remaining", e.Kind, e.Remaining)
			}
			if e.Kind == EvReduced && e.Reason != uint8(CancelSelfTrade) {
				fail(e, "reduced for reason %d", e.Reason)
			}
			if isTaker(e.OrderID) {
				if e.Remaining != takerOpen-e.Qty || e.Qty <= 0 {
					fail(e, "taker had %d open", takerOpen)
				}
				takerOpen = e.Remaining
			} else {
				o, ok := k.open[e.OrderID]
				if !ok || e.Remaining != o.qty-e.Qty || e.Qty <= 0 {
					fail(e, "order had %+v", o)
				}
				set(e.OrderID, e.Remaining, o.price)
			}
		case EvDone:
			if isTaker(e.OrderID) {
				if takerOpen != 0 {
					fail(e, "taker done with %d open", takerOpen)
				}
			} else if o, ok := k.open[e.OrderID]; ok {
				fail(e, "maker done with %+v", o)
			}
		case EvAccepted:
			if !isTaker(e.OrderID) || e.Qty != takerOpen || e.Remaining != takerOpen || e.Price != c.Price {
				fail(e, "taker had %d open", takerOpen)
			}
			set(e.OrderID, takerOpen, e.Price)
			takerOpen = 0
		case EvReplaced:
			o, ok := k.open[e.OrderID]
			if !ok || e.Qty <= 0 || e.Remaining != e.Qty {
				fail(e, "replaced order had %+v", o)
			}
			if e.Price == o.price {
				set(e.OrderID, e.Qty, e.Price)
			} else {
				set(e.OrderID, 0, 0)
				hasTaker, takerID, takerOpen, takerPrice = true, e.OrderID, e.Qty, e.Price
			}
		case EvRejected:
			if len(evs) != 1 {
				fail(e, "reject among %d events", len(evs))
			}
		}
	}
	if c.Kind == CmdReplace && hasTaker && takerOpen > 0 {
		// A moved order that was not filled or killed rests.
		set(takerID, takerOpen, takerPrice)
	}
	var depthTotal int64
	for s := Buy; s <= Sell; s++ {
		for _, lv := range k.after[s] {
			depthTotal += lv.Qty
		}
	}
	if depthTotal != k.openTotal || len(k.open) != k.book.Len() {
		k.t.Fatalf("cmd %+v: events leave %d open in %d orders, book holds %d in %d", c, k.openTotal, len(k.open), depthTotal, k.book.Len())
	}
	check := func(id uint64) {
		info, ok := k.book.Order(id)
		want, open := k.open[id]
		if ok != open || info.Qty != want.qty || info.Price != want.price {
			k.t.Fatalf("cmd %+v: order %d: events say %+v (open %v), book %+v (found %v)", c, id, want, open, info, ok)
		}
	}
	for _, e := range evs {
		check(e.OrderID)
		if e.Kind == EvTrade {
			check(e.MakerOrderID)
		}
	}
}

type ledgerEntry struct{ qty, price int64 }

func fmtEvents(evs []Event) string {
	var buf bytes.Buffer
	for _, e := range evs {
		fmt.Fprintf(&buf, "\n  %+v", e)
	}
	return buf.String()
}

// randomCommands is how many random commands TestRandomAgainstReference
// runs: 1 M normally (about 4 s), 200 k under the race detector (which makes
// it about fifteen times slower: 1 M would take a minute), 5 M with
// RINGEX_SOAK.
func randomCommands() int {
	switch {
	case os.Getenv("RINGEX_SOAK") != "":
		return 5_000_000
	case raceEnabled:
		return 200_000
	}
	return 1_000_000
}

var testConfigs = []struct {
	name        string
	cfg         AssetConfig
	mid         int64
	spread      int
	liveTargets int // percent of cancels and replaces aimed at resting orders
}{
	// A narrow band around the middle: everything crosses, the band
	// edges are reachable. A book of about a hundred orders.
	{"narrow", AssetConfig{Symbol: "NARROW", TickSize: 5, LotSize: 10, MinPrice: 5, MaxPrice: 500, MaxQty: 100}, 50, 12, 5},
	// The default assets' shape: tick and lot 1, a band of 10^11 ticks.
	{"wide", AssetConfig{Symbol: "WIDE", TickSize: 1, LotSize: 1, MinPrice: 1, MaxPrice: 100_000_000_000, MaxQty: 1_000_000}, 5_000_000, 40, 3},
	// Few cancels hit: a deep book with long queues.
	{"deep", AssetConfig{Symbol: "DEEP", TickSize: 5, LotSize: 10, MinPrice: 5, MaxPrice: 500, MaxQty: 100}, 50, 12, 1},
}

// TestRandomAgainstReference runs seeded random commands through Book and the
// reference and checks them against each other after every command. Every
// few thousand commands it snapshots the book, restores the snapshot, and
// from then on feeds the restored copy too, requiring the same events: a
// snapshot round trip under the same workload.
func TestRandomAgainstReference(t *testing.T) {
	total := randomCommands()
	for i, tc := range testConfigs {
		t.Run(tc.name, func(t *testing.T) {
			n := (total + len(testConfigs) - 1) / len(testConfigs)
			seed := uint64(20260101 + i)
			g := newCmdGen(seed, tc.cfg, tc.mid, tc.spread, 4)
			k := newChecker(t, tc.cfg)
			g.ref, g.liveTargets = k.ref, tc.liveTargets
			rng := rand.New(rand.NewPCG(seed, 7))
			nextSnap := 1 + rng.IntN(5000)
			maxOrders := 0
			for j := range n {
				if j == nextSnap {
					k.roundTrip()
					nextSnap += 1 + rng.IntN(20000)
				}
				k.step(g.next())
				maxOrders = max(maxOrders, k.book.Len())
			}
			t.Logf("%d commands (seed %d), %d events, up to %d resting orders", n, seed, k.book.LastEventSeq(), maxOrders)
		})
	}
}

// roundTrip snapshots the book, restores the snapshot into the shadow book
// and checks that the restored copy encodes to the same bytes.
func (k *checker) roundTrip() {
	var a, b bytes.Buffer
	if err := k.book.Snapshot(&a); err != nil {
		k.t.Fatal(err)
	}
	restored, err := Restore(bytes.NewReader(a.Bytes()))
	if err != nil {
		k.t.Fatalf("restore after cmd %d: %v", k.book.LastCmdSeq(), err)
	}
	if err := restored.Snapshot(&b); err != nil {
		k.t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		k.t.Fatalf("after cmd %d: restored book snapshots to different bytes", k.book.LastCmdSeq())
	}
	if restored.LastCmdSeq() != k.book.LastCmdSeq() || restored.LastEventSeq() != k.book.LastEventSeq() ||
		restored.Config() != k.book.Config() || restored.Len() != k.book.Len() {
		k.t.Fatalf("restored book differs: cmd %d/%d event %d/%d orders %d/%d", restored.LastCmdSeq(), k.book.LastCmdSeq(),
			restored.LastEventSeq(), k.book.LastEventSeq(), restored.Len(), k.book.Len())
	}
	k.shadow = restored
}
