package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ringex/ringex/engine"
	"github.com/ringex/ringex/journal"
	"github.com/ringex/ringex/netio"
	"github.com/ringex/ringex/netio/marketdata"
	"github.com/ringex/ringex/netio/orderentry"
	"github.com/ringex/ringex/pipeline"
	"github.com/ringex/ringex/ring"
)

// defaultAssets is the embedded asset list: prices in cents, quantities in
// units of the asset's smallest lot.
var defaultAssets = []string{
	"BTC-USD:id=1,tick=50,lot=1,min=50,max=100000000000,maxqty=100000000,pdec=2,qdec=4",
	"ETH-USD:id=2,tick=1,lot=10,min=1,max=10000000000,maxqty=100000000,pdec=2,qdec=3",
	"SOL-USD:id=3,tick=1,lot=1,min=1,max=1000000000,maxqty=100000000,pdec=3,qdec=2",
}

// config is ringexd's whole configuration, parsed from the command line and
// validated before anything is opened: a bad flag stops the start with a
// message naming the flag and what it accepts, before any listener exists.
type config struct {
	sec                     *security // security.go
	listen, mdListen, admin string
	dataDir, usersFile      string
	sync                    journal.SyncPolicy
	wait                    ring.WaitStrategy
	pin                     pipeline.CPUs
	procs                   int
	inSize, outSize         int
	snapEvery               uint64
	prune                   bool
	acceptJournalLoss       bool
	maxConns, maxInFlight   int
	idle, heartbeat, busy   time.Duration
	mdIdle, mdMaxCoalesce   time.Duration
	mdPrivMaxQueued         int // market data: the cap of a connection subscribed to its private events
	maxQueued, mdMaxQueued  int
	loops, mdLoops          int   // order entry's and market data's gnet event loops
	assetGroups             int   // journal goroutines the assets are spread over
	mdNice                  int   // market data's event loop threads' nice value (0: the process's)
	mdCPUs                  []int // CPUs market data's event loop threads are bound to (empty: the process's)
	restCPUs                []int // with mdCPUs: the process's other CPUs, where every other thread runs
	logLevel                slog.Level
	assets                  []assetSpec
}

// assetSpec is one -asset flag: what the pipeline runs, and the display
// decimals served on /assets.
type assetSpec struct {
	pipeline.AssetSpec
	PriceDecimals, QtyDecimals int
}

// Ranges of the numeric flags. The defaults are the packages' own (a zero
// field in their configurations means the default), so they are written
// once, there.
const (
	maxRingSize    = 1 << 24
	minOutRingSize = 256 // the matcher claims up to 256 output slots at once
	maxConnsLimit  = 1_000_000
	maxInFlightMax = 1 << 20
	maxLoops       = 1024
	// Order entry: one event loop. On two cores shared with the pipeline's
	// stages a second loop reads the same few sessions in smaller bites and
	// competes for the cores (less CPU and fewer system calls per order in
	// 6 of 6 rounds). Market data: one per CPU, as before; two loops on two
	// cores cut the trade delivery p99 with 1,000 subscribers in 6 of 6
	// rounds for 25 % more CPU per delivery. docs/performance.md, "-loops
	// and -md-loops on a 2-core machine".
	defaultLoops   = 1
	defaultMDLoops = 0
	defaultMDNice  = 0
	maxProcs       = 4096
)

const usageHeader = `ringexd is the ringex exchange: order entry, one pipeline per asset
(journal, matcher, event journal) and market data, in one process.
With no flags it runs three demo assets on ./data with -sync always.

Faults stop the start with one line and a non-zero exit: a disk that cannot
be written, a corrupt table or record (named by file and keys), or a journal
that ends before its high-water mark (see -accept-journal-loss). SIGTERM or SIGINT
stops it at any stage; once running, it drains the rings and closes the
journal first.

Flags:
`

// parseConfig parses and validates args. It returns flag.ErrHelp for -h.
func parseConfig(args []string, out io.Writer) (*config, error) {
	fs := flag.NewFlagSet("ringexd", flag.ContinueOnError)
	// Errors are returned (and printed once, by main); only -h prints.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	c := &config{}
	fs.StringVar(&c.listen, "listen", "127.0.0.1:7001", "order-entry listen `address`")
	fs.StringVar(&c.mdListen, "md-listen", "127.0.0.1:7002", "market-data listen `address`")
	fs.StringVar(&c.admin, "admin", "127.0.0.1:7003", "admin `address` for /metrics, /assets, /trades and /debug/pprof (empty: off)")
	fs.StringVar(&c.dataDir, "data", "./data", "data `directory` (Pebble, and the high-water mark file RINGEX-MARK)")
	fs.StringVar(&c.usersFile, "users", "", "users `file` (empty: the embedded demo users)")
	syncFlag := fs.String("sync", "always", "journal sync `policy`: always, interval=<duration> (bounded loss window on a machine crash), off (not durable: tests and benchmarks only)")
	waitFlag := fs.String("wait", "block", "ring wait `strategy`: spin, yield or block")
	pinFlag := fs.String("pin", "", "CPU pinning per stage goroutine, e.g. journal=0,matcher=1 (stages: journal, matcher, events; acker names the journal's goroutine, notifier the events'; CPUs of the process's affinity set)")
	fs.IntVar(&c.procs, "gomaxprocs", 0, fmt.Sprintf("GOMAXPROCS, 0-%d (0: one more than the gnet event loops of both servers, or the CPU count if that is more)", maxProcs))
	fs.IntVar(&c.inSize, "ring-size", pipeline.DefaultInSize, fmt.Sprintf("input ring size per asset: a power of two, 1-%d", maxRingSize))
	fs.IntVar(&c.outSize, "out-ring-size", pipeline.DefaultOutSize, fmt.Sprintf("output ring size per asset: a power of two, %d-%d", minOutRingSize, maxRingSize))
	fs.Uint64Var(&c.snapEvery, "snapshot-every", 100000, "commands between book snapshots (0: never)")
	fs.BoolVar(&c.prune, "prune", false, "delete journal entries older than the newest snapshot (bounds disk use; trade history and private-event resume then reach back only to the snapshot)")
	fs.BoolVar(&c.acceptJournalLoss, "accept-journal-loss", false, "start even if an asset's journal ends before its high-water mark (commands or an order id reservation that were durable are gone: a truncated or damaged WAL); the loss is logged, the mark lowered and order ids continue above every id handed out before. Without it such a start is refused")
	fs.IntVar(&c.maxConns, "max-conns", orderentry.DefaultMaxConns, fmt.Sprintf("maximum order-entry connections, 1-%d (each holds two file descriptors; market-data connections get what the limit leaves)", maxConnsLimit))
	fs.IntVar(&c.maxInFlight, "max-inflight", orderentry.DefaultMaxInFlight, fmt.Sprintf("maximum unacknowledged orders per session, 1-%d", maxInFlightMax))
	fs.DurationVar(&c.idle, "idle-timeout", orderentry.DefaultIdleTimeout, "close a session silent for this long, 1s-24h")
	fs.DurationVar(&c.heartbeat, "heartbeat", netio.DefaultHeartbeat, "server heartbeat interval (order entry and market data), 100ms-1h")
	fs.IntVar(&c.maxQueued, "max-queued-bytes", netio.DefaultMaxQueuedBytes, "order entry: bytes of answers a session has not read before it is logged out (Logout 7), 64KiB-1GiB")
	fs.IntVar(&c.mdMaxQueued, "md-max-queued-bytes", netio.DefaultMaxQueuedBytes, "market data: bytes queued for one subscriber before it is cut as a slow consumer (Logout 3), 64KiB-1GiB")
	fs.IntVar(&c.mdPrivMaxQueued, "md-private-max-queued-bytes", marketdata.DefaultMaxQueuedBytesPrivate, "market data: the same for a connection subscribed to its user's private order events (not conflated; a user's fills at 1M orders/s are about 32 MB/s), 64KiB-1GiB; never below -md-max-queued-bytes")
	fs.DurationVar(&c.mdMaxCoalesce, "md-max-coalesce", 5*time.Millisecond, "market data: how long an event loop waits between drain rounds (one write per subscriber each) to write more batches per connection per write; it waits only after a round of 2ms or more over 128 connections or more (many subscribers); a subscription's reply is never held back; 0 (off) or 100us-1s")
	fs.DurationVar(&c.mdIdle, "md-idle-timeout", 0, "log out a market-data connection silent for this long, 0 (never; see docs/protocol.md section 3) or 1s-24h")
	fs.DurationVar(&c.busy, "busy-timeout", orderentry.DefaultBusyTimeout, "how long an order waits for a full ring before it is rejected as busy, 1us-10s")
	fs.IntVar(&c.loops, "loops", defaultLoops, fmt.Sprintf("order entry: gnet event loops, 0-%d (0: one per CPU)", maxLoops))
	fs.IntVar(&c.assetGroups, "asset-groups", 1, "asset groups the assets are spread over, 1-65535: the assets of a group share their journal, matcher and event goroutines, and each pass commits every asset's orders as one batch and writes each session's acks once (docs/performance.md, \"One group commit for all assets\")")
	fs.IntVar(&c.mdLoops, "md-loops", defaultMDLoops, fmt.Sprintf("market data: gnet event loops, 0-%d (0: one per CPU)", maxLoops))
	fs.IntVar(&c.mdNice, "md-nice", defaultMDNice, fmt.Sprintf("market data: nice value of the event loops' threads, 0-%d (0: the process's); higher gives the order path a core before the fan-out on a busy machine; without -gomaxprocs it also adds a Go P per market-data loop", marketdata.MaxLoopNice))
	mdCPUsFlag := fs.String("md-cpus", "", "market data: `CPUs` its event loops' threads run on, e.g. 1 or 2-3,6 (empty: any of the process's); keeps the fan-out off the order path's cores (docs/performance-notifier.md, \"Cores for the order path\")")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	c.sec = addSecurityFlags(fs) // security.go: TLS, limits, login throttle; validated there
	fs.Func("asset", "asset `spec` SYMBOL:id=N,tick=N,lot=N,min=N,max=N,maxqty=N[,pdec=N,qdec=N] in integer units; SYMBOL is 1-8 characters 0x21-0x7E, pdec/qdec are display decimals (repeatable; default: BTC-USD, ETH-USD, SOL-USD)",
		func(s string) error {
			a, err := parseAsset(s)
			if err != nil {
				return err
			}
			c.assets = append(c.assets, a)
			return nil
		})
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(out, usageHeader)
			fs.SetOutput(out)
			fs.PrintDefaults()
			return nil, err
		}
		return nil, fmt.Errorf("%w (see -h)", err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q: every setting is a -flag (see -h)", fs.Arg(0))
	}

	var err error
	if err = c.logLevel.UnmarshalText([]byte(*logLevel)); err != nil {
		return nil, fmt.Errorf("-log-level %q: want debug, info, warn or error", *logLevel)
	}
	if c.sync, err = journal.ParseSyncPolicy(*syncFlag); err != nil {
		return nil, fmt.Errorf("-sync: %w", err)
	}
	if c.wait, err = ring.ParseWaitStrategy(*waitFlag); err != nil {
		return nil, fmt.Errorf("-wait: %w", err)
	}
	if c.pin, err = parseCPUs(*pinFlag); err != nil {
		return nil, fmt.Errorf("-pin: %w", err)
	}
	if c.mdCPUs, err = parseCPUList(*mdCPUsFlag); err != nil {
		return nil, fmt.Errorf("-md-cpus: %w", err)
	}
	if len(c.mdCPUs) > 0 {
		all, _ := processCPUs() // parseCPUList read them
		for _, n := range all {
			if !slices.Contains(c.mdCPUs, n) {
				c.restCPUs = append(c.restCPUs, n)
			}
		}
		if len(c.restCPUs) == 0 {
			return nil, fmt.Errorf("-md-cpus %s: names every CPU of the process, leaving none for the order path", *mdCPUsFlag)
		}
	}
	if c.dataDir == "" {
		return nil, errors.New("-data: must name a directory")
	}
	// Every listen address, the TLS ones of security.go too, is host:port
	// and used once; only -listen and -md-listen cannot be off.
	seen := map[string]string{}
	for _, a := range []struct{ flag, addr string }{
		{"-listen", c.listen}, {"-md-listen", c.mdListen}, {"-admin", c.admin},
		{"-tls-listen", c.sec.tlsListen}, {"-md-tls-listen", c.sec.mdTLSListen},
	} {
		if a.addr == "" && a.flag != "-listen" && a.flag != "-md-listen" {
			continue
		}
		if _, port, err := net.SplitHostPort(a.addr); err != nil || port == "" {
			return nil, fmt.Errorf("%s %q: want host:port", a.flag, a.addr)
		}
		if other, dup := seen[a.addr]; dup {
			return nil, fmt.Errorf("%s %q: already used by %s", a.flag, a.addr, other)
		}
		seen[a.addr] = a.flag
	}
	checks := []error{
		intRange("-gomaxprocs", c.procs, 0, maxProcs),
		powerOfTwo("-ring-size", c.inSize, 1, maxRingSize),
		powerOfTwo("-out-ring-size", c.outSize, minOutRingSize, maxRingSize),
		intRange("-max-conns", c.maxConns, 1, maxConnsLimit),
		intRange("-max-inflight", c.maxInFlight, 1, maxInFlightMax),
		intRange("-max-queued-bytes", c.maxQueued, 64<<10, 1<<30),
		intRange("-md-max-queued-bytes", c.mdMaxQueued, 64<<10, 1<<30),
		intRange("-md-private-max-queued-bytes", c.mdPrivMaxQueued, 64<<10, 1<<30),
		durationRange("-idle-timeout", c.idle, time.Second, 24*time.Hour),
		durationRange("-heartbeat", c.heartbeat, 100*time.Millisecond, time.Hour),
		zeroOrDurationRange("-md-idle-timeout", c.mdIdle, time.Second, 24*time.Hour),
		zeroOrDurationRange("-md-max-coalesce", c.mdMaxCoalesce, 100*time.Microsecond, time.Second),
		durationRange("-busy-timeout", c.busy, time.Microsecond, 10*time.Second),
		intRange("-loops", c.loops, 0, maxLoops),
		intRange("-md-loops", c.mdLoops, 0, maxLoops),
		intRange("-asset-groups", c.assetGroups, 1, 1<<16-1),
		intRange("-md-nice", c.mdNice, 0, marketdata.MaxLoopNice),
	}
	if err := errors.Join(checks...); err != nil {
		return nil, err
	}
	if err := c.sec.validate(c.listen, c.mdListen); err != nil {
		return nil, err
	}

	if len(c.assets) == 0 {
		for _, s := range defaultAssets {
			a, err := parseAsset(s)
			if err != nil {
				return nil, err
			}
			c.assets = append(c.assets, a)
		}
	}
	ids, symbols := map[uint32]bool{}, map[string]bool{}
	for _, a := range c.assets {
		if ids[a.ID] || symbols[a.Config.Symbol] {
			return nil, fmt.Errorf("-asset %s: id %d or symbol given twice", a.Config.Symbol, a.ID)
		}
		ids[a.ID], symbols[a.Config.Symbol] = true, true
	}
	return c, nil
}

func intRange(flag string, v, lo, hi int) error {
	if v < lo || v > hi {
		return fmt.Errorf("%s %d: want %d-%d", flag, v, lo, hi)
	}
	return nil
}

func powerOfTwo(flag string, v, lo, hi int) error {
	if v < lo || v > hi || v&(v-1) != 0 {
		return fmt.Errorf("%s %d: want a power of two, %d-%d", flag, v, lo, hi)
	}
	return nil
}

func durationRange(flag string, v, lo, hi time.Duration) error {
	if v < lo || v > hi {
		return fmt.Errorf("%s %v: want %v-%v", flag, v, lo, hi)
	}
	return nil
}

// zeroOrDurationRange is durationRange where 0 also means "off".
func zeroOrDurationRange(flag string, v, lo, hi time.Duration) error {
	if v == 0 {
		return nil
	}
	if v < lo || v > hi {
		return fmt.Errorf("%s %v: want 0 (off) or %v-%v", flag, v, lo, hi)
	}
	return nil
}

// gomaxprocs returns the GOMAXPROCS to set, 0 to leave it, given the
// current one and the CPU count: -gomaxprocs if given; else at least one P
// more than there are gnet event loops. A gnet loop waits in epoll_wait
// holding its P, and the runtime takes the P back only after sysmon has seen
// it blocked (up to 10 ms on a busy machine): with as many loops as Ps, the
// journal, matcher and output goroutines can all wait that long for a P
// while every loop sleeps (docs/performance.md, "More Ps than gnet loops").
// With -md-cpus, four Ps beyond the loops (see below). With -md-nice, one P more per market-data loop on top of the current
// count (a lowered loop that the kernel keeps waiting still holds its P:
// docs/performance-notifier.md, "The matcher never waits for a subscriber").
func (c *config) gomaxprocs(current, cpus int) int {
	if c.procs > 0 {
		return c.procs
	}
	loops, mdLoops := c.loops, c.mdLoops
	if loops == 0 {
		loops = cpus // gnet: one per CPU
	}
	if mdLoops == 0 {
		mdLoops = cpus
	}
	want := loops + mdLoops + 1
	if len(c.mdCPUs) > 0 {
		// The order path's goroutines (a group's journal write and commit,
		// the latter running the matchers, its events stage, and Pebble's
		// flush) get a P each: on CPUs of their
		// own they can run at once, and none waits for sysmon to take a P
		// back from a loop in epoll_wait (Go scheduler p99 with 1,000
		// subscribers 65-126 us with 8 Ps against 380-770 us with 4:
		// docs/performance-notifier.md, "Cores for the order path").
		want = loops + mdLoops + 4
	}
	if c.mdNice > 0 {
		want = max(want, current+mdLoops)
	}
	if want <= current {
		return 0
	}
	return min(want, maxProcs)
}

// symbols returns the configured symbols, comma-separated (for the log).
func (c *config) symbols() string {
	var parts []string
	for _, a := range c.assets {
		parts = append(parts, a.Config.Symbol)
	}
	return strings.Join(parts, ",")
}

// pipelineSpecs returns what pipeline.Open takes.
func (c *config) pipelineSpecs() []pipeline.AssetSpec {
	specs := make([]pipeline.AssetSpec, len(c.assets))
	for i, a := range c.assets {
		specs[i] = a.AssetSpec
	}
	return specs
}

// parseAsset reads "SYMBOL:id=N,tick=N,lot=N,min=N,max=N,maxqty=N[,pdec=N,qdec=N]".
func parseAsset(s string) (assetSpec, error) {
	sym, rest, ok := strings.Cut(s, ":")
	if !ok || sym == "" || len(sym) > 8 {
		return assetSpec{}, fmt.Errorf("-asset %q: want SYMBOL:id=N,tick=N,lot=N,min=N,max=N,maxqty=N (symbol 1-8 characters)", s)
	}
	for i := 0; i < len(sym); i++ {
		if sym[i] < 0x21 || sym[i] > 0x7e {
			return assetSpec{}, fmt.Errorf("-asset %q: symbol byte %d is 0x%02x: symbols are printable ASCII without spaces (0x21-0x7E)", s, i, sym[i])
		}
	}
	spec := assetSpec{AssetSpec: pipeline.AssetSpec{Config: engine.AssetConfig{Symbol: sym}}}
	seen := map[string]bool{}
	for _, kv := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return spec, fmt.Errorf("-asset %s: %q is not key=value", sym, kv)
		}
		if seen[k] {
			return spec, fmt.Errorf("-asset %s: %s= given twice", sym, k)
		}
		seen[k] = true
		n, err := strconv.ParseInt(v, 10, 64)
		if k == "pdec" || k == "qdec" {
			if err != nil || n < 0 || n > 18 {
				return spec, fmt.Errorf("-asset %s: %s=%q: want 0-18", sym, k, v)
			}
			if k == "pdec" {
				spec.PriceDecimals = int(n)
			} else {
				spec.QtyDecimals = int(n)
			}
			continue
		}
		if err != nil || n <= 0 {
			return spec, fmt.Errorf("-asset %s: %s=%q: want a positive integer", sym, k, v)
		}
		switch k {
		case "id":
			if n >= 1<<16 {
				return spec, fmt.Errorf("-asset %s: id=%d: want 1-65535", sym, n)
			}
			spec.ID = uint32(n)
		case "tick":
			spec.Config.TickSize = n
		case "lot":
			spec.Config.LotSize = n
		case "min":
			spec.Config.MinPrice = n
		case "max":
			spec.Config.MaxPrice = n
		case "maxqty":
			spec.Config.MaxQty = n
		default:
			return spec, fmt.Errorf("-asset %s: unknown key %q (id, tick, lot, min, max, maxqty, pdec, qdec)", sym, k)
		}
	}
	for _, k := range []string{"id", "tick", "lot", "min", "max", "maxqty"} {
		if !seen[k] {
			return spec, fmt.Errorf("-asset %s: missing %s=", sym, k)
		}
	}
	cfg := spec.Config
	if cfg.MinPrice > cfg.MaxPrice || cfg.MinPrice%cfg.TickSize != 0 || cfg.MaxPrice%cfg.TickSize != 0 || cfg.MaxQty%cfg.LotSize != 0 {
		return spec, fmt.Errorf("-asset %s: min and max must be multiples of tick with min <= max, maxqty a multiple of lot", sym)
	}
	if err := cfg.Validate(); err != nil {
		return spec, fmt.Errorf("-asset %s: %w", sym, err)
	}
	return spec, nil
}

// processCPUs returns the CPUs the process may run on, for the flags that
// name CPUs: one it may not run on stops the start here rather than fail a
// stage or a thread later.
func processCPUs() ([]int, error) {
	cpus, err := ring.ProcessCPUs()
	if err != nil {
		return nil, fmt.Errorf("read the process's CPU affinity: %w", err)
	}
	return cpus, nil
}

// notAllowed is the error for a CPU the process may not run on.
func notAllowed(cpu int, all []int) error {
	return fmt.Errorf("CPU %d is not in the process's affinity set (CPUs %v)", cpu, all)
}

// parseCPUList reads a CPU list, "1", "2-3,6" (the kernel's cpulist
// format), and checks every CPU against the process's affinity set.
func parseCPUList(s string) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	all, err := processCPUs()
	if err != nil {
		return nil, err
	}
	var cpus []int
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		first, err1 := strconv.Atoi(lo)
		last, err2 := first, error(nil)
		if isRange {
			last, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || first < 0 || last < first {
			return nil, fmt.Errorf("%q: want a CPU or a range of CPUs, e.g. 1 or 2-3", part)
		}
		for n := first; n <= last; n++ {
			if !slices.Contains(all, n) {
				return nil, notAllowed(n, all)
			}
			if !slices.Contains(cpus, n) {
				cpus = append(cpus, n)
			}
		}
	}
	return cpus, nil
}

// parseCPUs reads the -pin flag, "journal=0,matcher=1,...", and checks
// every CPU against the process's affinity set.
func parseCPUs(s string) (pipeline.CPUs, error) {
	cpus := pipeline.NoPinning
	if s == "" {
		return cpus, nil
	}
	all, err := processCPUs()
	if err != nil {
		return cpus, err
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		n, err := strconv.Atoi(v)
		if !ok || err != nil || n < 0 {
			return cpus, fmt.Errorf("%q: want stage=cpu", kv)
		}
		if !slices.Contains(all, n) {
			return cpus, fmt.Errorf("%s=%d: %w", k, n, notAllowed(n, all))
		}
		switch k {
		case "journal":
			cpus.Journal = n
		case "matcher":
			cpus.Matcher = n
		case "acker":
			cpus.Acker = n
		case "events":
			cpus.EventJournal = n
		case "notifier":
			cpus.Notifier = n
		default:
			return cpus, fmt.Errorf("unknown stage %q (journal, matcher, acker, events, notifier)", k)
		}
	}
	return cpus, nil
}
