package perf

import (
	"fmt"
	"io"
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Run gathers everything one load run measures: a Tracker per connection,
// the latency distributions, the fill check, the subscribers' trade counts,
// and the errors and matcher refusals by reason. Its methods are safe for
// concurrent use.
type Run struct {
	// Base is the time origin of the run's trackers.
	Base time.Time
	// ReasonText names a reject reason code in the report (nil: the
	// number alone).
	ReasonText func(code uint16) string
	// NoFillCheck leaves the fill check out of the result (for a server
	// where users the run does not watch also trade).
	NoFillCheck bool

	Ack      *Latency // ack arrival minus intended send time
	AckSend  *Latency // ack arrival minus actual send time: what a closed-loop tool would report
	Fill     *Latency // first taker fill notification minus intended send time
	Delivery *Latency // public trade arrival at a subscriber minus the trade's time
	SendLag  *Latency // actual minus intended send time: the generator's own lateness
	Fills    FillCheck

	mu       sync.Mutex
	trackers []*Tracker
	subs     []*Subscriber
	errors   map[string]int64
	refusals map[string]int64
}

// NewRun returns an empty run whose times count from base.
func NewRun(base time.Time) *Run {
	return &Run{
		Base:     base,
		Ack:      NewLatency("ack"),
		AckSend:  NewLatency("ack-from-send"),
		Fill:     NewLatency("order-to-fill"),
		Delivery: NewLatency("trade-delivery"),
		SendLag:  NewLatency("send-lag"),
	}
}

// Latencies are the run's distributions, in report order.
func (r *Run) Latencies() []*Latency {
	return []*Latency{r.Ack, r.AckSend, r.Fill, r.Delivery, r.SendLag}
}

// NewTracker returns the tracker of a new connection whose requests take
// slots of w (nil: unbounded).
func (r *Run) NewTracker(w *Window) *Tracker {
	t := &Tracker{base: r.Base, window: w, ack: r.Ack.Recorder(), svc: r.AckSend.Recorder(), fill: r.Fill.Recorder(), lag: r.SendLag.Recorder()}
	r.mu.Lock()
	r.trackers = append(r.trackers, t)
	r.mu.Unlock()
	return t
}

// Subscriber counts and times the public trades one market-data
// connection receives; every subscriber must receive every trade.
type Subscriber struct {
	rec    *Recorder
	trades atomic.Int64
}

// NewSubscriber returns a subscriber whose delivery latencies go to rec
// (several subscribers may share one: with thousands of subscribers, one
// recorder each would cost too much memory).
func (r *Run) NewSubscriber(rec *Recorder) *Subscriber {
	s := &Subscriber{rec: rec}
	r.mu.Lock()
	r.subs = append(r.subs, s)
	r.mu.Unlock()
	return s
}

// Trade records a public trade whose time (the taker's receive time at the
// gateway, Unix ns) is tradeTime.
func (s *Subscriber) Trade(tradeTime int64) {
	s.rec.Record(time.Duration(time.Now().UnixNano() - tradeTime))
	s.trades.Add(1)
}

// Trades is how many trades the subscriber received.
func (s *Subscriber) Trades() int64 { return s.trades.Load() }

// Error counts an error by reason. Reasons are summary lines ("session 2:
// connection reset"), not one line per request.
func (r *Run) Error(reason string) {
	r.mu.Lock()
	if r.errors == nil {
		r.errors = make(map[string]int64)
	}
	r.errors[reason]++
	r.mu.Unlock()
}

// Refused counts a request the matcher refused after it was acked (an
// outcome of the order mix, such as a fill-or-kill that could not fill),
// by reason.
func (r *Run) Refused(reason string) {
	r.mu.Lock()
	if r.refusals == nil {
		r.refusals = make(map[string]int64)
	}
	r.refusals[reason]++
	r.mu.Unlock()
}

// Counts returns the totals over every tracker.
func (r *Run) Counts(withLost bool) Counts {
	r.mu.Lock()
	ts := append([]*Tracker(nil), r.trackers...)
	r.mu.Unlock()
	var c Counts
	for _, t := range ts {
		tc := t.Counts(withLost)
		c.add(tc)
		if len(c.LostNumbers) < maxRecordedLost {
			c.LostNumbers = append(c.LostNumbers, tc.LostNumbers...)
		}
	}
	return c
}

// SubscribersBehind is the number of subscribers that have received fewer
// trades than the fill check saw published.
func (r *Run) SubscribersBehind() int {
	trades, _ := r.Fills.Totals()
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, s := range r.subs {
		if s.Trades() < trades {
			n++
		}
	}
	return n
}

// Delivered is a figure that grows with every notification the run
// receives: the public trades and fills the fill check saw plus every
// subscriber's trades. While it changes, deliveries are still arriving.
func (r *Run) Delivered() int64 {
	trades, fills := r.Fills.Totals()
	r.mu.Lock()
	defer r.mu.Unlock()
	n := trades + fills
	for _, s := range r.subs {
		n += s.Trades()
	}
	return n
}

func (r *Run) errorCount() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var n int64
	for _, v := range r.errors {
		n += v
	}
	return n
}

// Progress prints a line to w every interval until stop is closed: the
// requests sent and answered in the last interval, per second, the
// requests in flight, and the rejects and errors so far.
func (r *Run) Progress(w io.Writer, every time.Duration, stop <-chan struct{}) {
	t := time.NewTicker(every)
	defer t.Stop()
	start := time.Now()
	var last Counts
	lastT := start
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			c := r.Counts(false)
			secs := now.Sub(lastT).Seconds()
			fmt.Fprintf(w, "[%5.1fs] sent %8.0f/s  answered %8.0f/s  in flight %6d  rejects %d  errors %d\n",
				now.Sub(start).Seconds(), float64(c.Sent-last.Sent)/secs,
				float64(c.Acked+c.Rejected-last.Acked-last.Rejected)/secs, c.InFlight(), c.Rejected, r.errorCount())
			last, lastT = c, now
		}
	}
}

// Result summarizes the run and checks it. mode and rate describe the run;
// sending is how long the send phase lasted. Call it after the answers
// have been waited for: whatever is still in flight counts as lost.
func (r *Run) Result(mode string, rate float64, sending time.Duration) *Result {
	c := r.Counts(true)
	res := &Result{
		Mode: mode, TargetRate: rate, Duration: sending.Seconds(),
		Sent: c.Sent, Acked: c.Acked, Rejected: c.Rejected, Duplicates: c.Duplicates, Unknown: c.Unknown,
		Lost: c.InFlight(), Rejects: map[string]int64{}, Refusals: map[string]int64{}, Errors: map[string]int64{},
	}
	if res.Duration > 0 {
		res.Rate = float64(c.Acked+c.Rejected) / res.Duration
	}
	for code, n := range c.Rejects {
		k := fmt.Sprint(code)
		if r.ReasonText != nil {
			k += " " + r.ReasonText(code)
		}
		res.Rejects[k] += n
	}
	r.mu.Lock()
	for k, v := range r.refusals {
		res.Refusals[k] = v
	}
	for k, v := range r.errors {
		res.Errors[k] = v
	}
	subs := append([]*Subscriber(nil), r.subs...)
	r.mu.Unlock()
	res.Trades, res.Fills = r.Fills.Totals()
	res.Subscribers = len(subs)
	for _, l := range r.Latencies() {
		res.Latencies = append(res.Latencies, l.Summary())
	}

	if res.Lost > 0 {
		res.Failures = append(res.Failures, fmt.Sprintf("%d requests never answered (first: %v)", res.Lost, c.LostNumbers))
	}
	if c.Duplicates > 0 {
		res.Failures = append(res.Failures, fmt.Sprintf("%d requests answered more than once", c.Duplicates))
	}
	if c.Unknown > 0 {
		res.Failures = append(res.Failures, fmt.Sprintf("%d answers for requests never sent", c.Unknown))
	}
	if !r.NoFillCheck {
		res.Failures = append(res.Failures, r.Fills.Failures()...)
	}
	behind := 0
	var lo, hi int64 = math.MaxInt64, math.MinInt64
	for _, s := range subs {
		n := s.Trades()
		lo, hi = min(lo, n), max(hi, n)
		if n != res.Trades {
			behind++
		}
	}
	if behind > 0 {
		res.Failures = append(res.Failures, fmt.Sprintf("%d of %d subscribers did not receive exactly the %d public trades (they received %d to %d)",
			behind, len(subs), res.Trades, lo, hi))
	}
	if len(res.Errors) > 0 {
		res.Failures = append(res.Failures, fmt.Sprintf("%d errors", r.errorCount()))
	}
	return res
}

// Result is one run's outcome, printed and written as summary.json.
type Result struct {
	Mode        string           `json:"mode"`
	TargetRate  float64          `json:"target_rate"` // orders/s; 0 in max-throughput mode
	Sessions    int              `json:"sessions"`
	Depth       int              `json:"depth"` // window per session; 0: unbounded
	Subscribers int              `json:"subscribers"`
	Duration    float64          `json:"duration_s"` // the send phase
	Sent        int64            `json:"sent"`
	Acked       int64            `json:"acked"`
	Rejected    int64            `json:"rejected"`
	Lost        int64            `json:"lost"`
	Duplicates  int64            `json:"duplicates"`
	Unknown     int64            `json:"unknown_answers"`
	Rate        float64          `json:"achieved_rate"` // answers/s over the send phase
	Rejects     map[string]int64 `json:"rejects_by_reason"`
	Refusals    map[string]int64 `json:"matcher_refusals_by_reason"`
	Errors      map[string]int64 `json:"errors_by_reason"`
	Trades      int64            `json:"public_trades"`
	Fills       int64            `json:"fill_notifications"`
	Latencies   []Percentiles    `json:"latencies"`
	// Generator is the load generator's own cost per answered request
	// over the run (/proc/self); Server the server's, when its process id
	// was given (ServerPID).
	Generator Costs    `json:"generator"`
	Server    *Costs   `json:"server,omitempty"`
	ServerPID int      `json:"server_pid,omitempty"`
	Failures  []string `json:"failures"`
}

// OK reports whether the run lost nothing and passed every check.
func (r *Result) OK() bool { return len(r.Failures) == 0 }

// Print writes the human summary.
func (r *Result) Print(w io.Writer) {
	if r.Mode == "max-throughput" {
		fmt.Fprintf(w, "max throughput, depth %d per session", r.Depth)
	} else {
		fmt.Fprintf(w, "open loop at %.0f orders/s", r.TargetRate)
		if r.Depth > 0 {
			fmt.Fprintf(w, ", depth %d per session", r.Depth)
		}
	}
	fmt.Fprintf(w, ", %d sessions, %d subscribers, %.1f s\n", r.Sessions, r.Subscribers, r.Duration)
	fmt.Fprintf(w, "sent %d, acked %d, rejected %d, lost %d, duplicates %d: %.0f answers/s\n",
		r.Sent, r.Acked, r.Rejected, r.Lost, r.Duplicates, r.Rate)
	printReasons(w, "rejects", r.Rejects)
	printReasons(w, "refused by the matcher", r.Refusals)
	fmt.Fprintf(w, "public trades %d, fill notifications %d\n", r.Trades, r.Fills)
	fmt.Fprintf(w, "%-15s %9s %9s %9s %9s %9s %9s %9s\n", "latency (us)", "count", "p50", "p90", "p99", "p99.9", "p99.99", "max")
	for _, p := range r.Latencies {
		fmt.Fprintf(w, "%-15s %9d %9.1f %9.1f %9.1f %9.1f %9.1f %9.1f\n", p.Name, p.Count, p.P50, p.P90, p.P99, p.P999, p.P9999, p.Max)
	}
	fmt.Fprintf(w, "per answered request: generator %.2f us CPU, %.3f read+write syscalls, %.3f context switches\n",
		r.Generator.CPUMicros, r.Generator.Syscalls, r.Generator.CtxSwitches)
	if r.Server != nil {
		fmt.Fprintf(w, "per answered request: server (pid %d) %.2f us CPU, %.3f read+write syscalls, %.3f context switches\n",
			r.ServerPID, r.Server.CPUMicros, r.Server.Syscalls, r.Server.CtxSwitches)
	}
	printReasons(w, "errors", r.Errors)
	if r.OK() {
		fmt.Fprintln(w, "checks passed: every request answered exactly once, every trade notified to both owners")
		return
	}
	for _, f := range r.Failures {
		fmt.Fprintf(w, "FAILED: %s\n", f)
	}
}

func printReasons(w io.Writer, title string, m map[string]int64) {
	if len(m) == 0 {
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintf(w, "%s:", title)
	for i, k := range keys {
		sep := ","
		if i == 0 {
			sep = ""
		}
		fmt.Fprintf(w, "%s %s: %d", sep, k, m[k])
	}
	fmt.Fprintln(w)
}
