package marketdata

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ringex/ringex/engine"
	"github.com/ringex/ringex/journal"
	"github.com/ringex/ringex/netio/internal/nettest"
	"github.com/ringex/ringex/netio/wire"
	"github.com/ringex/ringex/pipeline"
	"github.com/ringex/ringex/ring"
)

// The notifier tests run a real pipeline in process (journal in a temp dir,
// sync off), the notifier as its OutputSink and subscribers over loopback
// TCP, and check what the subscribers got against independent references:
// the event journal and the engine's own depth.

var feedSpec = pipeline.AssetSpec{ID: 3, Config: engine.AssetConfig{
	Symbol: "FEED", TickSize: 1, LotSize: 1, MinPrice: 1, MaxPrice: 1_000_000, MaxQty: 1_000_000,
}}

// feedHarness is a running exchange with its notifier.
type feedHarness struct {
	t     testing.TB
	dir   string
	store *journal.Store
	ex    *pipeline.Exchange
	asset *pipeline.Asset
	n     *Notifier
	addr  string
	serve chan error

	closeOnce sync.Once
	stopOnce  sync.Once
}

// startFeed opens a store in dir (a new temp dir if empty), recovers the
// pipeline from it and starts the notifier.
func startFeed(t testing.TB, dir string, cfg NotifierConfig, wrap ...func(EventJournal) EventJournal) *feedHarness {
	t.Helper()
	return startFeedSink(t, dir, cfg, nil, wrap...)
}

// startFeedSink is startFeed with the notifier behind sink (nil: none).
func startFeedSink(t testing.TB, dir string, cfg NotifierConfig, sink func(*Notifier) pipeline.OutputSink,
	wrap ...func(EventJournal) EventJournal) *feedHarness {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	log := nettest.Logger(t)
	store, err := journal.Open(journal.Options{Dir: dir, Sync: journal.SyncPolicy{Mode: journal.SyncOff}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ex, err := pipeline.Open(store, []pipeline.AssetSpec{feedSpec}, pipeline.Config{
		InSize: 1 << 12, OutSize: 1 << 14, Wait: ring.Blocking, Logger: log,
	})
	if err != nil {
		store.Close()
		t.Fatal(err)
	}
	cfg.Addr = "127.0.0.1:0"
	cfg.Users = nettest.Users(t)
	cfg.Store = store
	for _, w := range wrap {
		cfg.Store = w(cfg.Store)
	}
	if cfg.Loops == 0 {
		cfg.Loops = 2
	}
	cfg.Logger = log
	n := NewNotifier(cfg)
	n.Init(ex.Assets())
	var out pipeline.OutputSink = n
	if sink != nil {
		out = sink(n)
	}
	ex.Start(nil, out)
	h := &feedHarness{t: t, dir: dir, store: store, ex: ex, asset: ex.Assets()[0], n: n, serve: make(chan error, 1)}
	go func() { h.serve <- n.Serve() }()
	select {
	case <-n.Ready():
	case err := <-h.serve:
		t.Fatalf("notifier: %v", err)
	}
	h.addr = n.Addr().String()
	t.Cleanup(h.stop)
	return h
}

// closeExchange drains the pipeline: every event has then been handed to
// the notifier and journaled, and the book may be read.
func (h *feedHarness) closeExchange() {
	h.closeOnce.Do(func() {
		if err := h.ex.Close(); err != nil {
			h.t.Errorf("exchange close: %v", err)
		}
	})
}

func (h *feedHarness) stop() { h.stopOnce.Do(h.doStop) }

func (h *feedHarness) doStop() {
	h.closeExchange()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.n.Stop(ctx); err != nil {
		h.t.Errorf("notifier stop: %v", err)
	}
	select {
	case <-h.serve:
	case <-time.After(5 * time.Second):
		h.t.Errorf("notifier Serve did not return")
	}
	h.store.Close()
}

// journalEvents reads the asset's whole event journal.
func (h *feedHarness) journalEvents() []engine.Event {
	var evs []engine.Event
	if err := h.store.ScanEvents(feedSpec.ID, 0, func(e *engine.Event) error {
		evs = append(evs, *e)
		return nil
	}); err != nil {
		h.t.Fatal(err)
	}
	return evs
}

// trader submits random orders: limits around a mid price that often
// cross, some market and IOC orders, and cancels of its own resting orders.
type trader struct {
	rng   *rand.Rand
	a     *pipeline.Asset
	users []uint32
	open  map[uint32][]uint64 // resting candidates per user
}

func newTrader(seed uint64, a *pipeline.Asset, users ...uint32) *trader {
	return &trader{rng: rand.New(rand.NewPCG(seed, 7)), a: a, users: users, open: map[uint32][]uint64{}}
}

// submitUntilCut submits orders, 500 at a time, until n has cut a slow
// consumer (who, for the failure), for at most 20 s.
func (tr *trader) submitUntilCut(t testing.TB, n *Notifier, who string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for n.slowCount.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%s was not disconnected", who)
		}
		tr.submit(t, 500)
	}
}

func (tr *trader) submit(t testing.TB, n int) {
	t.Helper()
	for range n {
		u := tr.users[tr.rng.IntN(len(tr.users))]
		c := engine.Command{UserID: u, ClientOrderID: tr.rng.Uint64(), Time: time.Now().UnixNano()}
		switch p := tr.rng.IntN(100); {
		case p < 10 && len(tr.open[u]) > 0:
			ids := tr.open[u]
			i := tr.rng.IntN(len(ids))
			c.Kind, c.OrderID = engine.CmdCancel, ids[i]
			tr.open[u] = slices.Delete(ids, i, i+1)
		default:
			c.Kind, c.Type, c.TIF = engine.CmdNew, engine.Limit, engine.GTC
			c.Side = engine.Side(1 + tr.rng.IntN(2))
			c.Price = int64(1000 + tr.rng.IntN(21) - 10)
			c.Qty = int64(1 + tr.rng.IntN(10))
			switch q := tr.rng.IntN(100); {
			case q < 5:
				c.Type, c.TIF, c.Price = engine.Market, engine.IOC, 0
			case q < 10:
				c.TIF = engine.IOC
			}
		}
		if _, err := tr.a.Submit(&c, 0, time.Second); err != nil {
			t.Fatalf("submit: %v", err)
		}
		if c.Kind == engine.CmdNew && c.TIF == engine.GTC {
			tr.open[u] = append(tr.open[u], c.OrderID)
		}
	}
}

// restingOrder submits a limit order far from the market, so that it rests
// and changes the book: the last command of a run, whose level update
// tells book subscribers they have seen everything.
func restingOrder(t testing.TB, a *pipeline.Asset, user uint32, price int64) {
	c := engine.Command{Kind: engine.CmdNew, UserID: user, Side: engine.Buy, Type: engine.Limit, TIF: engine.GTC,
		Price: price, Qty: 1, Time: time.Now().UnixNano()}
	if _, err := a.Submit(&c, 0, time.Second); err != nil {
		t.Fatalf("submit: %v", err)
	}
}

func trades(evs []engine.Event) []uint64 {
	var seqs []uint64
	for _, e := range evs {
		if e.Kind == engine.EvTrade {
			seqs = append(seqs, e.Seq)
		}
	}
	return seqs
}

// privateOf is what user must see of evs: every event of its orders, a
// trade once per side it is on.
type privKey struct {
	seq     uint64
	kind    engine.EventKind
	orderID uint64
	side    engine.Side
	rem     int64
}

func privateOf(evs []engine.Event, user uint32, after uint64) []privKey {
	var out []privKey
	for _, e := range evs {
		if e.Seq <= after {
			continue
		}
		if e.UserID == user {
			out = append(out, privKey{e.Seq, e.Kind, e.OrderID, e.Side, e.Remaining})
		}
		if e.Kind == engine.EvTrade && e.MakerUserID == user {
			out = append(out, privKey{e.Seq, e.Kind, e.MakerOrderID, opposite(e.Side), e.MakerRemaining})
		}
	}
	return out
}

func soak() bool { return os.Getenv("RINGEX_SOAK") != "" }

// TestNotifierFanout: many subscribers each receive every trade of a run,
// in order, exactly as the event journal has them.
func TestNotifierFanout(t *testing.T) {
	subs, cmds := 200, 3000
	deadline := 60 * time.Second
	if soak() {
		// Under the race detector, beside the other soak tests, 2,000
		// subscribers take up to minutes to get a backlog delivered in
		// 3 s without it: one drain copies it all, about 1 GB per loop,
		// and every copy is instrumented (docs/performance-notifier.md).
		subs, cmds, deadline = 2000, 20000, 5*time.Minute
	}
	if testing.Short() {
		subs = 50
	}
	h := startFeed(t, "", NotifierConfig{})
	feeds := make([]*testFeed, subs)
	var wg sync.WaitGroup
	for i := range feeds {
		f := dialTestFeed(t, h.addr)
		defer f.close()
		if err := f.subscribe(feedSpec.Config.Symbol, chTrades); err != nil {
			t.Fatal(err)
		}
		feeds[i] = f
	}
	for _, f := range feeds {
		if _, err := f.waitFor(mAck); err != nil {
			t.Fatal(err)
		}
	}
	got := make([][]uint64, subs)
	done := make(chan struct{})
	var want []uint64
	for i, f := range feeds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.c.SetReadDeadline(time.Now().Add(deadline))
			<-done
			for len(got[i]) < len(want) {
				m, err := f.next()
				if err != nil {
					t.Errorf("subscriber %d after %d trades: %v", i, len(got[i]), err)
					return
				}
				if m.kind == mTrade {
					got[i] = append(got[i], m.seq)
				}
			}
		}()
	}
	start := time.Now()
	newTrader(1, h.asset, nettest.Alice.ID, nettest.Bob.ID, nettest.Carol.ID).submit(t, cmds)
	h.closeExchange()
	want = trades(h.journalEvents())
	if len(want) < cmds/10 {
		t.Fatalf("only %d trades from %d commands: the generator does not cross", len(want), cmds)
	}
	close(done)
	wg.Wait()
	t.Logf("%d subscribers x %d trades in %v", subs, len(want), time.Since(start))
	for i := range got {
		if !slices.Equal(got[i], want) {
			t.Fatalf("subscriber %d got %d trades, journal has %d (first difference at %d)",
				i, len(got[i]), len(want), firstDiff(got[i], want))
		}
	}
}

func firstDiff(a, b []uint64) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// readPrivate reads order events until it has n of them, then checks that
// no more arrive for a moment.
func readPrivate(t *testing.T, f *testFeed, n int) ([]privKey, int) {
	t.Helper()
	var got []privKey
	resumed := 0
	f.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	for len(got) < n {
		m, err := f.next()
		if err != nil {
			t.Fatalf("after %d of %d private events: %v", len(got), n, err)
		}
		switch m.kind {
		case mOrder:
			got = append(got, privKey{m.seq, m.evKind, m.orderID, m.side, m.remaining})
		case mResumed:
			resumed++
		}
	}
	f.c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	for {
		m, err := f.next()
		if err != nil {
			break
		}
		switch m.kind {
		case mOrder:
			t.Errorf("extra private event %+v", m)
		case mResumed:
			resumed++
		}
	}
	return got, resumed
}

// TestNotifierPrivate: each user gets exactly the events of its own orders,
// a user with no orders gets nothing, and an unauthenticated connection
// cannot subscribe to order events.
func TestNotifierPrivate(t *testing.T) {
	h := startFeed(t, "", NotifierConfig{})
	feeds := map[uint32]*testFeed{}
	for _, u := range []nettest.User{nettest.Alice, nettest.Bob, nettest.Carol} {
		f := dialTestFeed(t, h.addr)
		defer f.close()
		if err := f.login(u); err != nil {
			t.Fatal(err)
		}
		if err := f.subscribe(feedSpec.Config.Symbol, chOrders); err != nil {
			t.Fatal(err)
		}
		if _, err := f.waitFor(mAck); err != nil {
			t.Fatal(err)
		}
		feeds[u.ID] = f
	}
	// No login, no order events; a wrong key, no login.
	anon := dialTestFeed(t, h.addr)
	defer anon.close()
	if err := anon.subscribe(feedSpec.Config.Symbol, chOrders); err != nil {
		t.Fatal(err)
	}
	if m, err := anon.waitFor(mSubRejected); err != nil || m.reason != wire.SubNotLoggedIn {
		t.Fatalf("anonymous orders subscription: %+v, %v; want SubRejected(not logged in)", m, err)
	}
	if err := anon.login(nettest.User{ID: nettest.Alice.ID, Name: nettest.Alice.Name, Key: "wrong-key"}); err == nil {
		t.Fatal("login with a wrong key accepted")
	}
	if err := anon.subscribe(feedSpec.Config.Symbol, chTrades); err != nil {
		t.Fatal(err)
	}
	if _, err := anon.waitFor(mAck); err != nil {
		t.Fatal(err)
	}

	newTrader(2, h.asset, nettest.Alice.ID, nettest.Bob.ID).submit(t, 2000)
	h.closeExchange()
	evs := h.journalEvents()
	for _, u := range []nettest.User{nettest.Alice, nettest.Bob, nettest.Carol} {
		want := privateOf(evs, u.ID, 0)
		got, _ := readPrivate(t, feeds[u.ID], len(want))
		if !slices.Equal(got, want) {
			t.Errorf("%s: got %d private events, want %d", u.Name, len(got), len(want))
		}
		if u.ID != nettest.Carol.ID && len(want) == 0 {
			t.Errorf("%s has no events: the test proves nothing", u.Name)
		}
	}
	// The anonymous connection got trades and nothing private.
	anon.c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	trades := 0
	for {
		m, err := anon.next()
		if err != nil {
			break
		}
		switch m.kind {
		case mOrder:
			t.Fatalf("anonymous connection got an order event: %+v", m)
		case mTrade:
			trades++
		}
	}
	if trades == 0 {
		t.Error("anonymous connection got no trades")
	}
}

// TestNotifierSlowConsumer: a subscriber that never reads is disconnected
// once its queue passes the limit, and the others receive every trade.
func TestNotifierSlowConsumer(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := startFeed(t, "", NotifierConfig{MaxQueuedBytes: 512 << 10, SocketSendBuffer: 4 << 10, Registerer: reg})
	stalled := dialTestFeed(t, h.addr)
	defer stalled.close()
	stalled.c.SetReadBuffer(4 << 10)
	for _, ch := range []channel{chTrades, chBook, chBBO} {
		if err := stalled.subscribe(feedSpec.Config.Symbol, ch); err != nil {
			t.Fatal(err)
		}
	}
	const others = 20
	feeds := make([]*testFeed, others)
	for i := range feeds {
		feeds[i] = dialTestFeed(t, h.addr)
		defer feeds[i].close()
		if err := feeds[i].subscribe(feedSpec.Config.Symbol, chTrades); err != nil {
			t.Fatal(err)
		}
		if _, err := feeds[i].waitFor(mAck); err != nil {
			t.Fatal(err)
		}
	}
	counts := make([]atomic.Int64, others)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var once sync.Once
	stopReaders := func() {
		once.Do(func() {
			close(stop)
			for _, f := range feeds {
				f.close()
			}
			wg.Wait()
		})
	}
	defer stopReaders()
	for i, f := range feeds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				m, err := f.next()
				if err != nil {
					select {
					case <-stop: // the test closed the connection
					default:
						t.Errorf("subscriber %d: %v", i, err)
					}
					return
				}
				if m.kind == mTrade {
					counts[i].Add(1)
				}
			}
		}()
	}
	tr := newTrader(3, h.asset, nettest.Alice.ID, nettest.Bob.ID)
	tr.submitUntilCut(t, h.n, "the stalled subscriber")
	tr.submit(t, 500) // the others keep receiving after the cut
	h.closeExchange()
	// Once the stalled connection is closed, the gauges count the others.
	end := time.Now().Add(5 * time.Second)
	for {
		v, _ := gatherValue(t, reg, "ringex_notifier_subscribers", "trades")
		b, _ := gatherValue(t, reg, "ringex_notifier_subscribers", "book")
		if v == others && b == 0 {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("subscribers gauge: trades %v book %v, want %d and 0", v, b, others)
		}
		time.Sleep(10 * time.Millisecond)
	}
	want := len(trades(h.journalEvents()))
	nettest.WaitUntil(t, 10*time.Second, func() bool {
		for i := range feeds {
			if counts[i].Load() < int64(want) {
				return false
			}
		}
		return true
	}, stopReaders)
	for i := range counts {
		if c := counts[i].Load(); c != int64(want) {
			t.Errorf("subscriber %d got %d trades, journal has %d", i, c, want)
		}
	}
	// The stalled connection ends, after whatever its socket held, with a
	// close (the Logout may be in the part it never had room for).
	stalled.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, stalled.r); err != nil {
		t.Errorf("stalled subscriber: want EOF, got %v", err)
	}

	// The metrics say the same.
	for _, c := range []struct {
		name, label string
		check       func(float64) bool
		want        string
	}{
		{"ringex_notifier_slow_consumer_disconnects_total", "", func(v float64) bool { return v == 1 }, "1"},
		{"ringex_notifier_messages_total", "", func(v float64) bool { return v >= float64(others*want) }, ">= deliveries"},
		{"ringex_notifier_bytes_total", "", func(v float64) bool { return v > 0 }, "> 0"},
		{"ringex_notifier_fanout_seconds", "", func(v float64) bool { return v > 0 }, "observations"},
		{"ringex_notifier_event_to_write_seconds", "", func(v float64) bool { return v > 0 }, "observations"},
	} {
		if v, ok := gatherValue(t, reg, c.name, c.label); !ok || !c.check(v) {
			t.Errorf("metric %s{%s} = %v (found %v), want %s", c.name, c.label, v, ok, c.want)
		}
	}
}

// gatherValue reads a counter, gauge or histogram count from reg; label,
// if set, selects the series whose only label has that value.
func gatherValue(t *testing.T, reg *prometheus.Registry, name, label string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label != "" && (len(m.GetLabel()) != 1 || m.GetLabel()[0].GetValue() != label) {
				continue
			}
			switch {
			case m.Counter != nil:
				return m.GetCounter().GetValue(), true
			case m.Gauge != nil:
				return m.GetGauge().GetValue(), true
			case m.Histogram != nil:
				return float64(m.GetHistogram().GetSampleCount()), true
			}
		}
	}
	return 0, false
}

// bookPicture rebuilds L2 depth from a snapshot and the level updates
// after it.
type bookPicture struct {
	side    [3]map[int64]engine.Level
	lastSeq uint64
}

func newBookPicture(m feedMsg) *bookPicture {
	b := &bookPicture{lastSeq: m.seq}
	b.side[engine.Buy], b.side[engine.Sell] = map[int64]engine.Level{}, map[int64]engine.Level{}
	for _, l := range m.bids {
		b.side[engine.Buy][l.Price] = l
	}
	for _, l := range m.asks {
		b.side[engine.Sell][l.Price] = l
	}
	return b
}

func (b *bookPicture) apply(m feedMsg) {
	if m.seq < b.lastSeq {
		panic(fmt.Sprintf("level update seq %d after %d", m.seq, b.lastSeq))
	}
	b.lastSeq = m.seq
	if m.qty == 0 {
		delete(b.side[m.side], m.price)
		return
	}
	b.side[m.side][m.price] = engine.Level{Price: m.price, Qty: m.qty, Count: m.count}
}

// levels returns a side best first.
func (b *bookPicture) levels(s engine.Side) []engine.Level {
	var out []engine.Level
	for _, l := range b.side[s] {
		out = append(out, l)
	}
	slices.SortFunc(out, func(x, y engine.Level) int {
		if s == engine.Buy {
			return int(y.Price - x.Price)
		}
		return int(x.Price - y.Price)
	})
	return out
}

// TestNotifierBook: a snapshot plus the level updates after it rebuild the
// engine's own depth, for a subscriber that joined before the run, one that
// joined half-way, and several that joined while orders were flowing.
func TestNotifierBook(t *testing.T) {
	h := startFeed(t, "", NotifierConfig{})
	tr := newTrader(4, h.asset, nettest.Alice.ID, nettest.Bob.ID)
	var feeds []*testFeed
	join := func() {
		f := dialTestFeed(t, h.addr)
		t.Cleanup(f.close)
		if err := f.subscribe(feedSpec.Config.Symbol, chBook); err != nil {
			t.Fatal(err)
		}
		feeds = append(feeds, f)
	}
	join()
	tr.submit(t, 1500)
	join()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 5 {
			join()
			time.Sleep(2 * time.Millisecond)
		}
	}()
	tr.submit(t, 1500)
	wg.Wait()
	restingOrder(t, h.asset, nettest.Alice.ID, 10) // far below the market: its update ends the run
	h.closeExchange()
	final := h.asset.Book().LastEventSeq()
	wantBids := h.asset.Book().Depth(engine.Buy, -1, nil)
	wantAsks := h.asset.Book().Depth(engine.Sell, -1, nil)
	if len(wantBids) < 3 || len(wantAsks) < 3 {
		t.Fatalf("thin book (%d bids, %d asks): the test proves little", len(wantBids), len(wantAsks))
	}
	for i, f := range feeds {
		f.c.SetReadDeadline(time.Now().Add(20 * time.Second))
		snap, err := f.waitFor(mSnapshot)
		if err != nil {
			t.Fatalf("subscriber %d: snapshot: %v", i, err)
		}
		pic := newBookPicture(snap)
		for pic.lastSeq < final {
			m, err := f.next()
			if err != nil {
				t.Fatalf("subscriber %d at seq %d of %d: %v", i, pic.lastSeq, final, err)
			}
			if m.kind == mLevel {
				pic.apply(m)
			}
		}
		if got := pic.levels(engine.Buy); !slices.Equal(got, wantBids) {
			t.Errorf("subscriber %d (snapshot at %d): bids\n got %v\nwant %v", i, snap.seq, got, wantBids)
		}
		if got := pic.levels(engine.Sell); !slices.Equal(got, wantAsks) {
			t.Errorf("subscriber %d (snapshot at %d): asks\n got %v\nwant %v", i, snap.seq, got, wantAsks)
		}
	}
}

// TestNotifierResume: a client that reconnects with the last private
// sequence it saw gets exactly the events it missed, then the live ones,
// while orders keep flowing during the switch-over; and again after a
// restart of the whole exchange.
func TestNotifierResume(t *testing.T) {
	dir := t.TempDir()
	// The journal read starts late, so that live events pile up meanwhile
	// and the switch-over has both kinds to sort: held events the journal
	// also has, and later ones it does not.
	slow := func(j EventJournal) EventJournal { return slowJournal{j, 20 * time.Millisecond} }
	h := startFeed(t, dir, NotifierConfig{}, slow)
	tr := newTrader(5, h.asset, nettest.Alice.ID, nettest.Bob.ID)

	f := dialTestFeed(t, h.addr)
	if err := f.login(nettest.Alice); err != nil {
		t.Fatal(err)
	}
	if err := f.subscribe(feedSpec.Config.Symbol, chOrders); err != nil {
		t.Fatal(err)
	}
	if _, err := f.waitFor(mAck); err != nil {
		t.Fatal(err)
	}
	tr.submit(t, 500)
	// Read some of alice's events, then drop the connection.
	var last uint64
	f.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for n := 0; n < 50; {
		m, err := f.next()
		if err != nil {
			t.Fatal(err)
		}
		if m.kind == mOrder {
			last = m.seq
			n++
		}
	}
	f.close()
	tr.submit(t, 500) // missed entirely

	// Resume while orders flow.
	g := dialTestFeed(t, h.addr)
	defer g.close()
	if err := g.login(nettest.Alice); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 20 {
			tr.submit(t, 50)
			time.Sleep(2 * time.Millisecond)
		}
	}()
	time.Sleep(5 * time.Millisecond)
	if err := g.resume(feedSpec.Config.Symbol, last); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	h.closeExchange()
	evs := h.journalEvents()
	want := privateOf(evs, nettest.Alice.ID, last)
	got, resumed := readPrivate(t, g, len(want))
	if resumed != 1 {
		t.Errorf("%d end-of-replay markers, want 1", resumed)
	}
	checkPrivate(t, "resume", got, want)

	// Restart: a new exchange and notifier over the same journal.
	mid := want[len(want)/2].seq
	h.stop()
	h2 := startFeed(t, dir, NotifierConfig{})
	r := dialTestFeed(t, h2.addr)
	defer r.close()
	if err := r.login(nettest.Alice); err != nil {
		t.Fatal(err)
	}
	if err := r.resume(feedSpec.Config.Symbol, mid); err != nil {
		t.Fatal(err)
	}
	newTrader(6, h2.asset, nettest.Alice.ID, nettest.Bob.ID).submit(t, 300)
	h2.closeExchange()
	want2 := privateOf(h2.journalEvents(), nettest.Alice.ID, mid)
	got2, _ := readPrivate(t, r, len(want2))
	checkPrivate(t, "resume after restart", got2, want2)
}

func checkPrivate(t *testing.T, what string, got, want []privKey) {
	t.Helper()
	if slices.Equal(got, want) {
		return
	}
	i := 0
	for i < min(len(got), len(want)) && got[i] == want[i] {
		i++
	}
	t.Errorf("%s: got %d events, want %d; first difference at %d: got %v want %v",
		what, len(got), len(want), i, at(got, i), at(want, i))
}

func at(s []privKey, i int) any {
	if i < len(s) {
		return s[i]
	}
	return "nothing"
}

// slowJournal delays the start of every journal read.
type slowJournal struct {
	EventJournal
	delay time.Duration
}

func (j slowJournal) ScanEvents(asset uint32, after uint64, fn func(*engine.Event) error) error {
	time.Sleep(j.delay)
	return j.EventJournal.ScanEvents(asset, after, fn)
}

// TestNotifierSeqOrder: a connection subscribed to every channel of an
// asset, its own order events included, gets all of them in sequence
// order across channels, and as many as the journal says.
func TestNotifierSeqOrder(t *testing.T) {
	h := startFeed(t, "", NotifierConfig{})
	f := dialTestFeed(t, h.addr)
	defer f.close()
	if err := f.login(nettest.Alice); err != nil {
		t.Fatal(err)
	}
	if err := f.subscribeAll(feedSpec.Config.Symbol); err != nil {
		t.Fatal(err)
	}
	if _, err := f.waitFor(mAck); err != nil {
		t.Fatal(err)
	}
	newTrader(7, h.asset, nettest.Alice.ID, nettest.Bob.ID).submit(t, 2000)
	restingOrder(t, h.asset, nettest.Alice.ID, 10)
	h.closeExchange()
	evs := h.journalEvents()
	final := evs[len(evs)-1].Seq
	wantPriv := len(privateOf(evs, nettest.Alice.ID, 0))
	var last uint64
	var ntrades, npriv int
	sawFinal := false
	f.c.SetReadDeadline(time.Now().Add(20 * time.Second))
	for !sawFinal || npriv < wantPriv {
		m, err := f.next()
		if err != nil {
			t.Fatalf("after seq %d: %v", last, err)
		}
		switch m.kind {
		case mTrade, mLevel, mBBO, mOrder:
		default:
			continue
		}
		if m.seq < last {
			t.Fatalf("message %+v (seq %d) after seq %d", m, m.seq, last)
		}
		last = m.seq
		switch m.kind {
		case mTrade:
			ntrades++
		case mOrder:
			npriv++
		case mLevel:
			sawFinal = sawFinal || m.seq == final
		}
	}
	if want := len(trades(evs)); ntrades != want {
		t.Errorf("%d trades, journal has %d", ntrades, want)
	}
	if npriv != wantPriv {
		t.Errorf("%d private events, journal has %d for alice", npriv, wantPriv)
	}
}

// TestConnLimits: a connection holds one descriptor, and the stalled
// ones a second: the limit holds the reserved descriptors, the connections
// and the dups together, with at least an eighth of what is left kept for
// the dups. It used to count two per connection for every connection's
// life (8,848 connections under ringexd's reservation and a limit of
// 20,000), and before that one, and the 10,000th subscriber under a limit
// of 20,000 stopped the server (gnet's accept failed with EMFILE).
func TestConnLimits(t *testing.T) {
	for _, tc := range []struct {
		limit     uint64
		reserved  int
		maxConns  int
		wantConns int64
		wantDups  int64
	}{
		{20000, 256 + 2*1024, 16384, 15484, 2212}, // ringexd's defaults
		{20000, 256, 10000, 10000, 9744},
		{1 << 20, 256, 16384, 16384, 1<<20 - 256 - 16384},
		{257, 256, 16384, 1, 1},
		{100, 256, 16384, 1, 1},
	} {
		conns, dups := connLimits(tc.limit, tc.reserved, tc.maxConns)
		if conns != tc.wantConns || dups != tc.wantDups {
			t.Errorf("connLimits(%d, %d, %d) = %d, %d; want %d, %d", tc.limit, tc.reserved, tc.maxConns,
				conns, dups, tc.wantConns, tc.wantDups)
		}
		if avail := int64(tc.limit) - int64(tc.reserved); avail > 2 && conns+dups > avail {
			t.Errorf("connLimits(%d, %d, %d): %d connections and %d dups do not fit %d descriptors",
				tc.limit, tc.reserved, tc.maxConns, conns, dups, avail)
		}
	}
}

// A connection that subscribes to its user's private events may queue up
// to MaxQueuedBytesPrivate, not MaxQueuedBytes: with the same traffic and
// neither reading, a public subscriber is cut at the public cap while the
// private one keeps every event, in order, and reads them all afterwards.
func TestNotifierPrivateQueueCap(t *testing.T) {
	const publicCap, privRcvBuf = 64 << 10, 128 << 10
	h := startFeed(t, "", NotifierConfig{Loops: 1, MaxQueuedBytes: publicCap, MaxQueuedBytesPrivate: 16 << 20, SocketSendBuffer: 4 << 10})
	pub := dialTestFeed(t, h.addr)
	defer pub.close()
	pub.c.SetReadBuffer(4 << 10)
	priv := dialTestFeed(t, h.addr)
	defer priv.close()
	// Not a tiny receive buffer: on loopback (64 KiB segments) a 4 KiB one
	// reopens its window only through the sender's persist probes, seconds
	// apart, once the reader catches up.
	priv.c.SetReadBuffer(privRcvBuf)
	if err := priv.login(nettest.Alice); err != nil {
		t.Fatal(err)
	}
	for _, f := range []*testFeed{pub, priv} {
		ch := chTrades
		if f == priv {
			ch = chOrders
		}
		if err := f.subscribe(feedSpec.Config.Symbol, ch); err != nil {
			t.Fatal(err)
		}
		if _, err := f.waitFor(mAck); err != nil {
			t.Fatal(err)
		}
	}
	tr := newTrader(11, h.asset, nettest.Alice.ID, nettest.Bob.ID)
	tr.submitUntilCut(t, h.n, "the stalled public subscriber")
	tr.submit(t, 2000) // well past the public cap for alice's events too
	h.closeExchange()
	want := privateOf(h.journalEvents(), nettest.Alice.ID, 0)
	priv.c.SetReadDeadline(time.Now().Add(20 * time.Second))
	var got []uint64
	for len(got) < len(want) {
		m, err := priv.next()
		if err != nil {
			t.Fatalf("private subscriber after %d of %d events: %v", len(got), len(want), err)
		}
		if m.kind == mOrder {
			got = append(got, m.seq)
		}
	}
	for i := range want {
		if got[i] != want[i].seq {
			t.Fatalf("private event %d: seq %d, want %d", i, got[i], want[i].seq)
		}
	}
	if n := h.n.slowCount.Load(); n != 1 {
		t.Errorf("%d slow-consumer cuts, want 1 (the public subscriber only)", n)
	}
	// Enough of alice's events were held back that the public cap would
	// have cut her: more than the sockets' buffers (the kernel doubles
	// what is set) and the cap.
	if len(want)*(wire.HeaderLen+wire.OrderEventLen) < 4*privRcvBuf+publicCap {
		t.Fatalf("only %d private events: too few to pass the public cap", len(want))
	}
}
