package journal_test

import (
	"fmt"
	"log"
	"log/slog"
	"os"

	"github.com/ringex/ringex/engine"
	"github.com/ringex/ringex/journal"
)

func Example() {
	dir, err := os.MkdirTemp("", "journal-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	policy, err := journal.ParseSyncPolicy("always") // the -sync flag
	if err != nil {
		log.Fatal(err)
	}
	store, err := journal.Open(journal.Options{Dir: dir, Sync: policy, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	const btc = 1
	if err := store.PutAssetConfig(btc, engine.AssetConfig{Symbol: "BTC-USD", TickSize: 1, LotSize: 1, MaxPrice: 1e9, MaxQty: 1e6}); err != nil {
		log.Fatal(err)
	}

	// The journal consumer: one group commit per available ring range.
	batch := []engine.Command{
		{Seq: 1, Kind: engine.CmdNew, OrderID: 100, UserID: 7, Side: engine.Buy, Type: engine.Limit, TIF: engine.GTC, Price: 500, Qty: 10},
		{Seq: 2, Kind: engine.CmdNew, OrderID: 101, UserID: 8, Side: engine.Sell, Type: engine.Limit, TIF: engine.GTC, Price: 500, Qty: 4},
	}
	if err := store.AppendCommands(btc, batch); err != nil {
		log.Fatal(err) // errors.Is(err, journal.ErrUnavailable): stop acknowledging
	}
	store.Close()

	// Recovery: newest snapshot (none here), then replay after it.
	store, err = journal.Open(journal.Options{Dir: dir, Sync: policy, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	_, _, _, ok, err := store.LatestSnapshot(btc)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("snapshot:", ok)
	err = store.ReplayCommands(btc, 0, func(c *engine.Command) error {
		fmt.Println("replay", c.Seq, c.OrderID, c.Price, c.Qty)
		return nil
	})
	if err != nil {
		log.Fatal(err) // a *journal.CorruptError names the asset, sequence and key
	}
	last, _ := store.LastCommandSeq(btc)
	fmt.Println("next sequence:", last+1)
	// Output:
	// snapshot: false
	// replay 1 100 500 10
	// replay 2 101 500 4
	// next sequence: 3
}
