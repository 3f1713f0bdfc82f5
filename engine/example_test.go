package engine_test

import (
	"bytes"
	"fmt"

	"github.com/ringex/ringex/engine"
)

func Example() {
	book := engine.NewBook(engine.AssetConfig{
		Symbol: "BTC-USD", TickSize: 1, LotSize: 1, MinPrice: 1, MaxPrice: 1_000_000, MaxQty: 1_000,
	})
	cmds := []engine.Command{
		// Alice offers 5 at 100 and 3 at 101.
		{Seq: 1, OrderID: 1, UserID: 1, Kind: engine.CmdNew, Side: engine.Sell, Type: engine.Limit, TIF: engine.GTC, Price: 100, Qty: 5},
		{Seq: 2, OrderID: 2, UserID: 1, Kind: engine.CmdNew, Side: engine.Sell, Type: engine.Limit, TIF: engine.GTC, Price: 101, Qty: 3},
		// Bob buys 7 up to 101: he takes all of 100 and 2 of 101.
		{Seq: 3, OrderID: 3, UserID: 2, Kind: engine.CmdNew, Side: engine.Buy, Type: engine.Limit, TIF: engine.IOC, Price: 101, Qty: 7},
		// Alice cancels what is left.
		{Seq: 4, OrderID: 2, UserID: 1, Kind: engine.CmdCancel},
	}
	for i := range cmds {
		for _, e := range book.Submit(&cmds[i]) {
			switch e.Kind {
			case engine.EvAccepted:
				fmt.Printf("%d: order %d rests %d@%d\n", e.Seq, e.OrderID, e.Qty, e.Price)
			case engine.EvTrade:
				fmt.Printf("%d: order %d buys %d@%d from order %d\n", e.Seq, e.OrderID, e.Qty, e.Price, e.MakerOrderID)
			case engine.EvDone:
				fmt.Printf("%d: order %d filled\n", e.Seq, e.OrderID)
			case engine.EvCanceled:
				fmt.Printf("%d: order %d canceled %d (reason %d)\n", e.Seq, e.OrderID, e.Qty, e.Reason)
			}
		}
		if i == 2 {
			for _, c := range book.Changes() {
				fmt.Printf("   level side %d price %d now %d in %d orders\n", c.Side, c.Price, c.Qty, c.Count)
			}
		}
	}

	// A snapshot restores to a book that continues exactly where this one is.
	var snap bytes.Buffer
	if err := book.Snapshot(&snap); err != nil {
		panic(err)
	}
	restored, err := engine.Restore(&snap)
	if err != nil {
		panic(err)
	}
	fmt.Println("restored at command", restored.LastCmdSeq(), "event", restored.LastEventSeq())
	// Output:
	// 1: order 1 rests 5@100
	// 2: order 2 rests 3@101
	// 3: order 3 buys 5@100 from order 1
	// 4: order 1 filled
	// 5: order 3 buys 2@101 from order 2
	// 6: order 3 filled
	//    level side 2 price 100 now 0 in 0 orders
	//    level side 2 price 101 now 1 in 1 orders
	// 7: order 2 canceled 1 (reason 1)
	// restored at command 4 event 7
}
