package client

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ringex/ringex/netio/wire"
)

// counter is a Handler that counts answers and allocates nothing.
type counter struct{ n atomic.Int64 }

func (c *counter) OnAck(*wire.OrderAck)  { c.n.Add(1) }
func (c *counter) OnReject(*wire.Reject) { c.n.Add(1) }

// BenchmarkPipelined sends orders in batches of 64 per Flush to the fake
// server and counts the answers, as ringex-load does: the client's
// per-order cost and allocations (the fake server, in the same process,
// allocates nothing per order either).
func BenchmarkPipelined(b *testing.B) {
	srv := newFakeServer(b)
	h := &counter{}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := Dial(ctx, srv.addr, "alice", "key", h)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	o := wire.NewOrder{Symbol: wire.MakeSymbol("BTC-USD"), Side: 1, Type: 1, TIF: 1, Price: 100, Qty: 1}
	sent := int64(0)
	b.ReportAllocs()
	for b.Loop() {
		o.ClientOrderID += 2
		if err := s.NewOrder(&o); err != nil {
			b.Fatal(err)
		}
		sent++
		if sent%64 == 0 {
			s.Flush()
			for sent-h.n.Load() > 4096 { // bound what is in flight
				time.Sleep(10 * time.Microsecond)
			}
		}
	}
	s.Flush()
	for h.n.Load() < sent {
		time.Sleep(10 * time.Microsecond)
	}
	b.ReportMetric(float64(sent)/b.Elapsed().Seconds(), "orders/s")
}

// BenchmarkPlaceSync is one synchronous round trip per op: what the CLI
// pays per command, over loopback.
func BenchmarkPlaceSync(b *testing.B) {
	srv := newFakeServer(b)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Dial(ctx, srv.addr, "alice", "key", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	o := wire.NewOrder{Symbol: wire.MakeSymbol("BTC-USD"), Side: 1, Type: 1, TIF: 1, Price: 100, Qty: 1}
	b.ReportAllocs()
	for b.Loop() {
		o.ClientOrderID += 2
		if _, err := s.PlaceSync(ctx, &o); err != nil {
			b.Fatal(err)
		}
	}
}
