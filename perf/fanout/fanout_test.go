package fanout

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/ringex/ringex/client"
	"github.com/ringex/ringex/netio/wire"
)

// startFloor serves f on a free loopback port until the test ends.
func startFloor(t *testing.T, f *Floor) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- f.Serve(ln) }()
	t.Cleanup(func() {
		f.Close()
		if err := <-served; !errors.Is(err, ErrClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// feedLog is a client.FeedHandler that sends what it gets to channels.
type feedLog struct {
	client.NopFeedHandler
	subscribed chan wire.Subscribed
	rejected   chan wire.SubRejected
	trades     chan wire.Trade
}

func (h *feedLog) OnSubscribed(m *wire.Subscribed)   { h.subscribed <- *m }
func (h *feedLog) OnSubRejected(m *wire.SubRejected) { h.rejected <- *m }
func (h *feedLog) OnTrade(m *wire.Trade)             { h.trades <- *m }

func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s within 10 s", what)
		panic("unreachable")
	}
}

// TestFloorProtocol: the Go client logs in to a floor, is refused an
// unknown asset and a channel the floor does not serve, subscribes to the
// trades and gets every generated trade in sequence, stamped with its
// generation time, in both modes.
func TestFloorProtocol(t *testing.T) {
	for _, f := range []*Floor{{Mode: Naive}, {Mode: Coalesce, Window: 5 * time.Millisecond}} {
		t.Run(f.Mode.String(), func(t *testing.T) {
			addr := startFloor(t, f)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			// Trades made before the subscription are not sent.
			if _, _, err := f.Generate(ctx, 10000, 3*time.Millisecond); err != nil {
				t.Fatal(err)
			}
			h := &feedLog{subscribed: make(chan wire.Subscribed, 4), rejected: make(chan wire.SubRejected, 4), trades: make(chan wire.Trade, 200)}
			feed, err := client.DialFeed(ctx, addr, "alice", "any-key", h)
			if err != nil {
				t.Fatal(err)
			}
			defer feed.Close()
			if err := feed.Subscribe("NOPE", wire.ChanTrades, 0); err != nil {
				t.Fatal(err)
			}
			if r := recv(t, h.rejected, "SubRejected"); r.Reason != wire.SubUnknownAsset {
				t.Fatalf("unknown asset: reason %d", r.Reason)
			}
			if err := feed.Subscribe("BTC-USD", wire.ChanBook, 0); err != nil {
				t.Fatal(err)
			}
			if r := recv(t, h.rejected, "SubRejected"); r.Reason != wire.SubBadChannels {
				t.Fatalf("book channel: reason %d", r.Reason)
			}
			if err := feed.Subscribe("BTC-USD", wire.ChanTrades, 0); err != nil {
				t.Fatal(err)
			}
			s := recv(t, h.subscribed, "Subscribed")
			if s.Seq == 0 || s.Channels != wire.ChanTrades {
				t.Fatalf("Subscribed %+v: want the trades made before it (seq > 0) and channel 1", s)
			}
			start := time.Now().UnixNano()
			first, last, err := f.Generate(ctx, 2000, 50*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			if first != s.Seq+1 || last != s.Seq+100 {
				t.Fatalf("generated %d-%d after Subscribed %d: want 100 trades from %d", first, last, s.Seq, s.Seq+1)
			}
			for seq := first; seq <= last; seq++ {
				tr := recv(t, h.trades, "trade")
				if tr.Seq != seq || tr.Symbol != wire.MakeSymbol("BTC-USD") {
					t.Fatalf("trade %+v, want sequence %d of BTC-USD", tr, seq)
				}
				if tr.Time < start || tr.Time > time.Now().UnixNano() {
					t.Fatalf("trade %d stamped %d, not its generation time (after %d)", seq, tr.Time, start)
				}
			}
			// A repeated Subscribe says where the trades resume: after
			// the last one sent.
			if err := feed.Subscribe("BTC-USD", wire.ChanTrades, 0); err != nil {
				t.Fatal(err)
			}
			if s := recv(t, h.subscribed, "Subscribed"); s.Seq != last {
				t.Fatalf("Subscribed again at %d after trade %d", s.Seq, last)
			}
			first, last, err = f.Generate(ctx, 2000, 5*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			for seq := first; seq <= last; seq++ {
				if tr := recv(t, h.trades, "trade"); tr.Seq != seq {
					t.Fatalf("trade %d after the second Subscribe, want %d", tr.Seq, seq)
				}
			}
		})
	}
}

func trades(seqs ...uint64) []byte {
	var b []byte
	for _, s := range seqs {
		b = wire.AppendTrade(b, &wire.Trade{Symbol: wire.MakeSymbol("BTC-USD"), Seq: s, TradeID: s, Qty: 1, Time: time.Now().UnixNano()})
	}
	return b
}

// oneByteReader returns one byte per Read, so that every frame is split.
type oneByteReader struct{ r io.Reader }

func (o oneByteReader) Read(p []byte) (int, error) { return o.r.Read(p[:1]) }

// TestReaderCheck: the reader counts the trades, reports a gap in a
// contiguous feed, a sequence that goes back, and a feed that differs from
// the first subscriber's, whole or split into single bytes.
func TestReaderCheck(t *testing.T) {
	cases := []struct {
		name       string
		seqs       []uint64
		contiguous bool
		want       Check
	}{
		{"in order", []uint64{11, 12, 13}, true, Check{Count: 3, Last: 13}},
		{"gap", []uint64{11, 12, 15, 16}, true, Check{Count: 4, Last: 16, Gaps: 2}},
		{"back", []uint64{11, 13, 12}, false, Check{Count: 3, Last: 13, OutOfOrder: 1}},
		{"duplicate", []uint64{11, 12, 12}, true, Check{Count: 3, Last: 12, OutOfOrder: 1}},
		{"jumps allowed", []uint64{11, 20, 35}, false, Check{Count: 3, Last: 35}},
	}
	for _, tc := range cases {
		for _, split := range []bool{false, true} {
			s := newSubscribers(1)
			var c Check
			c.Start(10, tc.contiguous)
			var r io.Reader = bytes.NewReader(trades(tc.seqs...))
			if split {
				r = oneByteReader{r}
			}
			if err := s.read(r, &c, s.recs[0]); err != io.EOF {
				t.Fatalf("%s: read ended with %v, want EOF", tc.name, err)
			}
			got := c
			got.Hash, got.Contiguous = 0, false
			if got != tc.want {
				t.Errorf("%s (split %v): %+v, want %+v", tc.name, split, got, tc.want)
			}
			if n := s.Latency().Count(); n != int64(len(tc.seqs)) {
				t.Errorf("%s: %d latencies recorded, want %d", tc.name, n, len(tc.seqs))
			}
		}
	}

	// A subscriber that received other trades than the first, as many.
	s := newSubscribers(3)
	for _, seqs := range [][]uint64{{11, 12, 13}, {11, 12, 13}, {11, 12, 14}} {
		sub := &subscriber{}
		sub.check.Start(10, false)
		if err := s.read(bytes.NewReader(trades(seqs...)), &sub.check, s.recs[0]); err != io.EOF {
			t.Fatal(err)
		}
		s.subs = append(s.subs, sub)
	}
	v := s.Verdict(3)
	if v.Differ != 1 || v.Missing != 0 || v.OK() {
		t.Fatalf("verdict %+v: want one subscriber differing, not OK", v)
	}
	if v := s.Verdict(4); v.Missing != 3 {
		t.Fatalf("verdict with 4 trades sent: %d missing, want 3", v.Missing)
	}
}

// TestRunAgainstFloor is a tiny end-to-end fan-out run: 10 subscribers for
// a second at 1,000 trades/s against an in-process coalescing floor, with
// each kind of reader. Every subscriber must get every trade, in order.
func TestRunAgainstFloor(t *testing.T) {
	readers := []Readers{Goroutines}
	if epollSupported {
		readers = append(readers, Epoll)
	}
	for _, r := range readers {
		t.Run(r.String(), func(t *testing.T) { testRunAgainstFloor(t, r) })
	}
}

func testRunAgainstFloor(t *testing.T, readers Readers) {
	f := &Floor{Mode: Coalesce, Window: 2 * time.Millisecond}
	addr := startFloor(t, f)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := Run(ctx, Config{
		Label: "coalesce 2ms", Addr: addr, Symbol: "BTC-USD", Subscribers: 10, Readers: readers,
		Rate: 1000, Duration: time.Second, Drain: 10 * time.Second, Contiguous: true,
		Drive: func(ctx context.Context) (uint64, error) {
			first, last, err := f.Generate(ctx, 1000, time.Second)
			return last - first + 1, err
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	res.Print(&out)
	t.Log("\n" + out.String())
	if !res.OK() || res.Trades != 1000 || res.Deliveries != 10_000 || res.Latency.Count != 10_000 {
		t.Fatalf("run not OK: trades %d, deliveries %d, latencies %d, verdict %+v, errors %v",
			res.Trades, res.Deliveries, res.Latency.Count, res.Verdict, res.Errors)
	}
}
