package client_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/ringex/ringex/client"
	"github.com/ringex/ringex/netio/wire"
)

// The examples need a running server (make run starts one with the demo
// user alice), so they have no Output comments: go test compiles them but
// does not run them.

// Place one order and wait for its ack.
func ExampleSession_PlaceSync() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := client.Dial(ctx, "127.0.0.1:7001", "alice", "alice-demo-key", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	ack, err := s.PlaceSync(ctx, &wire.NewOrder{
		ClientOrderID: 1, Symbol: wire.MakeSymbol("BTC-USD"),
		Side: 1, Type: 1, TIF: 1, Price: 6_500_000, Qty: 10,
	})
	var rej *client.RejectError
	switch {
	case errors.As(err, &rej):
		fmt.Println("refused:", rej.Text, "code", rej.Code)
	case err != nil:
		fmt.Println(err)
	default:
		fmt.Println("order", ack.OrderID, "journaled at seq", ack.Seq)
	}
}

// acks counts the answers to pipelined requests.
type acks struct {
	acked, rejected atomic.Int64
}

func (a *acks) OnAck(*wire.OrderAck)  { a.acked.Add(1) }
func (a *acks) OnReject(*wire.Reject) { a.rejected.Add(1) }

// Send many orders without waiting for each answer: buffer them, Flush,
// and let the Handler count the answers.
func ExampleDial() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h := &acks{}
	s, err := client.Dial(ctx, "127.0.0.1:7001", "alice", "alice-demo-key", h)
	if err != nil {
		fmt.Println(err)
		return
	}
	o := wire.NewOrder{Symbol: wire.MakeSymbol("BTC-USD"), Side: 1, Type: 1, TIF: 1, Price: 6_500_000, Qty: 1}
	for i := range 1000 {
		o.ClientOrderID = uint64(i + 1)
		if err := s.NewOrder(&o); err != nil {
			fmt.Println(err)
			return
		}
	}
	s.Flush()
	// Logout waits for the server to answer, after every ack it sent.
	if err := s.Logout(ctx); err != nil {
		fmt.Println(err)
	}
	fmt.Println(h.acked.Load(), "acked,", h.rejected.Load(), "rejected")
}

type trades struct{ client.NopFeedHandler }

func (trades) OnTrade(t *wire.Trade) {
	fmt.Println(t.Symbol.String(), t.Qty, "@", t.Price, "seq", t.Seq)
}

// Subscribe to the public trades of an asset, without a login.
func ExampleDialFeed() {
	f, err := client.DialFeed(context.Background(), "127.0.0.1:7002", "", "", trades{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer f.Close()
	if err := f.Subscribe("BTC-USD", wire.ChanTrades, 0); err != nil {
		fmt.Println(err)
		return
	}
	<-f.Done()
	fmt.Println(f.Err())
}

// orders remembers the last private event sequence seen, the key to resume
// from after a reconnect.
type orders struct {
	client.NopFeedHandler
	last atomic.Uint64
}

func (o *orders) OnOrderEvent(e *wire.OrderEvent) {
	fmt.Println(wire.OrderKindText(e.Kind), "order", e.OrderID, "remaining", e.Remaining)
	o.last.Store(e.Seq)
}

// Follow one's own orders, and after a disconnection get every event
// missed in the meantime.
func ExampleFeed_Resume() {
	h := &orders{}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		f, err := client.DialFeed(ctx, "127.0.0.1:7002", "alice", "alice-demo-key", h)
		cancel()
		if err != nil {
			fmt.Println(err)
			return
		}
		// The events after the last one seen, from the exchange's
		// journal, then the live ones.
		f.Resume("BTC-USD", h.last.Load())
		<-f.Done()
		fmt.Println("disconnected:", f.Err(), "- resuming after", h.last.Load())
		time.Sleep(time.Second)
	}
}
