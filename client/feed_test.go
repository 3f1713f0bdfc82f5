package client

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ringex/ringex/netio/wire"
)

// feedRecorder keeps every market-data message as a line, in order.
type feedRecorder struct {
	mu    sync.Mutex
	lines []string
	snaps []wire.BookSnapshot
	end   chan error
}

func newFeedRecorder() *feedRecorder { return &feedRecorder{end: make(chan error, 1)} }

func (r *feedRecorder) add(format string, args ...any) {
	r.mu.Lock()
	r.lines = append(r.lines, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}

func (r *feedRecorder) OnSubscribed(m *wire.Subscribed) {
	r.add("subscribed %s %d %d", m.Symbol, m.Channels, m.Seq)
}
func (r *feedRecorder) OnSubRejected(m *wire.SubRejected) {
	r.add("rejected %s %d", m.Symbol, m.Reason)
}
func (r *feedRecorder) OnTrade(m *wire.Trade) {
	r.add("trade %s %d %d@%d", m.Symbol, m.Seq, m.Qty, m.Price)
}
func (r *feedRecorder) OnBookSnapshot(m *wire.BookSnapshot) {
	r.mu.Lock()
	// The levels are valid only during the call: keep a copy.
	r.snaps = append(r.snaps, wire.BookSnapshot{Symbol: m.Symbol, Seq: m.Seq,
		Bids: append([]wire.Level(nil), m.Bids...), Asks: append([]wire.Level(nil), m.Asks...)})
	r.mu.Unlock()
	r.add("snapshot %s %d %d/%d", m.Symbol, m.Seq, len(m.Bids), len(m.Asks))
}
func (r *feedRecorder) OnBookUpdate(m *wire.BookUpdate) {
	r.add("update %s %d %d %d@%d", m.Symbol, m.Seq, m.Side, m.Qty, m.Price)
}
func (r *feedRecorder) OnBBO(m *wire.BBO) {
	r.add("bbo %s %d %d/%d", m.Symbol, m.Seq, m.BidPrice, m.AskPrice)
}
func (r *feedRecorder) OnOrderEvent(m *wire.OrderEvent) { r.add("order %s %d", m.Symbol, m.Seq) }
func (r *feedRecorder) OnResumeDone(m *wire.ResumeDone) { r.add("resumed %s %d", m.Symbol, m.Seq) }
func (r *feedRecorder) OnLogout(err error)              { r.end <- err }

func (r *feedRecorder) wait(t *testing.T, want ...string) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d messages", len(want)), func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return len(r.lines) >= len(want)
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, w := range want {
		if r.lines[i] != w {
			t.Fatalf("message %d: %q, want %q\nall: %q", i, r.lines[i], w, r.lines)
		}
	}
	r.lines = r.lines[len(want):]
}

func TestFeedPublic(t *testing.T) {
	srv := newFakeServer(t)
	rec := newFeedRecorder()
	f, err := DialFeed(ctx5(t), srv.addr, "", "", rec)
	if err != nil {
		t.Fatal(err)
	}
	if f.UserID != 0 {
		t.Fatalf("a public feed logged in as %d", f.UserID)
	}
	if err := f.Subscribe("BTC-USD", wire.ChanTrades|wire.ChanBook|wire.ChanBBO, 2); err != nil {
		t.Fatal(err)
	}
	rec.wait(t,
		"subscribed BTC-USD 7 10",
		"snapshot BTC-USD 10 2/2",
		"bbo BTC-USD 10 1000/1001",
		"trade BTC-USD 11 2@1001",
		"update BTC-USD 11 2 0@1001",
	)
	f.Subscribe("NOPE", wire.ChanTrades, 0)
	f.Subscribe("BTC-USD", wire.ChanOrders, 0)
	f.Resume("BTC-USD", 3)
	rec.wait(t, "rejected NOPE 1", "rejected BTC-USD 2", "rejected BTC-USD 2")
	if err := f.Unsubscribe("BTC-USD", wire.ChanAll); err != nil {
		t.Fatal(err)
	}

	// The deepest snapshot a frame holds is read in place.
	f.Subscribe("ETH-USD", wire.ChanBook, 0)
	n := wire.MaxSnapshotSide
	rec.wait(t, "subscribed ETH-USD 2 10", fmt.Sprintf("snapshot ETH-USD 10 %d/%d", n, n), "update ETH-USD 11 2 0@1001")
	last := rec.snaps[len(rec.snaps)-1]
	if last.Bids[n-1].Price != int64(1000-(n-1)) || last.Asks[n-1].Price != int64(1001+n-1) {
		t.Fatalf("deep snapshot: last levels %+v %+v", last.Bids[n-1], last.Asks[n-1])
	}

	f.Close()
	select {
	case err := <-rec.end:
		if err != ErrClosed {
			t.Fatalf("OnLogout(%v), want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no OnLogout")
	}
	if err := f.Subscribe("BTC-USD", wire.ChanTrades, 0); err != ErrClosed {
		t.Fatalf("Subscribe after Close: %v", err)
	}
}

func TestFeedPrivate(t *testing.T) {
	srv := newFakeServer(t)
	rec := newFeedRecorder()
	f, err := DialFeed(ctx5(t), srv.addr, "alice", "key", rec)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.UserID != 7 {
		t.Fatalf("user id %d", f.UserID)
	}
	if err := f.Resume("BTC-USD", 10); err != nil {
		t.Fatal(err)
	}
	rec.wait(t,
		"subscribed BTC-USD 8 10",
		"order BTC-USD 11", "order BTC-USD 12", "order BTC-USD 13",
		"resumed BTC-USD 13",
	)
	f.Subscribe("BTC-USD", wire.ChanOrders, 0)
	rec.wait(t, "subscribed BTC-USD 8 10")
}
