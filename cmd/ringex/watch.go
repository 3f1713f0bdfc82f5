package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/ringex/ringex/client"
	"github.com/ringex/ringex/netio/wire"
)

// printer turns feed messages into lines, or into a ladder redrawn in place
// when stdout is a terminal.
type printer struct {
	client.NopFeedHandler
	a        asset
	terminal bool
	depth    int // levels drawn per side
	bids     map[int64]wire.Level
	asks     map[int64]wire.Level
	seq      uint64
}

func sideName(s uint8) string {
	if s == 1 {
		return "buy"
	}
	return "sell"
}

func (p *printer) OnSubscribed(m *wire.Subscribed) {
	fmt.Printf("subscribed to %s from seq %d\n", m.Symbol.String(), m.Seq)
}

func (p *printer) OnSubRejected(m *wire.SubRejected) {
	fmt.Fprintf(os.Stderr, "subscription to %s refused (code %d)\n", m.Symbol.String(), m.Reason)
	os.Exit(1)
}

func (p *printer) OnTrade(t *wire.Trade) {
	fmt.Printf("%s trade %s %s @ %s (%s aggressor, seq %d)\n", time.Unix(0, t.Time).UTC().Format("15:04:05.000000"),
		t.Symbol.String(), formatDecimal(t.Qty, p.a.QtyDecimals), formatDecimal(t.Price, p.a.PriceDecimals), sideName(t.Aggressor), t.Seq)
}

func (p *printer) OnOrderEvent(e *wire.OrderEvent) {
	extra := ""
	switch e.Kind {
	case wire.OrderRejected:
		extra = " reason: " + wire.ReasonText(uint16(e.Reason))
	case wire.OrderCanceled, wire.OrderReduced:
		extra = " reason: " + wire.CancelText(e.Reason)
	}
	fmt.Printf("seq %d order %d (client %d) %s %s qty %s @ %s, remaining %s%s\n", e.Seq, e.OrderID, e.ClientOrderID,
		sideName(e.Side), wire.OrderKindText(e.Kind), formatDecimal(e.Qty, p.a.QtyDecimals), formatDecimal(e.Price, p.a.PriceDecimals),
		formatDecimal(e.Remaining, p.a.QtyDecimals), extra)
}

func (p *printer) OnResumeDone(m *wire.ResumeDone) {
	fmt.Printf("(replayed up to seq %d; live events follow)\n", m.Seq)
}

func (p *printer) OnBookSnapshot(m *wire.BookSnapshot) {
	p.bids, p.asks, p.seq = map[int64]wire.Level{}, map[int64]wire.Level{}, m.Seq
	for _, l := range m.Bids {
		p.bids[l.Price] = l
	}
	for _, l := range m.Asks {
		p.asks[l.Price] = l
	}
	p.draw()
}

func (p *printer) OnBookUpdate(u *wire.BookUpdate) {
	if p.bids == nil {
		return
	}
	side := p.bids
	if u.Side == 2 {
		side = p.asks
	}
	if u.Qty == 0 {
		delete(side, u.Price)
	} else {
		side[u.Price] = wire.Level{Price: u.Price, Qty: u.Qty, Count: u.Count}
	}
	p.seq = u.Seq
	p.draw()
}

func (p *printer) draw() {
	levels := func(m map[int64]wire.Level, desc bool) []wire.Level {
		var out []wire.Level
		for _, l := range m {
			out = append(out, l)
		}
		sort.Slice(out, func(i, j int) bool { return (out[i].Price > out[j].Price) == desc })
		return out[:min(len(out), p.depth)]
	}
	bids, asks := levels(p.bids, true), levels(p.asks, false)
	var b strings.Builder
	if p.terminal {
		b.WriteString("\x1b[H\x1b[2J")
	}
	fmt.Fprintf(&b, "%s book at seq %d\n%14s %16s %6s\n", p.a.Symbol, p.seq, "qty", "price", "orders")
	for i := len(asks) - 1; i >= 0; i-- {
		l := asks[i]
		fmt.Fprintf(&b, "%14s %16s %6d  ask\n", formatDecimal(l.Qty, p.a.QtyDecimals), formatDecimal(l.Price, p.a.PriceDecimals), l.Count)
	}
	b.WriteString("  ------------------------------------\n")
	for _, l := range bids {
		fmt.Fprintf(&b, "%14s %16s %6d  bid\n", formatDecimal(l.Qty, p.a.QtyDecimals), formatDecimal(l.Price, p.a.PriceDecimals), l.Count)
	}
	fmt.Print(b.String())
}

func watch(g *globals, args []string) error {
	if len(args) != 2 {
		return errors.New("usage: ringex watch trades|book|orders SYMBOL")
	}
	a, err := lookup(g, args[1])
	if err != nil {
		return err
	}
	st, _ := os.Stdout.Stat()
	p := &printer{a: a, terminal: st != nil && st.Mode()&os.ModeCharDevice != 0, depth: 10}
	user, key := "", ""
	var channels uint8
	switch args[0] {
	case "trades":
		channels = wire.ChanTrades
	case "book":
		channels = wire.ChanBook
	case "orders":
		channels, user, key = wire.ChanOrders, g.user, g.key
	default:
		return fmt.Errorf("watch %q: trades, book or orders", args[0])
	}
	ctx, cancel := context.WithTimeout(context.Background(), g.timeout)
	f, err := client.DialFeed(ctx, g.md, user, key, p, g.dial)
	cancel()
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Subscribe(a.Symbol, channels, 10); err != nil {
		return err
	}
	<-f.Done()
	return f.Err()
}

// bookOnce handles the one-shot book command: it draws the first snapshot
// and says so on done, or passes on a refusal.
type bookOnce struct {
	client.NopFeedHandler
	p       *printer
	done    chan struct{}
	refused chan uint16
}

func (b *bookOnce) OnBookSnapshot(m *wire.BookSnapshot) {
	b.p.OnBookSnapshot(m)
	close(b.done)
}

func (b *bookOnce) OnSubRejected(m *wire.SubRejected) { b.refused <- m.Reason }

// book prints the current L2 book of an asset (a snapshot from the
// market-data server) and returns.
func book(g *globals, args []string) error {
	fs := flag.NewFlagSet("book", flag.ContinueOnError)
	depth := fs.Int("depth", 10, "levels per side")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 || *depth < 1 || *depth > wire.MaxSnapshotSide {
		return fmt.Errorf("usage: ringex book [-depth 1-%d] SYMBOL", wire.MaxSnapshotSide)
	}
	a, err := lookup(g, fs.Arg(0))
	if err != nil {
		return err
	}
	h := &bookOnce{p: &printer{a: a, depth: *depth}, done: make(chan struct{}), refused: make(chan uint16, 1)}
	ctx, cancel := context.WithTimeout(context.Background(), g.timeout)
	defer cancel()
	f, err := client.DialFeed(ctx, g.md, "", "", h, g.dial)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Subscribe(a.Symbol, wire.ChanBook, uint16(*depth)); err != nil {
		return err
	}
	select {
	case <-h.done:
		return nil
	case code := <-h.refused:
		return fmt.Errorf("book %s: refused: %s", a.Symbol, wire.SubText(code))
	case <-f.Done():
		return fmt.Errorf("book %s: connection closed: %v", a.Symbol, f.Err())
	case <-ctx.Done():
		return fmt.Errorf("book %s: no snapshot within %v", a.Symbol, g.timeout)
	}
}
