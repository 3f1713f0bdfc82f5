// Command ringexd is the ringex exchange: the order-entry gateway, one
// pipeline per asset (journal, matcher, event journal) and the market data
// notifier, in one process.
//
// With no flags it runs the embedded default configuration: three assets,
// the demo users, data in ./data, sync always. Every part is wired here,
// top to bottom.
package main

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ringex/ringex/client"
	"github.com/ringex/ringex/engine"
	"github.com/ringex/ringex/journal"
	"github.com/ringex/ringex/netio"
	"github.com/ringex/ringex/pipeline"
	"github.com/ringex/ringex/ring"
)

//go:embed default_users.txt
var defaultUsers []byte

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "ringexd:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("ringexd", flag.ContinueOnError)
	var (
		listen      = fs.String("listen", "127.0.0.1:7001", "order-entry listen address")
		mdListen    = fs.String("md-listen", "127.0.0.1:7002", "market-data listen address")
		admin       = fs.String("admin", "127.0.0.1:7003", "admin address for /metrics and /debug/pprof (empty: off)")
		dataDir     = fs.String("data", "./data", "data directory (Pebble)")
		usersFile   = fs.String("users", "", "users file (empty: the embedded demo users)")
		syncFlag    = fs.String("sync", "always", "journal sync policy: always, interval=<duration> (bounded loss window), off (not durable: tests and benchmarks only)")
		waitFlag    = fs.String("wait", "block", "ring wait strategy: spin, yield or block")
		pinFlag     = fs.String("pin", "", "CPU pinning per stage, e.g. journal=0,matcher=1 (stages: journal, matcher, acker, events, notifier)")
		procs       = fs.Int("gomaxprocs", 0, "GOMAXPROCS (0: leave as is)")
		inSize      = fs.Int("ring-size", 1<<16, "input ring size per asset (power of two)")
		outSize     = fs.Int("out-ring-size", 1<<17, "output ring size per asset (power of two)")
		snapEvery   = fs.Uint64("snapshot-every", 100000, "commands between book snapshots (0: never)")
		prune       = fs.Bool("prune", false, "delete journal entries older than the newest snapshot (bounds disk use; trade history and private-event resume then reach back only to the snapshot)")
		maxConns    = fs.Int("max-conns", 1024, "maximum order-entry connections (each holds two file descriptors; market-data connections get what the limit leaves)")
		maxInFlight = fs.Int("max-inflight", 4096, "maximum unacknowledged orders per session")
		idle        = fs.Duration("idle-timeout", 30*time.Second, "close a session silent for this long")
		heartbeat   = fs.Duration("heartbeat", 5*time.Second, "server heartbeat interval (order entry and market data)")
		mdIdle      = fs.Duration("md-idle-timeout", 0, "log out a market-data connection silent for this long (0: never; see docs/protocol.md section 3)")
		busyTimeout = fs.Duration("busy-timeout", 5*time.Millisecond, "how long an order waits for a full ring before it is rejected as busy")
		loops       = fs.Int("loops", 0, "gnet event loops per server (0: one per CPU)")
		logLevel    = fs.String("log-level", "info", "log level: debug, info, warn, error")
	)
	var assets assetList
	fs.Var(&assets, "asset", "asset SYMBOL:id=N,tick=N,lot=N,min=N,max=N,maxqty=N[,pdec=N,qdec=N] in integer units; pdec/qdec are display decimals (repeatable; default: BTC-USD, ETH-USD, SOL-USD)")
	if err := fs.Parse(args); err != nil {
		return err
	}

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(log)

	if *procs > 0 {
		runtime.GOMAXPROCS(*procs)
	}
	if len(assets) == 0 {
		for _, s := range defaultAssets {
			if err := assets.Set(s); err != nil {
				return err
			}
		}
	}
	syncPolicy, err := journal.ParseSyncPolicy(*syncFlag)
	if err != nil {
		return fmt.Errorf("-sync: %w", err)
	}
	wait, err := ring.ParseWaitStrategy(*waitFlag)
	if err != nil {
		return fmt.Errorf("-wait: %w", err)
	}
	cpus, err := parseCPUs(*pinFlag)
	if err != nil {
		return fmt.Errorf("-pin: %w", err)
	}
	usersText := defaultUsers
	if *usersFile != "" {
		if usersText, err = os.ReadFile(*usersFile); err != nil {
			return fmt.Errorf("-users: %w", err)
		}
	} else {
		log.Warn("using the embedded demo users; pass -users for real ones")
	}
	users, err := netio.ParseUsers(bytes.NewReader(usersText))
	if err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	store, err := journal.Open(journal.Options{Dir: *dataDir, Sync: syncPolicy, Logger: log})
	if err != nil {
		return err
	}
	defer store.Close()
	pipeline.RegisterJournal(reg, store)

	ex, err := pipeline.Open(store, assets, pipeline.Config{
		InSize:        *inSize,
		OutSize:       *outSize,
		Wait:          wait,
		SnapshotEvery: *snapEvery,
		Prune:         *prune,
		Pin:           cpus,
		Logger:        log,
		Metrics:       pipeline.NewMetrics(reg),
	})
	if err != nil {
		return err
	}

	notifier := netio.NewNotifier(netio.NotifierConfig{
		Addr:  *mdListen,
		Users: users,
		Store: store,
		Loops: *loops,
		// The gateway's sessions hold two descriptors each, plus room
		// for the journal's files and the admin server.
		ReservedFDs:       256 + 2**maxConns,
		HeartbeatInterval: *heartbeat,
		IdleTimeout:       *mdIdle,
		Logger:            log,
		Registerer:        reg,
	})
	notifier.Init(ex.Assets())
	gateway := netio.NewGateway(netio.GatewayConfig{
		Addr:              *listen,
		Users:             users,
		Loops:             *loops,
		MaxConns:          *maxConns,
		MaxInFlight:       *maxInFlight,
		IdleTimeout:       *idle,
		HeartbeatInterval: *heartbeat,
		BusyTimeout:       *busyTimeout,
		Logger:            log,
		Registerer:        reg,
	}, ex)
	ex.Start(gateway, notifier)

	errc := make(chan error, 4)
	go func() { errc <- notifier.Serve() }()
	go func() { errc <- gateway.Serve() }()
	if *admin != "" {
		go func() { errc <- serveAdmin(*admin, reg, ex) }()
	}
	log.Info("ringexd running", "listen", *listen, "md_listen", *mdListen, "admin", *admin,
		"data", *dataDir, "sync", *syncFlag, "wait", *waitFlag, "assets", assets.String())

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	var runErr error
	select {
	case s := <-sigs:
		log.Info("shutting down", "signal", s.String())
	case runErr = <-errc:
		log.Error("server stopped", "err", runErr)
	case runErr = <-ex.Errors():
		log.Error("pipeline stage failed", "err", runErr)
	}

	// Shutdown order: refuse new orders, drain the rings (every journaled
	// order is acked and matched), then close the sockets and the store.
	gateway.Drain()
	if err := ex.Close(); err != nil {
		runErr = errors.Join(runErr, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	runErr = errors.Join(runErr, gateway.Stop(ctx), notifier.Stop(ctx))
	log.Info("stopped")
	return runErr
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// serveAdmin serves Prometheus metrics, pprof, and two small JSON
// endpoints for clients: /assets (configurations) and /trades?asset=&n=
// (the last n trades, from the event journal).
func serveAdmin(addr string, reg *prometheus.Registry, ex *pipeline.Exchange) error {
	for _, a := range ex.Assets() {
		a := a
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "ringex_ring_occupancy", Help: "Entries published but not yet released by the last consumer.",
			ConstLabels: prometheus.Labels{"asset": a.Symbol, "ring": "in"},
		}, func() float64 { return float64(a.InOccupancy()) }))
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "ringex_ring_occupancy", Help: "Entries published but not yet released by the last consumer.",
			ConstLabels: prometheus.Labels{"asset": a.Symbol, "ring": "out"},
		}, func() float64 { return float64(a.OutOccupancy()) }))
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/assets", func(w http.ResponseWriter, r *http.Request) {
		var out []client.Asset
		for _, a := range ex.Assets() {
			c, d := a.Config, decimals[a.Symbol]
			out = append(out, client.Asset{ID: a.ID, Symbol: c.Symbol, TickSize: c.TickSize, LotSize: c.LotSize,
				MinPrice: c.MinPrice, MaxPrice: c.MaxPrice, MaxQty: c.MaxQty, PriceDecimals: d[0], QtyDecimals: d[1]})
		}
		writeJSON(w, out)
	})
	mux.HandleFunc("/trades", func(w http.ResponseWriter, r *http.Request) {
		a := ex.BySymbol(r.URL.Query().Get("asset"))
		if a == nil {
			http.Error(w, "unknown asset", http.StatusNotFound)
			return
		}
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		if n <= 0 || n > 10000 {
			n = 20
		}
		trades, err := ex.Store().LastTrades(a.ID, n)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		type trade struct {
			Seq       uint64 `json:"seq"`
			Time      int64  `json:"time_ns"`
			Price     int64  `json:"price"`
			Qty       int64  `json:"qty"`
			Aggressor string `json:"aggressor"`
		}
		out := make([]trade, 0, len(trades))
		for _, t := range trades {
			side := "buy"
			if t.Side == engine.Sell {
				side = "sell"
			}
			out = append(out, trade{t.Seq, t.Time, t.Price, t.Qty, side})
		}
		writeJSON(w, out)
	})
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	return srv.ListenAndServe()
}
