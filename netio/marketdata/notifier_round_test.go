package marketdata

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ringex/ringex/netio/internal/nettest"
	"github.com/ringex/ringex/pipeline"
)

// TestNotifierServesIOInRound: while an event loop writes a batch to many
// subscribers, it still reads requests and closes connections: a Subscribe
// sent meanwhile is answered (Subscribed and its snapshot) and a closed
// connection stops counting against MaxConns before every subscriber has
// the batch. A drain used to write every subscriber of the loop in one
// task (hundreds of ms at 5,000 subscribers a loop), and the loop read,
// accepted and closed nothing until it ended: 10,000 subscribers with
// churn made 3-25 % of the churn's cycles and Logout 5 (too many
// connections) for connections the clients had closed.
//
// The loop is stopped at the start of each of its drain tasks and let go
// one task at a time; at the task that takes the Subscribe the test counts
// the subscribers that have the batch (their sockets hold it: the loop
// stands still meanwhile).
func TestNotifierServesIOInRound(t *testing.T) {
	const subs = 1000 // several of a round's steps
	type entry struct{ control, heldControl bool }
	var (
		armed   atomic.Bool
		entered = make(chan entry, 64)
		step    = make(chan struct{})
		done    = make(chan struct{})
	)
	h := startFeedSink(t, "", NotifierConfig{Loops: 1}, func(n *Notifier) pipeline.OutputSink {
		n.drainHook = func() {
			if !armed.Load() {
				return
			}
			var e entry
			n.connsMu.Lock()
			for _, fl := range n.loops {
				for _, b := range fl.work {
					e.control = e.control || len(b.ctl) > 0
				}
				for _, b := range append(fl.curBatches[:len(fl.curBatches):len(fl.curBatches)], fl.nextBatches...) {
					e.heldControl = e.heldControl || b.control
				}
			}
			n.connsMu.Unlock()
			entered <- e
			select {
			case <-step:
			case <-done:
			}
		}
		return n
	})
	defer close(done) // lets the loop go on
	sym := feedSpec.Config.Symbol
	feeds := make([]*testFeed, subs)
	for i := range feeds {
		f := dialTestFeed(t, h.addr)
		defer f.close()
		if err := f.subscribe(sym, chBook); err != nil {
			t.Fatal(err)
		}
		feeds[i] = f
	}
	for i, f := range feeds {
		f.c.SetReadDeadline(time.Now().Add(20 * time.Second))
		if _, err := f.waitFor(mSnapshot); err != nil {
			t.Fatalf("subscriber %d: %v", i, err)
		}
	}
	late := dialTestFeed(t, h.addr)
	defer late.close()
	leaving := dialTestFeed(t, h.addr)
	if err := leaving.subscribe(sym, chBook); err != nil {
		t.Fatal(err)
	}
	if _, err := leaving.waitFor(mSnapshot); err != nil {
		t.Fatal(err)
	}
	open := h.n.srv.Conns.Load()

	armed.Store(true)
	restingOrder(t, h.asset, nettest.Alice.ID, 10) // a level update for every subscriber
	if e := waitEntry(t, entered); e.control {
		t.Fatal("the first drain task took a control batch")
	}
	if err := late.subscribe(sym, chBook); err != nil {
		t.Fatal(err)
	}
	leaving.close()
	// Let the loop go one task at a time until one takes the Subscribe.
	for tasks := 1; ; tasks++ {
		step <- struct{}{}
		if e := waitEntry(t, entered); !e.control {
			continue
		}
		have := 0
		for _, f := range feeds {
			if readable(f) {
				have++
			}
		}
		t.Logf("the Subscribe was taken by drain task %d, when %d of %d subscribers had the batch; connections %d (%d before the close)",
			tasks+1, have, subs, h.n.srv.Conns.Load(), open)
		if have == subs {
			t.Errorf("the loop read the Subscribe only after writing the batch to all %d subscribers", subs)
		}
		if got := h.n.srv.Conns.Load(); got != open-1 {
			t.Errorf("%d connections counted, want %d: the closed one still counts", got, open-1)
		}
		// The control batch is done with its step: it is not kept (nor
		// counted against MaxLoopQueue) until the round ends.
		step <- struct{}{}
		if e := waitEntry(t, entered); e.heldControl {
			t.Error("a control batch outlived the step that wrote it")
		}
		break
	}
	armed.Store(false)
	step <- struct{}{}
	late.c.SetReadDeadline(time.Now().Add(20 * time.Second))
	for _, k := range []msgKind{mAck, mSnapshot} {
		if _, err := late.waitFor(k); err != nil {
			t.Fatalf("late subscriber: %v", err)
		}
	}
	h.closeExchange()
	final := h.asset.Book().LastEventSeq()
	for i, f := range feeds {
		f.c.SetReadDeadline(time.Now().Add(20 * time.Second))
		if m, err := f.waitFor(mLevel); err != nil || m.seq != final {
			t.Fatalf("subscriber %d: level update %d, %v; want %d", i, m.seq, err, final)
		}
	}
}

// waitEntry waits for the event loop to enter a drain task.
func waitEntry[E any](t *testing.T, entered <-chan E) E {
	t.Helper()
	select {
	case e := <-entered:
		return e
	case <-time.After(20 * time.Second):
		t.Fatal("the event loop ran no drain task")
		panic("unreachable")
	}
}

// readable reports whether f has bytes to read, waiting a little for them.
func readable(f *testFeed) bool {
	if f.r.Buffered() > 0 {
		return true
	}
	f.c.SetReadDeadline(time.Now().Add(2 * time.Millisecond))
	_, err := f.r.Peek(1)
	f.c.SetReadDeadline(time.Time{})
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded) {
		return false
	}
	return err == nil
}

// TestNotifierSeqOrderInRounds: with more subscribers on a loop than one
// drain step writes, reading while the trading goes on (so that batches
// arrive while a round is half written, and connections already written
// in it wait for the next), and a coalescing window, every subscriber gets
// every trade and level update, and its own order events, in sequence
// order. Subscribers of different channels (trades, book, both) make
// batches that reach part of a round's connections: a batch of level
// changes alone, gathered into connections already written in the round
// and waiting for the next (and into no others), used to be released with
// the round, before their write.
func TestNotifierSeqOrderInRounds(t *testing.T) {
	const public, cmds, markerPrice = 600, 1500, 10
	h := startFeedSink(t, "", NotifierConfig{Loops: 1, MaxCoalesce: 2 * time.Millisecond}, func(n *Notifier) pipeline.OutputSink {
		n.drainChunk = 16 // rounds of many steps
		return n
	})
	sym := feedSpec.Config.Symbol
	users := []nettest.User{nettest.Alice, nettest.Bob, nettest.Carol}
	type sub struct {
		f    *testFeed
		user uint32 // 0: public channels only
	}
	var feeds []sub
	tradesOnly := func(i int) bool { return i < public && i%3 == 0 }
	for i := range public + len(users) {
		f := dialTestFeed(t, h.addr)
		defer f.close()
		s := sub{f: f}
		if i >= public {
			u := users[i-public]
			if err := f.login(u); err != nil {
				t.Fatal(err)
			}
			s.user = u.ID
			if err := f.subscribeAll(sym); err != nil {
				t.Fatal(err)
			}
		} else {
			// Trades only, the book only, or both: batches of level
			// changes alone reach part of a round's connections.
			for _, ch := range [][]channel{{chTrades}, {chBook}, {chTrades, chBook}}[i%3] {
				if err := f.subscribe(sym, ch); err != nil {
					t.Fatal(err)
				}
			}
		}
		feeds = append(feeds, s)
	}
	for i, s := range feeds {
		acks := 1 // wait for every subscription to be in force before the trading
		if i < public && i%3 == 2 {
			acks = 2
		}
		for range acks {
			if _, err := s.f.waitFor(mAck); err != nil {
				t.Fatalf("subscriber %d: %v", i, err)
			}
		}
	}
	type result struct {
		trades, priv int
		last         uint64
		err          error
	}
	results := make([]result, len(feeds))
	// next reads one message of s and checks its order; it reports the
	// marker: the level update of restingOrder's price, the run's last
	// public message.
	next := func(s sub, r *result) (marker bool) {
		m, err := s.f.next()
		if err != nil {
			r.err = fmt.Errorf("after seq %d: %w", r.last, err)
			return false
		}
		switch m.kind {
		case mSnapshot:
			if m.seq < r.last {
				r.err = fmt.Errorf("snapshot at seq %d after seq %d", m.seq, r.last)
			}
			r.last = m.seq
			return false
		case mTrade, mLevel, mBBO, mOrder:
		default:
			return false
		}
		if m.seq < r.last {
			r.err = fmt.Errorf("message %+v (seq %d) after seq %d", m, m.seq, r.last)
			return false
		}
		r.last = m.seq
		switch m.kind {
		case mTrade:
			r.trades++
		case mOrder:
			r.priv++
		}
		return m.kind == mLevel && m.price == markerPrice
	}
	var wg sync.WaitGroup
	for i, s := range feeds {
		if tradesOnly(i) {
			continue // no marker: read once the trading is over
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.f.c.SetReadDeadline(time.Now().Add(60 * time.Second))
			for r := &results[i]; r.err == nil && !next(s, r); {
			}
		}()
	}
	// Paced, so that batches keep arriving while rounds are written.
	tr := newTrader(3, h.asset, nettest.Alice.ID, nettest.Bob.ID, nettest.Carol.ID)
	for range cmds / 20 {
		tr.submit(t, 20)
		time.Sleep(time.Millisecond)
	}
	restingOrder(t, h.asset, nettest.Alice.ID, markerPrice)
	h.closeExchange()
	evs := h.journalEvents()
	wg.Wait()
	wantTrades := len(trades(evs))
	for i := range results {
		r, s := &results[i], feeds[i]
		if tradesOnly(i) {
			s.f.c.SetReadDeadline(time.Now().Add(20 * time.Second))
			for r.err == nil && r.trades < wantTrades {
				next(s, r)
			}
		}
		if s.user != 0 {
			// The marker's own order event follows its level update.
			want := len(privateOf(evs, s.user, 0))
			s.f.c.SetReadDeadline(time.Now().Add(10 * time.Second))
			for r.err == nil && r.priv < want {
				next(s, r)
			}
			if r.priv != want {
				t.Errorf("subscriber %d (user %d): %d private events, journal has %d", i, s.user, r.priv, want)
			}
		}
		if r.err != nil {
			t.Fatalf("subscriber %d: %v", i, r.err)
		}
		if bookOnly := i < public && i%3 == 1; !bookOnly && r.trades != wantTrades {
			t.Errorf("subscriber %d: %d trades, journal has %d", i, r.trades, wantTrades)
		}
	}
}
