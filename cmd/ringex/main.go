// Command ringex is the ringex command-line client.
//
//	ringex [global flags] buy|sell [-type limit|market] [-tif gtc|ioc|fok] [-post-only] [-stp MODE] SYMBOL QTY [PRICE]
//	ringex [global flags] cancel SYMBOL ORDER-ID
//	ringex [global flags] replace SYMBOL ORDER-ID QTY [PRICE]
//	ringex [global flags] trades [-n N] SYMBOL
//	ringex [global flags] book [-depth N] SYMBOL
//	ringex [global flags] watch trades|book|orders SYMBOL
//
// Prices and quantities are typed as decimals ("65000.50", "0.25") and
// sent as integers in the asset's units, using the decimals the server
// publishes for the asset; a value finer than that is refused rather than
// rounded.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ringex/ringex/adminapi"
	"github.com/ringex/ringex/client"
	"github.com/ringex/ringex/netio/wire"
)

type globals struct {
	addr, md, admin, user, key string
	timeout                    time.Duration
	dial                       client.Options // TLS from the -tls flags
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "ringex:", err)
		var rej *client.RejectError
		if errors.As(err, &rej) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

func usage(fs *flag.FlagSet) {
	fmt.Fprintf(fs.Output(), `usage: ringex [flags] command [command flags] args

commands:
  buy|sell [-type limit|market] [-tif gtc|ioc|fok] [-post-only] [-stp none|newest|oldest|both|decrement] SYMBOL QTY [PRICE]
  cancel SYMBOL ORDER-ID
  replace SYMBOL ORDER-ID QTY [PRICE]     (no PRICE: keep the price)
  trades [-n N] SYMBOL                    recent trades, from the server's journal
  book [-depth N] SYMBOL                  the current L2 book (default 10 levels a side), then exit
  watch trades|book|orders SYMBOL         live market data

flags:
`)
	fs.PrintDefaults()
}

func run(args []string) error {
	var g globals
	fs := flag.NewFlagSet("ringex", flag.ContinueOnError)
	fs.StringVar(&g.addr, "addr", "127.0.0.1:7001", "order-entry address")
	fs.StringVar(&g.md, "md", "127.0.0.1:7002", "market-data address")
	fs.StringVar(&g.admin, "admin", "127.0.0.1:7003", "admin address (asset list and trade history)")
	fs.StringVar(&g.user, "user", envOr("RINGEX_USER", "alice"), "user name (env RINGEX_USER)")
	fs.StringVar(&g.key, "key", envOr("RINGEX_KEY", "alice-demo-key"), "API key (env RINGEX_KEY)")
	fs.DurationVar(&g.timeout, "timeout", 5*time.Second, "how long to wait for an answer")
	var tlsFlags client.TLSFlags
	tlsFlags.Register(fs)
	fs.Usage = func() { usage(fs) }
	if err := fs.Parse(args); err != nil {
		return err
	}
	var err error
	if g.dial.TLS, err = tlsFlags.Config(); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		usage(fs)
		return errors.New("no command")
	}
	cmd, rest := fs.Arg(0), fs.Args()[1:]
	switch cmd {
	case "buy", "sell":
		return place(&g, cmd, rest)
	case "cancel":
		return cancel(&g, rest)
	case "replace":
		return replace(&g, rest)
	case "trades":
		return trades(&g, rest)
	case "book":
		return book(&g, rest)
	case "watch":
		return watch(&g, rest)
	}
	usage(fs)
	return fmt.Errorf("unknown command %q", cmd)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// asset is the server's description of an asset (GET /assets).
type asset = client.Asset

func getJSON(g *globals, path string, v any) error {
	c := http.Client{Timeout: g.timeout}
	resp, err := c.Get("http://" + g.admin + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func lookup(g *globals, symbol string) (asset, error) {
	ctx, cancel := context.WithTimeout(context.Background(), g.timeout)
	defer cancel()
	all, err := client.FetchAssets(ctx, g.admin)
	if err != nil {
		return asset{}, err
	}
	for _, a := range all {
		if a.Symbol == symbol {
			return a, nil
		}
	}
	var names []string
	for _, a := range all {
		names = append(names, a.Symbol)
	}
	return asset{}, fmt.Errorf("unknown asset %q (the server has %s)", symbol, strings.Join(names, ", "))
}

// parseDecimal turns "123.45" into 12345 with decimals = 2, without floats.
func parseDecimal(s string, decimals int) (int64, error) {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	whole, frac, _ := strings.Cut(s, ".")
	if len(frac) > decimals {
		return 0, fmt.Errorf("%q has more than %d decimals", s, decimals)
	}
	digits := whole + frac + strings.Repeat("0", decimals-len(frac))
	v, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || whole == "" && frac == "" {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	if neg {
		v = -v
	}
	return v, nil
}

// formatDecimal is parseDecimal's inverse.
func formatDecimal(v int64, decimals int) string {
	if decimals == 0 {
		return strconv.FormatInt(v, 10)
	}
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	s := strconv.FormatInt(v, 10)
	for len(s) <= decimals {
		s = "0" + s
	}
	return sign + s[:len(s)-decimals] + "." + s[len(s)-decimals:]
}

func session(g *globals) (*client.Session, context.Context, context.CancelFunc, error) {
	ctx, cancel := context.WithTimeout(context.Background(), g.timeout)
	s, err := client.Dial(ctx, g.addr, g.user, g.key, nil, g.dial)
	if err != nil {
		cancel()
		return nil, nil, nil, err
	}
	return s, ctx, cancel, nil
}

func clientID() uint64 { return uint64(time.Now().UnixNano()) }

func printAck(a wire.OrderAck) {
	fmt.Printf("ack: order %d, journal seq %d, received %s\n", a.OrderID, a.Seq,
		time.Unix(0, a.RecvTime).UTC().Format(time.RFC3339Nano))
}

var stpModes = map[string]uint8{"none": 0, "newest": 1, "oldest": 2, "both": 3, "decrement": 4}

func place(g *globals, side string, args []string) error {
	fs := flag.NewFlagSet(side, flag.ContinueOnError)
	typ := fs.String("type", "limit", "limit or market")
	tif := fs.String("tif", "gtc", "gtc, ioc or fok")
	postOnly := fs.Bool("post-only", false, "reject instead of taking liquidity")
	stp := fs.String("stp", "none", "self-trade prevention: none, newest, oldest, both, decrement")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() < 2 || fs.NArg() > 3 {
		return fmt.Errorf("usage: ringex %s [flags] SYMBOL QTY [PRICE]", side)
	}
	a, err := lookup(g, fs.Arg(0))
	if err != nil {
		return err
	}
	o := wire.NewOrder{ClientOrderID: clientID(), Symbol: wire.MakeSymbol(a.Symbol), Side: 1, Type: 1, TIF: 1, PostOnly: *postOnly}
	if side == "sell" {
		o.Side = 2
	}
	switch *typ {
	case "limit":
	case "market":
		o.Type = 2
	default:
		return fmt.Errorf("-type %q: limit or market", *typ)
	}
	switch *tif {
	case "gtc":
	case "ioc":
		o.TIF = 2
	case "fok":
		o.TIF = 3
	default:
		return fmt.Errorf("-tif %q: gtc, ioc or fok", *tif)
	}
	mode, ok := stpModes[*stp]
	if !ok {
		return fmt.Errorf("-stp %q: none, newest, oldest, both or decrement", *stp)
	}
	o.STP = mode
	if o.Qty, err = parseDecimal(fs.Arg(1), a.QtyDecimals); err != nil {
		return fmt.Errorf("quantity: %w", err)
	}
	if o.Type == 1 {
		if fs.NArg() != 3 {
			return errors.New("a limit order needs a PRICE")
		}
		if o.Price, err = parseDecimal(fs.Arg(2), a.PriceDecimals); err != nil {
			return fmt.Errorf("price: %w", err)
		}
	}
	s, ctx, cancel, err := session(g)
	if err != nil {
		return err
	}
	defer cancel()
	defer s.Close()
	ack, err := s.PlaceSync(ctx, &o)
	if err != nil {
		return err
	}
	printAck(ack)
	return nil
}

func cancel(g *globals, args []string) error {
	if len(args) != 2 {
		return errors.New("usage: ringex cancel SYMBOL ORDER-ID")
	}
	id, err := strconv.ParseUint(args[1], 10, 64)
	if err != nil {
		return fmt.Errorf("order id %q: %w", args[1], err)
	}
	s, ctx, done, err := session(g)
	if err != nil {
		return err
	}
	defer done()
	defer s.Close()
	ack, err := s.CancelSync(ctx, &wire.Cancel{ClientOrderID: clientID(), Symbol: wire.MakeSymbol(args[0]), OrderID: id})
	if err != nil {
		return err
	}
	printAck(ack)
	fmt.Println("(the outcome, canceled or refused, arrives on the private feed: ringex watch orders", args[0]+")")
	return nil
}

func replace(g *globals, args []string) error {
	if len(args) < 3 || len(args) > 4 {
		return errors.New("usage: ringex replace SYMBOL ORDER-ID QTY [PRICE]")
	}
	a, err := lookup(g, args[0])
	if err != nil {
		return err
	}
	id, err := strconv.ParseUint(args[1], 10, 64)
	if err != nil {
		return fmt.Errorf("order id %q: %w", args[1], err)
	}
	r := wire.Replace{ClientOrderID: clientID(), Symbol: wire.MakeSymbol(a.Symbol), OrderID: id}
	if r.Qty, err = parseDecimal(args[2], a.QtyDecimals); err != nil {
		return fmt.Errorf("quantity: %w", err)
	}
	if len(args) == 4 {
		if r.Price, err = parseDecimal(args[3], a.PriceDecimals); err != nil {
			return fmt.Errorf("price: %w", err)
		}
	}
	s, ctx, done, err := session(g)
	if err != nil {
		return err
	}
	defer done()
	defer s.Close()
	ack, err := s.ReplaceSync(ctx, &r)
	if err != nil {
		return err
	}
	printAck(ack)
	return nil
}

func trades(g *globals, args []string) error {
	fs := flag.NewFlagSet("trades", flag.ContinueOnError)
	n := fs.Int("n", 20, "how many")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: ringex trades [-n N] SYMBOL")
	}
	a, err := lookup(g, fs.Arg(0))
	if err != nil {
		return err
	}
	var list []adminapi.Trade
	if err := getJSON(g, fmt.Sprintf("/trades?asset=%s&n=%d", a.Symbol, *n), &list); err != nil {
		return err
	}
	fmt.Printf("%-30s %10s %16s %14s %s\n", "time", "seq", "price", "qty", "aggressor")
	for _, t := range list {
		fmt.Printf("%-30s %10d %16s %14s %s\n", time.Unix(0, t.Time).UTC().Format(time.RFC3339Nano), t.Seq,
			formatDecimal(t.Price, a.PriceDecimals), formatDecimal(t.Qty, a.QtyDecimals), t.Aggressor)
	}
	return nil
}
