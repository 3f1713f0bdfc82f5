//go:build !race

package client

import (
	"context"
	"testing"
	"time"

	"github.com/ringex/ringex/netio/wire"
)

// TestPipelinedZeroAllocs fails if buffering a request, writing it, or
// handling its answer allocates (the race detector allocates, hence the
// build tag). Allocations are counted process-wide, the fake server's
// included, over 2000 orders: fewer than one per order rounds to 0.
func TestPipelinedZeroAllocs(t *testing.T) {
	srv := newFakeServer(t)
	h := &counter{}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := Dial(ctx, srv.addr, "alice", "key", h)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	o := wire.NewOrder{Symbol: wire.MakeSymbol("BTC-USD"), Side: 1, Type: 1, TIF: 1, Price: 100, Qty: 1}
	var sent int64
	run := func() {
		o.ClientOrderID++ // acks and rejects alternate
		s.NewOrder(&o)
		if sent++; sent%64 == 0 {
			s.Flush()
		}
	}
	for range 512 { // warm up: buffers grow, goroutines start
		run()
	}
	allocs := testing.AllocsPerRun(2000, run)
	s.Flush()
	waitFor(t, "every answer", func() bool { return h.n.Load() == sent })
	if allocs != 0 {
		t.Fatalf("%v allocations per pipelined order, want 0", allocs)
	}
}
