package marketdata

import (
	"context"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/ringex/ringex/engine"
	"github.com/ringex/ringex/netio/internal/nettest"
	"github.com/ringex/ringex/pipeline"
)

// countingSink counts the output batches the notifier has finished: the
// output consumer's progress.
type countingSink struct {
	n    *Notifier
	done atomic.Int64
}

func (s *countingSink) HandleOutput(a *pipeline.Asset, lo, hi int64) {
	s.n.HandleOutput(a, lo, hi)
	s.done.Add(1)
}

// drainGate stalls the notifier's event loops at the start of their next
// drain task while armed.
type drainGate struct {
	armed   atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func newDrainGate(n *Notifier) *drainGate {
	g := &drainGate{entered: make(chan struct{}, 64), release: make(chan struct{})}
	n.drainHook = func() {
		if g.armed.Load() {
			g.entered <- struct{}{}
			<-g.release
		}
	}
	return g
}

func (g *drainGate) waitEntered(t *testing.T) {
	t.Helper()
	select {
	case <-g.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("no drain task reached the gate")
	}
}

func (g *drainGate) open() {
	if g.armed.Swap(false) {
		close(g.release)
	}
}

// waitProgress waits for the output consumer to finish a batch after
// before, and fails if it does not (it is blocked).
func waitProgress(t *testing.T, s *countingSink, before int64, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for s.done.Load() <= before {
		if time.Now().After(deadline) {
			t.Fatalf("%s: the output consumer made no progress in 5 s (it waits for an event loop)", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestNotifierSubscribeDuringStall: a Subscribe handled while the event
// loop's drain is stalled must not block the asset's output consumer (and
// through a full output ring, the matcher). It used to drain the loop's
// inbox itself while holding the asset's lock, which the output consumer
// takes for every batch.
func TestNotifierSubscribeDuringStall(t *testing.T) {
	var sink *countingSink
	var gate *drainGate
	h := startFeedSink(t, "", NotifierConfig{Loops: 1}, func(n *Notifier) pipeline.OutputSink {
		sink, gate = &countingSink{n: n}, newDrainGate(n)
		return sink
	})
	defer gate.open()
	tr := newTrader(11, h.asset, nettest.Alice.ID, nettest.Bob.ID)
	early := dialTestFeed(t, h.addr)
	defer early.close()
	if err := early.subscribe(feedSpec.Config.Symbol, chBook); err != nil {
		t.Fatal(err)
	}
	if _, err := early.waitFor(mAck); err != nil {
		t.Fatal(err)
	}
	tr.submit(t, 200)

	gate.armed.Store(true)
	late := dialTestFeed(t, h.addr)
	defer late.close()
	if err := late.subscribe(feedSpec.Config.Symbol, chBook); err != nil {
		t.Fatal(err)
	}
	gate.waitEntered(t) // the loop is stalled in a drain
	before := sink.done.Load()
	tr.submit(t, 200)
	waitProgress(t, sink, before, "subscribe during a stalled drain")

	gate.open()
	restingOrder(t, h.asset, nettest.Alice.ID, 10)
	h.closeExchange()
	checkBook(t, h, []*testFeed{early, late})
}

// checkBook reads each feed's book (its last snapshot and the updates
// after it) up to the book's last event and compares it with the engine's.
func checkBook(t *testing.T, h *feedHarness, feeds []*testFeed) {
	t.Helper()
	final := h.asset.Book().LastEventSeq()
	wantBids := h.asset.Book().Depth(engine.Buy, -1, nil)
	wantAsks := h.asset.Book().Depth(engine.Sell, -1, nil)
	for i, f := range feeds {
		f.c.SetReadDeadline(time.Now().Add(20 * time.Second))
		var pic *bookPicture
		for pic == nil || pic.lastSeq < final {
			m, err := f.next()
			if err != nil {
				t.Fatalf("subscriber %d: %v", i, err)
			}
			switch {
			case m.kind == mSnapshot:
				pic = newBookPicture(m)
			case m.kind == mLevel && pic != nil:
				pic.apply(m)
			}
		}
		if got := pic.levels(engine.Buy); !slices.Equal(got, wantBids) {
			t.Errorf("subscriber %d: bids\n got %v\nwant %v", i, got, wantBids)
		}
		if got := pic.levels(engine.Sell); !slices.Equal(got, wantAsks) {
			t.Errorf("subscriber %d: asks\n got %v\nwant %v", i, got, wantAsks)
		}
	}
}

// inboxBytes is what a loop's inbox holds now.
func inboxBytes(n *Notifier) (total int) {
	n.connsMu.Lock()
	defer n.connsMu.Unlock()
	for _, fl := range n.loops {
		fl.mu.Lock()
		for _, b := range fl.inbox {
			total += b.size()
		}
		fl.mu.Unlock()
	}
	return total
}

// TestNotifierLoopInboxBound: while an event loop is stalled, its inbox
// stays within MaxLoopQueue and the output consumer never waits: the
// loop's public batches are dropped, a connection whose private events do
// not fit is cut with Logout 3, and once the loop runs again its book
// subscribers get a fresh snapshot from which updates continue exactly.
func TestNotifierLoopInboxBound(t *testing.T) {
	const bound = 64 << 10
	var sink *countingSink
	var gate *drainGate
	h := startFeedSink(t, "", NotifierConfig{Loops: 1, MaxLoopQueue: bound}, func(n *Notifier) pipeline.OutputSink {
		sink, gate = &countingSink{n: n}, newDrainGate(n)
		return sink
	})
	defer gate.open()
	book := dialTestFeed(t, h.addr)
	defer book.close()
	priv := dialTestFeed(t, h.addr)
	defer priv.close()
	if err := book.subscribe(feedSpec.Config.Symbol, chBook); err != nil {
		t.Fatal(err)
	}
	if err := priv.login(nettest.Alice); err != nil {
		t.Fatal(err)
	}
	if err := priv.subscribe(feedSpec.Config.Symbol, chOrders); err != nil {
		t.Fatal(err)
	}
	if _, err := priv.waitFor(mAck); err != nil {
		t.Fatal(err)
	}
	if _, err := book.waitFor(mAck); err != nil {
		t.Fatal(err)
	}

	gate.armed.Store(true)
	tr := newTrader(12, h.asset, nettest.Alice.ID, nettest.Bob.ID)
	tr.submit(t, 1)
	gate.waitEntered(t)
	for range 40 {
		before := sink.done.Load()
		tr.submit(t, 100)
		waitProgress(t, sink, before, "stalled loop")
		if got := inboxBytes(h.n); got > bound+16<<10 {
			t.Fatalf("the stalled loop's inbox holds %d bytes, bound %d", got, bound)
		}
	}
	if h.n.conflated.Load() == 0 {
		t.Fatal("nothing was conflated: the test did not pass the bound")
	}
	gate.open()
	restingOrder(t, h.asset, nettest.Bob.ID, 10)
	h.closeExchange()
	checkBook(t, h, []*testFeed{book})

	priv.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	m, err := priv.waitFor(mLogout)
	if err != nil || m.reason != 3 {
		t.Fatalf("private subscriber: %+v %v, want Logout 3 (its events did not fit)", m, err)
	}
}

// waitLoopsIdle returns once every event loop of n has finished what it
// was doing: a task queued on a gnet loop runs after the loop's earlier
// tasks (the drains) have returned.
func waitLoopsIdle(t *testing.T, n *Notifier) {
	t.Helper()
	n.connsMu.Lock()
	var loops []*feedLoop
	for _, fl := range n.loops {
		loops = append(loops, fl)
	}
	n.connsMu.Unlock()
	for _, fl := range loops {
		done := make(chan struct{})
		if err := fl.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			close(done)
			return nil
		})); err != nil {
			t.Fatal(err)
		}
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("an event loop stayed busy for 10 s")
		}
	}
}

// heapInUse is the live heap after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC() // sync.Pool victims
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestNotifierSlowSubscriberMemory: subscribers that never read cost about
// the bytes queued for them, and the memory comes back once they are gone.
// Before the outbox, gnet's outbound buffer held each unsent write in its
// own power-of-two block from a pool (the blocks outlived the connections:
// 1.5 GB live after every market-data connection had closed).
func TestNotifierSlowSubscriberMemory(t *testing.T) {
	if raceEnabled {
		t.Skip("heap figures under -race measure the race detector (make test runs this without it)")
	}
	const subs = 20
	h := startFeed(t, "", NotifierConfig{Loops: 1, MaxQueuedBytes: 4 << 20, SocketSendBuffer: 4 << 10})
	tr := newTrader(13, h.asset, nettest.Alice.ID, nettest.Bob.ID)
	tr.submit(t, 200)
	before := heapInUse()
	var feeds []*testFeed
	for range subs {
		f := dialTestFeed(t, h.addr)
		f.c.SetReadBuffer(4 << 10)
		for _, ch := range []channel{chTrades, chBook, chBBO} {
			if err := f.subscribe(feedSpec.Config.Symbol, ch); err != nil {
				t.Fatal(err)
			}
		}
		feeds = append(feeds, f)
	}
	queued := func() (total int) {
		h.n.eachConn(func(fc *feedConn) {
			_, q, _, _, _ := fc.Out.Stats()
			total += q
		})
		return total
	}
	for i := 0; queued() < subs*(1<<20); i++ {
		tr.submit(t, 500)
	}
	// Let the pipeline and the loop's inbox drain, so that the heap holds
	// the queues and not output still on its way to them.
	h.closeExchange()
	if !nettest.WaitCond(10*time.Second, func() bool { return inboxBytes(h.n) == 0 }) {
		t.Fatal("the loop's inbox did not drain")
	}
	// An empty inbox is not an idle loop: the last drain may still be
	// joining a batch of megabytes for each connection in turn (seen: a
	// 19 MB join buffer live in the heap below, 2.8 bytes per queued byte).
	waitLoopsIdle(t, h.n)
	queuedNow := queued()
	during := heapInUse()

	for _, f := range feeds {
		f.close()
	}
	if !nettest.WaitCond(10*time.Second, func() bool { return h.n.srv.Conns.Load() == 0 }) {
		t.Fatalf("%d connections still open", h.n.srv.Conns.Load())
	}
	after := heapInUse()
	// What the connections cost is what closing them gave back (the book
	// and the journal grew meanwhile, and stay).
	cost := int64(during) - int64(after)
	t.Logf("%d never-reading subscribers, %d bytes queued: heap %d with them, %d after closing them (%.2f bytes per queued byte), %d before opening them",
		subs, queuedNow, during, after, float64(cost)/float64(queuedNow), before)
	// The queues themselves cost about their bytes (a heap profile shows
	// the outbox blocks at 0.9-1.1x); the rest is the connections' other
	// buffers and the noise of a heap measured while the server runs.
	if cost > int64(queuedNow)*2+4<<20 {
		t.Errorf("the connections held %d bytes of heap for %d queued: more than 2x", cost, queuedNow)
	}
	if after > before+16<<20 {
		t.Errorf("heap %d after every subscriber closed, %d before they opened: the queues were not freed", after, before)
	}
}
