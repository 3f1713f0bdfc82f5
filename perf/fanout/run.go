package fanout

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ringex/ringex/perf"
)

// Config is one fan-out measurement.
type Config struct {
	Label       string        // what the server is: "ringexd", "naive", "coalesce 10ms"
	Addr        string        // the server's market-data address
	Symbol      string        // the asset whose trades channel is subscribed to
	Subscribers int           // connections, each subscribed to the trades channel
	Rate        float64       // trades per second
	Duration    time.Duration // how long trades are made
	Drain       time.Duration // how long to wait for the last deliveries
	Settle      time.Duration // idle wait after the last subscription, before the RSS is read
	Contiguous  bool          // the server numbers its trades without gaps (a floor)
	PID         int           // the server's process id for its costs and RSS (0: none)
	Readers     Readers       // how the subscribers' sockets are read

	// Drive makes Rate trades per second for Duration on the server (the
	// floor's generator, or crossing orders on ringexd) and returns how
	// many it made.
	Drive func(ctx context.Context) (trades uint64, err error)
}

// Result is what a run measured. Costs are per delivery (one trade to one
// subscriber), over the time from the first trade to the last delivery.
type Result struct {
	Label       string           `json:"label"`
	Readers     string           `json:"readers"`
	Subscribers int              `json:"subscribers"`
	Asked       int              `json:"subscribers_asked"`
	Rate        float64          `json:"trades_per_s"`
	Duration    float64          `json:"duration_s"`
	Trades      uint64           `json:"trades"`
	Deliveries  int64            `json:"deliveries"`
	Latency     perf.Percentiles `json:"latency"`
	Verdict     Verdict          `json:"verdict"`

	ServerCPU    float64 `json:"server_cpu_us_per_delivery"` // -1: no PID
	ServerWrites float64 `json:"server_writes_per_delivery"` // -1: no PID or unreadable
	ServerCtx    float64 `json:"server_ctx_switches_per_delivery"`
	ServerRSSSub float64 `json:"server_rss_kib_per_subscriber"` // idle, subscribed; -1: no PID
	ReaderCPU    float64 `json:"reader_cpu_us_per_delivery"`    // this process: the readers (and ringexd's driver)
	Errors       []string
}

// OK reports whether every subscriber got every trade, in order, and
// nothing else went wrong.
func (r *Result) OK() bool { return r.Verdict.OK() && len(r.Errors) == 0 && r.Subscribers == r.Asked }

// Run connects the subscribers, reads the server's RSS when they are idle,
// drives the trades, waits for every delivery (or the drain), and checks
// and measures what arrived. An error means the run could not be made;
// a run that lost trades returns a Result that is not OK.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.Subscribers < 1 || cfg.Rate <= 0 || cfg.Duration <= 0 || cfg.Drive == nil {
		return nil, errors.New("fanout: a run needs subscribers, a rate, a duration and a driver")
	}
	res := &Result{Label: cfg.Label, Readers: cfg.Readers.String(), Asked: cfg.Subscribers, Rate: cfg.Rate, Duration: cfg.Duration.Seconds(),
		ServerCPU: -1, ServerWrites: -1, ServerCtx: -1, ServerRSSSub: -1}
	var rss0 int64
	if cfg.PID != 0 {
		var err error
		if rss0, err = perf.ReadRSS(cfg.PID); err != nil {
			return nil, err
		}
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second+time.Duration(cfg.Subscribers)*2*time.Millisecond)
	subs, err := Connect(cctx, cfg.Addr, cfg.Symbol, cfg.Subscribers, cfg.Contiguous, cfg.Readers)
	cancel()
	defer subs.Close()
	res.Subscribers = subs.Len()
	if err != nil {
		res.Errors = append(res.Errors, fmt.Sprintf("connected %d of %d: %v", subs.Len(), cfg.Subscribers, err))
		if subs.Len() == 0 {
			return res, nil
		}
	}
	if err := perf.Sleep(ctx, cfg.Settle); err != nil {
		return nil, err
	}
	if cfg.PID != 0 {
		rss1, err := perf.ReadRSS(cfg.PID)
		if err != nil {
			return nil, err
		}
		res.ServerRSSSub = float64(rss1-rss0) / 1024 / float64(subs.Len())
	}

	srv0, srvErr := readProc(cfg.PID)
	self0, _ := perf.ReadProc(0)
	trades, err := cfg.Drive(ctx)
	res.Trades = trades
	if err != nil {
		res.Errors = append(res.Errors, "driving the trades: "+err.Error())
	}
	subs.Expect(int64(trades) * int64(subs.Len()))
	drain := time.NewTimer(cfg.Drain)
	select {
	case <-subs.All():
	case <-drain.C:
		res.Errors = append(res.Errors, fmt.Sprintf("after the %v drain, %d of %d deliveries", cfg.Drain, subs.Received(), int64(trades)*int64(subs.Len())))
	case <-ctx.Done():
		drain.Stop()
		return nil, ctx.Err()
	}
	drain.Stop()
	srv1, srvErr1 := readProc(cfg.PID)
	self1, _ := perf.ReadProc(0)
	subs.Close()

	res.Deliveries = subs.Received()
	res.Latency = subs.Latency().Summary()
	res.Verdict = subs.Verdict(trades)
	res.ReaderCPU = perf.PerOrder(self0, self1, res.Deliveries).CPUMicros
	if cfg.PID != 0 && srvErr == nil && srvErr1 == nil && res.Deliveries > 0 {
		c := perf.PerOrder(srv0.ProcStats, srv1.ProcStats, res.Deliveries)
		res.ServerCPU, res.ServerCtx = c.CPUMicros, c.CtxSwitches
		if srv0.writes >= 0 && srv1.writes >= 0 {
			res.ServerWrites = float64(srv1.writes-srv0.writes) / float64(res.Deliveries)
		}
	}
	return res, nil
}

type procReading struct {
	perf.ProcStats
	writes int64
}

func readProc(pid int) (procReading, error) {
	if pid == 0 {
		return procReading{}, errors.New("no pid")
	}
	s, err := perf.ReadProc(pid)
	if err != nil {
		return procReading{}, err
	}
	w, err := perf.ReadWrites(pid)
	if err != nil {
		w = -1
	}
	return procReading{s, w}, nil
}

// Print writes a human summary of r.
func (r *Result) Print(w io.Writer) {
	fmt.Fprintf(w, "fan-out %s: %d subscribers (of %d; %s readers), %.0f trades/s for %.1f s: %d trades, %d deliveries\n",
		r.Label, r.Subscribers, r.Asked, r.Readers, r.Rate, r.Duration, r.Trades, r.Deliveries)
	l := r.Latency
	fmt.Fprintf(w, "delivery latency (ms): p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f\n",
		l.P50/1000, l.P90/1000, l.P99/1000, l.P999/1000, l.Max/1000)
	v := r.Verdict
	fmt.Fprintf(w, "missing %d, extra %d, out of order %d, gaps %d, subscribers differing from the first %d\n",
		v.Missing, v.Extra, v.OutOfOrder, v.Gaps, v.Differ)
	if r.ServerCPU >= 0 {
		fmt.Fprintf(w, "per delivery: server %.3f us CPU, %.4f writes, %.4f context switches; readers %.3f us CPU\n",
			r.ServerCPU, r.ServerWrites, r.ServerCtx, r.ReaderCPU)
		fmt.Fprintf(w, "server RSS per idle subscriber: %.1f KiB\n", r.ServerRSSSub)
	} else {
		fmt.Fprintf(w, "per delivery: readers %.3f us CPU\n", r.ReaderCPU)
	}
	for _, e := range append(append([]string(nil), v.Errors...), r.Errors...) {
		fmt.Fprintln(w, "error:", e)
	}
	if r.OK() {
		fmt.Fprintln(w, "checks passed: every subscriber received every trade, in order")
	} else {
		fmt.Fprintln(w, "FAILED: a subscriber missed, reordered or duplicated trades, or the run went wrong")
	}
}
