// Command ringex-load drives a running ringexd over the real protocol and
// measures it: ack latency, order-to-own-fill notification latency and
// public trade delivery latency, with HdrHistogram percentiles.
//
// Open loop (-rate > 0): orders are scheduled at a fixed total rate and
// latency counts from each order's intended send time, so a stalled server
// cannot hide its stall (coordinated-omission correction). Max throughput
// (-rate 0): each connection keeps -depth orders in flight.
//
// It checks what it measures: every order acked or rejected exactly once,
// every fill of a public trade notified to both owners. A run that loses
// anything says so and exits with status 1.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ringex/ringex/client"
	"github.com/ringex/ringex/netio/wire"
	"github.com/ringex/ringex/perf"
)

type config struct {
	addr, md, admin string
	users           []userKey
	conns, subs     int
	rate            float64
	depth           int
	duration        time.Duration
	mix             perf.Mix
	seed            uint64
	assets          []string
	out             string
	json            bool
	fills           bool
	quiet           bool
}

type userKey struct{ user, key string }

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "ringex-load:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ringex-load:", err)
		os.Exit(1)
	}
	if !res.OK() {
		fmt.Fprintln(os.Stderr, "ringex-load: the run lost orders or failed its checks")
		os.Exit(1)
	}
}

func parseFlags(args []string) (*config, error) {
	fs := flag.NewFlagSet("ringex-load", flag.ContinueOnError)
	c := &config{}
	fs.StringVar(&c.addr, "addr", "127.0.0.1:7001", "order-entry address")
	fs.StringVar(&c.md, "md", "127.0.0.1:7002", "market-data address")
	fs.StringVar(&c.admin, "admin", "127.0.0.1:7003", "admin address (asset list)")
	users := fs.String("users", "load:load-demo-key,alice:alice-demo-key,bob:bob-demo-key", "users as user:key,... (connections cycle through them)")
	fs.IntVar(&c.conns, "conns", 4, "order-entry sessions")
	fs.IntVar(&c.subs, "subs", 0, "extra public trade subscribers (delivery latency)")
	fs.Float64Var(&c.rate, "rate", 10000, "total orders/s, open loop; 0 = max throughput")
	fs.IntVar(&c.depth, "depth", 64, "orders in flight per session in max-throughput mode")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "how long to send (bounded; the run stops by itself)")
	mix := fs.String("mix", "market=2,ioc=8,fok=2,postonly=5,cancel=20,replace=10", "request mix in percent (the rest: GTC limits)")
	fs.Uint64Var(&c.seed, "seed", 1, "random seed: the same seed gives the same order stream")
	assets := fs.String("assets", "BTC-USD,ETH-USD,SOL-USD", "assets to trade")
	fs.StringVar(&c.out, "out", "", "directory for .hgrm files, latency.png and summary.json (empty: none)")
	fs.BoolVar(&c.json, "json", false, "also write summary.json to -out")
	fs.BoolVar(&c.fills, "fills", true, "subscribe to private feeds and measure order-to-fill latency")
	fs.BoolVar(&c.quiet, "quiet", false, "no progress line")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if c.duration <= 0 || c.duration > time.Hour {
		return nil, errors.New("-duration must be between 0 and 1h")
	}
	if c.conns < 1 {
		return nil, errors.New("-conns must be at least 1")
	}
	for _, uk := range strings.Split(*users, ",") {
		u, k, ok := strings.Cut(uk, ":")
		if !ok {
			return nil, fmt.Errorf("-users: %q is not user:key", uk)
		}
		c.users = append(c.users, userKey{u, k})
	}
	var err error
	if c.mix, err = perf.ParseMix(*mix); err != nil {
		return nil, err
	}
	c.assets = strings.Split(*assets, ",")
	return c, nil
}

// assetParams asks the server for the assets' tick and lot sizes.
func assetParams(c *config) ([]perf.AssetParams, error) {
	hc := http.Client{Timeout: 5 * time.Second}
	resp, err := hc.Get("http://" + c.admin + "/assets")
	if err != nil {
		return nil, fmt.Errorf("asset list: %w (is ringexd running with -admin %s?)", err, c.admin)
	}
	defer resp.Body.Close()
	var all []struct {
		Symbol   string `json:"symbol"`
		TickSize int64  `json:"tick_size"`
		LotSize  int64  `json:"lot_size"`
		MinPrice int64  `json:"min_price"`
		MaxPrice int64  `json:"max_price"`
		MaxQty   int64  `json:"max_qty"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&all); err != nil {
		return nil, fmt.Errorf("asset list: %w", err)
	}
	var out []perf.AssetParams
	for _, sym := range c.assets {
		found := false
		for _, a := range all {
			if a.Symbol == sym {
				mid := a.MinPrice + 100000*a.TickSize
				if mid > a.MaxPrice {
					mid = (a.MinPrice + a.MaxPrice) / 2 / a.TickSize * a.TickSize
				}
				out = append(out, perf.AssetParams{Symbol: sym, Tick: a.TickSize, Lot: a.LotSize, Mid: mid,
					SpreadTicks: 20, MaxLots: max(1, min(10, a.MaxQty/a.LotSize))})
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("asset %q not on the server", sym)
		}
	}
	return out, nil
}

// run is one load run.
func run(ctx context.Context, c *config) (*perf.Result, error) {
	params, err := assetParams(c)
	if err != nil {
		return nil, err
	}
	st := newStats()
	// Feeds first, so that no fill or trade is missed.
	var feeds []*client.Feed
	defer func() {
		for _, f := range feeds {
			f.Close()
		}
	}()
	dialCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	counter := &tradeCounter{st: st}
	subscribeAll := func(f *client.Feed, ch uint8) error {
		for _, a := range params {
			if err := f.Subscribe(a.Symbol, ch, 1); err != nil {
				return err
			}
		}
		return nil
	}
	cf, err := client.DialFeed(dialCtx, c.md, "", "", counter)
	if err != nil {
		return nil, fmt.Errorf("market data: %w", err)
	}
	feeds = append(feeds, cf)
	if err := subscribeAll(cf, wire.ChanTrades); err != nil {
		return nil, err
	}
	for range c.subs {
		f, err := client.DialFeed(dialCtx, c.md, "", "", &tradeLatency{st: st})
		if err != nil {
			return nil, fmt.Errorf("subscriber: %w", err)
		}
		feeds = append(feeds, f)
		if err := subscribeAll(f, wire.ChanTrades); err != nil {
			return nil, err
		}
	}
	if c.fills {
		seen := map[string]bool{}
		for i := range min(c.conns, len(c.users)) {
			u := c.users[i]
			if seen[u.user] {
				continue
			}
			seen[u.user] = true
			f, err := client.DialFeed(dialCtx, c.md, u.user, u.key, &fillWatcher{st: st})
			if err != nil {
				return nil, fmt.Errorf("private feed for %s: %w", u.user, err)
			}
			feeds = append(feeds, f)
			if err := subscribeAll(f, wire.ChanOrders); err != nil {
				return nil, err
			}
		}
	}
	sessions := make([]*loadSession, c.conns)
	for k := range sessions {
		u := c.users[k%len(c.users)]
		ls := &loadSession{st: st, k: k, gen: perf.NewGenerator(c.mix, params, c.seed+uint64(k)*7919), params: params}
		if c.rate == 0 {
			ls.window = make(chan struct{}, c.depth)
		}
		s, err := client.Dial(dialCtx, c.addr, u.user, u.key, ls)
		if err != nil {
			return nil, fmt.Errorf("session %d (%s): %w", k, u.user, err)
		}
		ls.s = s
		sessions[k] = ls
	}
	time.Sleep(100 * time.Millisecond) // let the subscriptions settle

	start := time.Now().Add(10 * time.Millisecond)
	end := start.Add(c.duration)
	var wg sync.WaitGroup
	for k, ls := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if c.rate > 0 {
				ls.openLoop(ctx, perf.NewSchedule(start, c.rate, c.conns, k), end)
			} else {
				ls.maxThroughput(ctx, end)
			}
		}()
	}
	progressDone := make(chan struct{})
	if !c.quiet {
		go progress(st, start, progressDone)
	}
	wg.Wait()
	sendEnd := time.Now()
	// Wait for the last answers, and for the feeds to catch up.
	deadline := time.Now().Add(10 * time.Second)
	for st.inFlight() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if c.fills {
		for i := 0; i < 300 && st.fills.Load() < 2*st.trades.Load(); i++ {
			time.Sleep(10 * time.Millisecond)
		}
	}
	close(progressDone)
	for i, f := range feeds {
		select {
		case <-f.Done():
			st.addError(fmt.Sprintf("market-data connection %d ended during the run: %v", i, f.Err()))
		default:
		}
	}
	for _, ls := range sessions {
		if err := ls.s.Err(); err != nil && !errors.Is(err, client.ErrClosed) {
			st.addError(fmt.Sprintf("session %d: %v", ls.k, err))
		}
		ls.s.Close()
	}

	res := &perf.Result{Mode: "open-loop", TargetRate: c.rate, Duration: sendEnd.Sub(start).Seconds(),
		Sent: st.sent.Load(), Acked: st.acked.Load(), Rejected: st.rejected.Load(), Rejects: st.rejectsByReason()}
	if c.rate == 0 {
		res.Mode = "max-throughput"
	}
	res.Lost = res.Sent - res.Acked - res.Rejected
	res.Rate = float64(res.Acked+res.Rejected) / res.Duration
	res.Errors = st.errorList()
	if d := st.dupes.Load(); d > 0 {
		res.Checks = append(res.Checks, fmt.Sprintf("%d answers for orders not in flight (duplicates)", d))
	}
	if res.Lost != 0 {
		res.Checks = append(res.Checks, fmt.Sprintf("%d orders never answered", res.Lost))
	}
	if c.fills {
		if f, t := st.fills.Load(), st.trades.Load(); f != 2*t {
			res.Checks = append(res.Checks, fmt.Sprintf("%d fill notifications for %d public trades (want %d)", f, t, 2*t))
		}
	}
	lats := []*perf.Latency{st.ack, st.fill, st.delivery}
	for _, l := range lats {
		res.Latencies = append(res.Latencies, l.Summary())
	}
	res.Print(os.Stdout)
	fmt.Printf("public trades seen %d, fill notifications %d\n", st.trades.Load(), st.fills.Load())
	if c.out != "" {
		if err := perf.WriteOutputs(c.out, res, lats, c.json); err != nil {
			return res, err
		}
		fmt.Printf("wrote %s/*.hgrm and latency.png\n", c.out)
	}
	return res, nil
}

func progress(st *stats, start time.Time, done chan struct{}) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var last int64
	for {
		select {
		case <-done:
			return
		case now := <-t.C:
			ans := st.acked.Load() + st.rejected.Load()
			fmt.Fprintf(os.Stderr, "[%4.0fs] %8d answers/s, in flight %6d, rejects %d, errors %d\n",
				now.Sub(start).Seconds(), ans-last, st.inFlight(), st.rejected.Load(), len(st.errorList()))
			last = ans
		}
	}
}
