// Command ringex-load drives a running ringexd over the real protocol and
// measures it: ack latency, order-to-own-fill notification latency and
// public trade delivery latency, as HdrHistogram percentiles.
//
// Open loop (the default, -mode open): orders are scheduled at a fixed
// total rate spread over the sessions, and every latency counts from the
// order's intended send time, so a stalled server cannot hide its stall
// (coordinated-omission correction, as wrk2 does). Max throughput (-mode
// max): each session keeps -depth orders in flight.
//
// It checks what it measures: every request is answered (acked or
// rejected) exactly once, every public trade is notified to both its
// owners, every subscriber receives every trade. A run that loses
// anything says so and exits with status 1. It reports its own CPU,
// system calls and context switches per order and, with -pid, the
// server's.
//
// With -fanout N it measures market-data fan-out instead: N subscribers
// of one asset's trades, a fixed pace of trades, the delivery latency of
// each trade to each subscriber, and the server's CPU, writes and memory
// per delivery and per subscriber. With -fanout-floor ADDR it serves the
// fan-out floor that ringexd's notifier is compared with (package
// perf/fanout).
//
// With -echo ADDR it serves the echo floor instead (package perf/echo):
// the same protocols with nothing behind them, what ringexd's figures are
// compared with (docs/bench.md).
//
// Usage:
//
//	ringex-load [flags]
//
// With no flags it runs for 10 s at 10,000 orders/s over 4 sessions
// against a ringexd on the default loopback ports (make run).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/ringex/ringex/client"
	"github.com/ringex/ringex/perf"
	"github.com/ringex/ringex/perf/fanout"
)

// config is the run's configuration, from flags.
type config struct {
	addr, md, admin string
	users           []userKey
	sessions        int
	subs            int
	mode            string // "open" or "max"
	rate            float64
	depth           int
	duration        time.Duration
	drain           time.Duration
	mix             perf.Mix
	seed            uint64
	assets          []string
	spread          int64
	out             string
	json            bool
	checkFills      bool
	quiet           bool
	cpuProfile      string
	echo            string // serve the echo floor on this order-entry address instead of driving
	pid             int    // the server's process id, for its costs per order (0: none)
	tick            time.Duration
	dial            client.Options // TLS from the -tls flags

	fanout       int         // fan-out measurement: this many trade subscribers (0: an order-entry run)
	fanoutTarget string      // "ringexd" (crossing orders make the trades) or "floor" (its own generator)
	tradeRate    float64     // fan-out: trades per second
	label        string      // fan-out: the server's name in the report
	fanoutFloor  string      // serve the fan-out floor's market data on this address instead of driving
	floorMode    fanout.Mode // the floor's passes
	floorWindow  time.Duration
	readers      fanout.Readers // -fanout: how the subscribers are read

	fanoutMix     int           // mixed fan-out run: this many subscribers of every kind (mixrun.go)
	fanoutPrivate int           // -fanout-mix: of which logged-in users on their private channel
	churn         float64       // -fanout-mix: short-lived subscribers a second in the churn phases
	churnFor      time.Duration // -fanout-mix: each churn phase's length
	churnWorkers  int           // -fanout-mix: churn cycles in progress at most
	rounds        int           // -fanout-mix: subs and churn phases, alternated
}

type userKey struct{ user, key string }

func main() { os.Exit(loadMain()) }

// loadMain is main with an exit status, so that deferred work (the CPU
// profile) is done before the process exits.
func loadMain() int {
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ringex-load:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cfg.echo != "" {
		if err := serveEcho(ctx, cfg); err != nil {
			fmt.Fprintln(os.Stderr, "ringex-load: -echo:", err)
			return 1
		}
		return 0
	}
	if cfg.fanoutFloor != "" {
		if err := serveFloor(ctx, cfg); err != nil {
			fmt.Fprintln(os.Stderr, "ringex-load: -fanout-floor:", err)
			return 1
		}
		return 0
	}
	go func() {
		<-ctx.Done()
		stop() // a second interrupt kills at once
	}()
	// The run stops by itself: the send phase ends after -duration and the
	// wait for answers after -drain. A server that stops reading can still
	// block a write forever, so past a generous deadline give up.
	limit := 30*time.Second + cfg.duration + cfg.drain
	if cfg.fanout > 0 {
		// Connecting the subscribers and the driver's own drain come on top.
		limit += cfg.drain + time.Duration(cfg.fanout)*2*time.Millisecond + 40*time.Second
	}
	if cfg.fanoutMix > 0 {
		// Its phases (mixrun.go), connecting, and the check's drain.
		limit += time.Duration(cfg.rounds+3)*cfg.duration + time.Duration(cfg.rounds)*cfg.churnFor +
			2*cfg.drain + time.Duration(cfg.fanoutMix)*30*time.Millisecond + 60*time.Second
	}
	time.AfterFunc(limit, func() {
		fmt.Fprintf(os.Stderr, "ringex-load: still running %v after the start: the server stopped reading? giving up\n", limit)
		os.Exit(1)
	})
	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "ringex-load: -cpuprofile:", err)
			return 2
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	if cfg.fanoutMix > 0 {
		res, err := mixRun(ctx, cfg, os.Stdout, os.Stderr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "ringex-load: -fanout-mix:", err)
			return 1
		}
		if !res.OK() {
			fmt.Fprintln(os.Stderr, "ringex-load: the mixed fan-out run lost, reordered or duplicated messages, or failed")
			return 1
		}
		return 0
	}
	if cfg.fanout > 0 {
		res, err := fanoutRun(ctx, cfg, os.Stdout, os.Stderr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "ringex-load: -fanout:", err)
			return 1
		}
		if !res.OK() {
			fmt.Fprintln(os.Stderr, "ringex-load: the fan-out run lost, reordered or duplicated trades, or failed")
			return 1
		}
		return 0
	}
	res, err := run(ctx, cfg, os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ringex-load:", err)
		return 1
	}
	if !res.OK() {
		fmt.Fprintln(os.Stderr, "ringex-load: the run lost requests or failed its checks")
		return 1
	}
	return 0
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("ringex-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &config{}
	fs.StringVar(&c.addr, "addr", "127.0.0.1:7001", "order-entry address of ringexd")
	fs.StringVar(&c.md, "md", "127.0.0.1:7002", "market-data address of ringexd")
	fs.StringVar(&c.admin, "admin", "127.0.0.1:7003", "admin address of ringexd (for the assets' tick and lot sizes)")
	users := fs.String("users", "alice:alice-demo-key,bob:bob-demo-key", "users as user:key,...; sessions take them in turn")
	fs.IntVar(&c.sessions, "conns", 4, "order-entry sessions")
	fs.IntVar(&c.subs, "subs", 2, "public trade subscribers that measure delivery latency")
	fs.StringVar(&c.mode, "mode", "open", "open (open loop at -rate) or max (max throughput, -depth in flight per session)")
	fs.Float64Var(&c.rate, "rate", 10000, "open loop: total orders/s over all sessions (0 means -mode max)")
	fs.IntVar(&c.depth, "depth", 0, "requests in flight per session: the pipeline depth in max mode (0: 64); a wrk2-like window in open mode (0: unbounded)")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "how long to send (at most 1h); the run then waits for the answers and stops")
	fs.DurationVar(&c.drain, "drain", 10*time.Second, "how long to wait after sending for the last answers and notifications")
	mix := fs.String("mix", "market=2,ioc=8,fok=2,postonly=5,cancel=20,replace=10", "request mix in percent: limit, market, ioc, fok, postonly, cancel, replace (the rest: GTC limits)")
	fs.Uint64Var(&c.seed, "seed", 1, "random seed: the same seed gives the same order stream")
	assets := fs.String("assets", "BTC-USD,ETH-USD,SOL-USD", "assets to trade, comma-separated")
	fs.Int64Var(&c.spread, "spread", 20, "limit prices spread over mid +- this many ticks")
	fs.StringVar(&c.out, "out", "", "directory for the .hgrm files and latency.png (empty: none)")
	fs.BoolVar(&c.json, "json", false, "also write summary.json to -out; without -out, print it on stdout (and the summary on stderr)")
	fs.BoolVar(&c.checkFills, "check-fills", true, "check that every public trade is notified to both owners (needs every trader on the server to be one of -users)")
	fs.BoolVar(&c.quiet, "quiet", false, "no progress line each second")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write the load generator's own CPU profile to this file (it shares the machine with the server: see what it costs)")
	fs.StringVar(&c.echo, "echo", "", "serve the echo floor instead of driving a server: order entry on this address, market data on -md, the asset list on -admin; every request is acked at once (docs/bench.md)")
	fs.DurationVar(&c.tick, "tick", 200*time.Microsecond, "open loop: the shortest wait between two sends, so that high rates go out in bursts of the orders due (each keeps its intended time)")
	fs.IntVar(&c.pid, "pid", 0, "the server's process id: report its CPU, read+write system calls and context switches per order (from /proc)")
	var tlsFlags client.TLSFlags
	tlsFlags.Register(fs)
	fs.IntVar(&c.fanout, "fanout", 0, "measure market-data fan-out instead: this many subscribers of the trades of the first -assets, -trade-rate trades/s for -duration (docs/bench.md)")
	fs.StringVar(&c.fanoutTarget, "fanout-target", "ringexd", "-fanout: ringexd (trades made by crossing orders through -addr) or floor (a ringex-load -fanout-floor, which makes its own through -admin)")
	fs.Float64Var(&c.tradeRate, "trade-rate", 1000, "-fanout: trades per second")
	fs.StringVar(&c.label, "label", "", "-fanout: the server's name in the report (default: -fanout-target)")
	readers := fs.String("fanout-readers", defaultReaders(), "-fanout: epoll (a few threads, each waiting in its own epoll set; Linux) or goroutines (one blocked in Read per subscriber)")
	fs.IntVar(&c.fanoutMix, "fanout-mix", 0, "a mixed fan-out run instead: this many subscribers of every kind (public: trades and book of one of -assets each, in turn; -fanout-private logged-in users) while -trade-rate trades/s cross on every asset; phases of -duration with no subscribers, with them, and with -churn, interleaved (docs/performance-notifier.md)")
	fs.IntVar(&c.fanoutPrivate, "fanout-private", -1, "-fanout-mix: how many of the subscribers are logged-in -users (in turn) on their private channel of every asset (-1: 100, or a tenth of -fanout-mix below 1,000)")
	fs.Float64Var(&c.churn, "churn", 0, "-fanout-mix: short-lived subscribers a second (connect, subscribe to trades and book, wait for the snapshot, disconnect) in the churn phases; 0: no churn phases")
	fs.DurationVar(&c.churnFor, "churn-for", 10*time.Second, "-fanout-mix -churn: each churn phase's length")
	fs.IntVar(&c.churnWorkers, "churn-workers", 512, "-fanout-mix -churn: churn cycles in progress at most (a cycle takes 0.3-0.6 s in this process beside thousands of readers, so 1,000 a second needs about 500)")
	fs.IntVar(&c.rounds, "rounds", 1, "-fanout-mix: how many times the subs and churn phases alternate")
	fs.StringVar(&c.fanoutFloor, "fanout-floor", "", "serve the fan-out floor instead of driving a server: market data on this address, the asset list and POST /start on -admin (docs/bench.md)")
	floorMode := fs.String("floor-mode", "naive", "-fanout-floor: naive (a pass as soon as anything is pending) or coalesce (-floor-window between passes)")
	fs.DurationVar(&c.floorWindow, "floor-window", 10*time.Millisecond, "-fanout-floor -floor-mode coalesce: the wait between two passes")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	var err error
	if c.dial.TLS, err = tlsFlags.Config(); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if c.duration <= 0 || c.duration > time.Hour {
		return nil, errors.New("-duration must be more than 0 and at most 1h")
	}
	if c.sessions < 1 || c.sessions > 1<<16 {
		return nil, errors.New("-conns must be between 1 and 65536")
	}
	if c.subs < 0 {
		return nil, errors.New("-subs must not be negative")
	}
	if c.rate == 0 {
		c.mode = "max"
	}
	switch c.mode {
	case "open":
		if c.rate < 0 {
			return nil, errors.New("-rate must be positive in open mode")
		}
	case "max":
		if c.depth == 0 {
			c.depth = 64
		}
	default:
		return nil, fmt.Errorf("-mode %q: want open or max", c.mode)
	}
	if c.tick < 0 || c.tick > time.Second {
		return nil, errors.New("-tick must be between 0 and 1s")
	}
	if c.depth < 0 {
		return nil, errors.New("-depth must not be negative")
	}
	if c.spread < 0 {
		return nil, errors.New("-spread must not be negative")
	}
	for _, uk := range strings.Split(*users, ",") {
		u, k, ok := strings.Cut(strings.TrimSpace(uk), ":")
		if !ok || u == "" {
			return nil, fmt.Errorf("-users: %q is not user:key", uk)
		}
		c.users = append(c.users, userKey{u, k})
	}
	if c.floorMode, err = fanout.ParseMode(*floorMode); err != nil {
		return nil, errors.New("-floor-mode: want naive or coalesce")
	}
	if c.floorWindow < 0 || c.floorWindow > time.Second {
		return nil, errors.New("-floor-window must be between 0 and 1s")
	}
	if c.readers, err = fanout.ParseReaders(*readers); err != nil {
		return nil, fmt.Errorf("-fanout-readers: %w", err)
	}
	if c.fanout < 0 || c.fanout > 1<<20 {
		return nil, errors.New("-fanout must be between 0 and 1048576")
	}
	if c.fanoutMix < 0 || c.fanoutMix > 1<<20 {
		return nil, errors.New("-fanout-mix must be between 0 and 1048576")
	}
	if c.fanoutMix > 0 && c.fanout > 0 {
		return nil, errors.New("-fanout-mix and -fanout are two different runs: choose one")
	}
	if c.fanoutPrivate < 0 {
		c.fanoutPrivate = min(100, c.fanoutMix/10)
	}
	if c.churn < 0 || c.churn > 1e5 || c.churnWorkers < 1 || c.churnWorkers > 4096 || c.rounds < 1 || c.rounds > 100 {
		return nil, errors.New("-churn must be between 0 and 100000, -churn-workers between 1 and 4096, -rounds between 1 and 100")
	}
	if c.churnFor <= 0 || c.churnFor > time.Hour {
		return nil, errors.New("-churn-for must be more than 0 and at most 1h")
	}
	if c.fanoutTarget != "ringexd" && c.fanoutTarget != "floor" {
		return nil, fmt.Errorf("-fanout-target %q: want ringexd or floor", c.fanoutTarget)
	}
	if c.tradeRate <= 0 || c.tradeRate > 1e6 {
		return nil, errors.New("-trade-rate must be more than 0 and at most 1000000")
	}
	if c.mix, err = perf.ParseMix(*mix); err != nil {
		return nil, fmt.Errorf("-mix: %w", err)
	}
	for _, a := range strings.Split(*assets, ",") {
		if a = strings.TrimSpace(a); a != "" {
			c.assets = append(c.assets, a)
		}
	}
	if len(c.assets) == 0 {
		return nil, errors.New("-assets: no asset")
	}
	return c, nil
}

// assetParams chooses the generator's parameters for the assets asked
// for: the mid price 100,000 ticks above the band's bottom (kept inside the
// band with the spread around it), quantities of 1 to 10 lots.
func assetParams(all []client.Asset, symbols []string, spread int64) ([]perf.AssetParams, error) {
	var out []perf.AssetParams
	for _, sym := range symbols {
		i := -1
		for j := range all {
			if all[j].Symbol == sym {
				i = j
			}
		}
		if i < 0 {
			return nil, fmt.Errorf("asset %q is not on the server", sym)
		}
		a := all[i]
		if a.TickSize <= 0 || a.LotSize <= 0 {
			return nil, fmt.Errorf("asset %s: tick %d, lot %d", sym, a.TickSize, a.LotSize)
		}
		lo := (a.MinPrice + a.TickSize - 1) / a.TickSize * a.TickSize
		hi := a.MaxPrice / a.TickSize * a.TickSize
		if hi-lo < 2*spread*a.TickSize {
			return nil, fmt.Errorf("asset %s: its price band [%d, %d] is narrower than -spread %d ticks each side", sym, a.MinPrice, a.MaxPrice, spread)
		}
		mid := min(max(lo+100000*a.TickSize, lo+spread*a.TickSize), hi-spread*a.TickSize)
		out = append(out, perf.AssetParams{Symbol: sym, Tick: a.TickSize, Lot: a.LotSize, Mid: mid,
			SpreadTicks: spread, MaxLots: max(1, min(10, a.MaxQty/a.LotSize))})
	}
	return out, nil
}
