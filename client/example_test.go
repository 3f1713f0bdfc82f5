package client_test

import (
	"context"
	"fmt"
	"time"

	"github.com/ringex/ringex/client"
	"github.com/ringex/ringex/netio/wire"
)

// Place one order and wait for its ack (make run starts a server with the
// demo user alice).
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
	if err != nil {
		fmt.Println(err) // a *client.RejectError says why
		return
	}
	fmt.Println("order", ack.OrderID, "journaled at seq", ack.Seq)
}

type trades struct{ client.NopFeedHandler }

func (trades) OnTrade(t *wire.Trade) {
	fmt.Println(t.Symbol.String(), t.Qty, "@", t.Price)
}

// Subscribe to the public trades of an asset.
func ExampleDialFeed() {
	ctx := context.Background()
	f, err := client.DialFeed(ctx, "127.0.0.1:7002", "", "", trades{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer f.Close()
	f.Subscribe("BTC-USD", wire.ChanTrades, 0)
	<-f.Done()
}
