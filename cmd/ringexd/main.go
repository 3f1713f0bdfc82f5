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

	"github.com/ringex/ringex/adminapi"
	"github.com/ringex/ringex/engine"
	"github.com/ringex/ringex/journal"
	"github.com/ringex/ringex/netio"
	"github.com/ringex/ringex/netio/marketdata"
	"github.com/ringex/ringex/netio/orderentry"
	"github.com/ringex/ringex/pipeline"
)

//go:embed default_users.txt
var defaultUsers []byte

func main() {
	if err := run(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "ringexd:", err)
		os.Exit(1)
	}
}

func run(args []string) (err error) {
	// The signal handler comes first, so that SIGTERM or SIGINT is ours at
	// every stage of start-up (and a SIGINT that the shell ignored for a
	// background job is not ignored by us).
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)

	cfg, err := parseConfig(args, os.Stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.logLevel}))
	slog.SetDefault(log)
	log.Info("ringexd starting", "data", cfg.dataDir, "sync", cfg.sync.String(), "assets", cfg.symbols())
	started := make(chan struct{})
	go exitOnSignalDuringStartup(log, sigs, started)

	if n := cfg.gomaxprocs(runtime.GOMAXPROCS(0), runtime.NumCPU()); n > 0 {
		runtime.GOMAXPROCS(n)
	}
	if len(cfg.mdCPUs) > 0 {
		// Before Pebble, the pipeline and gnet start their goroutines, so
		// that every thread but the market-data loops' keeps off their
		// CPUs (docs/performance-notifier.md, "Cores for the order path").
		if err := confineThreads(cfg.restCPUs); err != nil {
			return fmt.Errorf("-md-cpus: keep the other threads on CPUs %v: %w", cfg.restCPUs, err)
		}
		log.Info("market data's event loops on their own CPUs", "md_cpus", cfg.mdCPUs, "other_cpus", cfg.restCPUs)
	}
	usersText := defaultUsers
	if cfg.usersFile != "" {
		if usersText, err = os.ReadFile(cfg.usersFile); err != nil {
			return fmt.Errorf("-users: %w", err)
		}
	} else {
		log.Warn("using the embedded demo users; pass -users for real ones")
	}
	users, err := netio.ParseUsers(bytes.NewReader(usersText))
	if err != nil {
		return fmt.Errorf("-users: %w", err)
	}

	reg := prometheus.NewRegistry()
	// The scheduler's metrics add go_sched_latencies_seconds: how long
	// goroutines waited for a P (docs/performance-notifier.md reads it).
	reg.MustRegister(collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(collectors.MetricsScheduler)), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	guard := cfg.sec.guard(users, cfg.usersFile, log, reg) // security.go

	store, err := journal.Open(journal.Options{Dir: cfg.dataDir, Sync: cfg.sync, Logger: log,
		AcceptJournalLoss: cfg.acceptJournalLoss})
	if err != nil {
		return err
	}
	// The store's close error is the final WAL sync under -sync interval
	// or off: it is reported, not dropped.
	defer func() { err = errors.Join(err, store.Close()) }()
	registerJournalMetrics(reg, store)
	pipeline.RegisterJournal(reg, store)

	ex, err := pipeline.Open(store, cfg.pipelineSpecs(), pipeline.Config{
		InSize:        cfg.inSize,
		OutSize:       cfg.outSize,
		Wait:          cfg.wait,
		SnapshotEvery: cfg.snapEvery,
		Prune:         cfg.prune,
		Pin:           cfg.pin,
		AssetGroups:   cfg.assetGroups,
		Logger:        log,
		Metrics:       pipeline.NewMetrics(reg),
	})
	if err != nil {
		return err
	}

	notifier := marketdata.NewNotifier(marketdata.NotifierConfig{
		Addr:  cfg.mdListen,
		Users: users,
		Guard: guard,
		Store: store,
		Loops: cfg.mdLoops,
		// The gateway's sessions hold two descriptors each, plus room
		// for the journal's files and the admin server.
		ReservedFDs:           256 + 2*cfg.maxConns,
		HeartbeatInterval:     cfg.heartbeat,
		IdleTimeout:           cfg.mdIdle,
		MaxQueuedBytes:        int64(cfg.mdMaxQueued),
		MaxQueuedBytesPrivate: int64(cfg.mdPrivMaxQueued),
		MaxCoalesce:           cfg.mdMaxCoalesce,
		LoopNice:              cfg.mdNice,
		LoopCPUs:              cfg.mdCPUs,
		ProxyFrom:             cfg.sec.proxy,
		Logger:                log,
		Registerer:            reg,
	})
	notifier.Init(ex.Assets())
	gateway := orderentry.NewGateway(orderentry.GatewayConfig{
		Addr:              cfg.listen,
		Users:             users,
		Guard:             guard,
		Loops:             cfg.loops,
		MaxConns:          cfg.maxConns,
		MaxInFlight:       cfg.maxInFlight,
		IdleTimeout:       cfg.idle,
		HeartbeatInterval: cfg.heartbeat,
		BusyTimeout:       cfg.busy,
		MaxQueuedBytes:    cfg.maxQueued,
		ProxyFrom:         cfg.sec.proxy,
		Logger:            log,
		Registerer:        reg,
	}, ex)
	// From here on a signal is handled by the shutdown below.
	close(started)
	ex.Start(gateway, notifier)

	errc := make(chan error, 8) // the servers, the admin, the TLS fronts
	go func() { errc <- notifier.Serve() }()
	go func() { errc <- gateway.Serve() }()
	stopTLS := cfg.sec.start(gateway, notifier, reg, errc) // TLS fronts, SIGHUP reload
	// The admin port opens and "running" is logged once both gnet servers
	// accept connections, so that an operator or a script that sees either
	// can connect at once. A server that fails to start (its port taken)
	// stops ringexd before either.
	var runErr error
	for _, ready := range []<-chan struct{}{gateway.Ready(), notifier.Ready()} {
		if runErr == nil {
			select {
			case <-ready:
			case runErr = <-errc:
				log.Error("server failed to start", "err", runErr)
			}
		}
	}
	if runErr == nil {
		if cfg.admin != "" {
			go func() { errc <- serveAdmin(cfg.admin, reg, ex, cfg.assets, cfg.sec.routes) }()
		}
		log.Info("ringexd running", "listen", cfg.listen, "md_listen", cfg.mdListen, "admin", cfg.admin,
			"data", cfg.dataDir, "sync", cfg.sync.String(), "wait", cfg.wait.String(), "assets", cfg.symbols())
		select {
		case s := <-sigs:
			log.Info("shutting down", "signal", s.String())
		case runErr = <-errc:
			log.Error("server stopped", "err", runErr)
		case runErr = <-ex.Errors():
			log.Error("pipeline stage failed", "err", runErr)
		}
	}

	// Shutdown order: refuse new orders, drain the rings (every journaled
	// order is acked and matched), then close the sockets and the store.
	gateway.Drain()
	stopTLS()
	if err := ex.Close(); err != nil {
		runErr = errors.Join(runErr, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	runErr = errors.Join(runErr, gateway.Stop(ctx), notifier.Stop(ctx))
	log.Info("stopped")
	return runErr
}

// exitOnSignalDuringStartup ends the process if SIGTERM or SIGINT arrives
// before started is closed. Opening the journal and recovering the books
// cannot be interrupted, and need not be: nothing has been acknowledged or
// published yet, and an exit there is a crash the next start recovers from
// like any other. The exit status is 0: the stop was asked for.
func exitOnSignalDuringStartup(log *slog.Logger, sigs <-chan os.Signal, started <-chan struct{}) {
	select {
	case s := <-sigs:
		log.Warn("signal during start-up: exiting before serving", "signal", s.String())
		os.Exit(0)
	case <-started:
	}
}

// registerJournalMetrics exports the journal's health: whether it takes
// writes (once it has failed every order is rejected with reason 109 until
// a restart) and how many background errors Pebble reported.
func registerJournalMetrics(reg *prometheus.Registry, store *journal.Store) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "ringex_journal_available",
		Help: "1 while the journal takes writes; 0 once a write, a sync or a background flush or compaction failed (orders are rejected as unavailable until restart).",
	}, func() float64 {
		if store.Err() != nil {
			return 0
		}
		return 1
	}))
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "ringex_journal_background_errors_total",
		Help: "Errors Pebble reported from background flushes and compactions (each fails the journal).",
	}, func() float64 { return float64(store.BackgroundErrors()) }))
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// serveAdmin serves Prometheus metrics, pprof, and two small JSON
// endpoints for clients: /assets (configurations) and /trades?asset=&n=
// (the last n trades, from the event journal).
func serveAdmin(addr string, reg *prometheus.Registry, ex *pipeline.Exchange, specs []assetSpec, routes func(*http.ServeMux)) error {
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
	assets := make([]adminapi.Asset, 0, len(specs))
	for _, a := range specs {
		c := a.Config
		assets = append(assets, adminapi.Asset{ID: a.ID, Symbol: c.Symbol, TickSize: c.TickSize, LotSize: c.LotSize,
			MinPrice: c.MinPrice, MaxPrice: c.MaxPrice, MaxQty: c.MaxQty,
			PriceDecimals: a.PriceDecimals, QtyDecimals: a.QtyDecimals})
	}
	mux.HandleFunc("/assets", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, assets) })
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
		out := make([]adminapi.Trade, 0, len(trades))
		for _, t := range trades {
			side := "buy"
			if t.Side == engine.Sell {
				side = "sell"
			}
			out = append(out, adminapi.Trade{Seq: t.Seq, Time: t.Time, Price: t.Price, Qty: t.Qty, Aggressor: side})
		}
		writeJSON(w, out)
	})
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	routes(mux) // security.go: POST /users/reload
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	return srv.ListenAndServe()
}
