package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ringex/ringex/client"
	"github.com/ringex/ringex/netio/wire"
	"github.com/ringex/ringex/perf"
	"github.com/ringex/ringex/perf/fanout"
)

// A mixed fan-out run (-fanout-mix N) puts subscribers of every kind on
// one ringexd while orders trade on every asset, and compares, in the same
// run, the phases it goes through:
//
//	none      orders only (the reference feeds the checks need, no subscribers)
//	connect   the N subscribers connect and subscribe, orders going on
//	subs      orders and the N subscribers
//	churn     the same, and -churn short-lived subscribers a second
//	          (subs and churn alternate -rounds times, then subs again)
//	check     no orders: every subscriber catches up and is checked
//	none      the subscribers gone, orders only again
//
// The N subscribers are -fanout-private logged-in users on their private
// channel (the -users in turn) and the rest public, each subscribed to the
// trades and the whole book of one asset, in turn. Each checks that it got
// every message of its channels from its subscription on, in order (perf/
// fanout's Tally against the reference feeds subscribed before the first
// order), and each book subscriber that its book is the final snapshot's.
//
// The orders: for each trade, one session per asset sends a GTC sell and
// an IOC buy of one lot at the same price (one of mixPairLevels prices
// above the mid), which trade with each other; every mixRestEvery-th
// trade also rests one order on one of mixRestLevels levels further out,
// so the book has depth and changes. The last order of a lane is a marker
// that rests: its acceptance in the user's reference feed is the end of
// the run's stream of that asset.

const (
	mixPairLevels = 10   // the prices the crossing pairs trade at: mid .. mid+9 ticks
	mixRestLevels = 50   // the levels resting orders go to on each side, outside the pairs'
	mixRestEvery  = 8    // one resting order every this many trades
	mixAckSlots   = 4096 // > crossWindow: a slot per unanswered order
)

// mixPhase is one phase of the run and what was measured in it.
type mixPhase struct {
	Name     string  `json:"name"`
	Kind     string  `json:"kind"` // none, connect, subs, churn, check
	Seconds  float64 `json:"seconds"`
	Trades   int64   `json:"trades"`
	Orders   int64   `json:"orders"`
	Delivers int64   `json:"deliveries"`

	Ack perf.Percentiles `json:"ack"` // send to ack, us
	// The server's own ack latency (its receipt of the order to the ack
	// handed to its event loop, ringex_gateway_ack_latency_seconds),
	// p50 and p99 from the histogram's buckets (-1: unread): what the
	// order path took inside ringexd, without this process's readers.
	ServerAckP50 float64 `json:"server_ack_p50_us"`
	ServerAckP99 float64 `json:"server_ack_p99_us"`
	// The server's goroutines' wait for a P once runnable, p99 (-1:
	// unread): the part of its latency spent in the Go run queue rather
	// than the kernel's (go_sched_latencies_seconds).
	ServerSchedP99 float64          `json:"server_sched_latency_p99_us"`
	Trade          perf.Percentiles `json:"trade"` // public trade delivery, us
	Event          perf.Percentiles `json:"event"` // private order event delivery, us

	ServerCPU        float64 `json:"server_cpu_us"`
	ServerCPUDeliv   float64 `json:"server_cpu_us_per_delivery"`
	ServerWriteDeliv float64 `json:"server_writes_per_delivery"`
	ServerCPUOrder   float64 `json:"server_cpu_us_per_order"`
	LoadCPUDeliv     float64 `json:"load_cpu_us_per_delivery"` // this process: the readers, the driver, the churn
	ServerCores      float64 `json:"server_cores"`             // server CPU seconds per second
	LoadCores        float64 `json:"load_cores"`               // this process's CPU seconds per second
	ServerRunqWait   float64 `json:"server_runq_wait"`         // seconds the server's threads waited for a CPU, per second (schedstat)
	HeapInuseMiB     float64 `json:"server_heap_inuse_mib"`    // at the phase's end, after a GC, from /metrics (-1: unread)
	JournalCommitUs  float64 `json:"journal_commit_us"`        // mean group commit (sync included), from /metrics
	MatcherBatchUs   float64 `json:"matcher_batch_us"`         // mean matcher batch, from /metrics
	RSSMiB           float64 `json:"server_rss_mib"`           // at the phase's end
	FDs              int     `json:"server_fds"`               // at the phase's end

	Churn *fanout.ChurnResult `json:"churn,omitempty"`
}

// mixResult is a mixed run's report.
type mixResult struct {
	Subscribers int      `json:"subscribers"`
	Public      []int    `json:"public_by_asset"`
	Private     int      `json:"private"`
	Users       []string `json:"users"`
	Assets      []string `json:"assets"`
	TradeRate   float64  `json:"trades_per_s"`
	ChurnRate   float64  `json:"churn_per_s"`
	Phases      []*mixPhase

	RSSPerSubKiB float64           `json:"server_rss_kib_per_subscriber"` // connect phase's end against the first none's
	Verdict      fanout.MixVerdict `json:"verdict"`
	Errors       []string          `json:"errors"`

	// The goals, from the pooled phases of each kind (interleaved).
	AckP99None, AckP99Subs, AckP99Churn float64 // us
	// The same from the server's histogram (-1: unread).
	SrvAckP99None, SrvAckP99Subs, SrvAckP99Churn float64 // us
	TradeP99Subs, TradeP99Churn                  float64 // us
	FDsBeforeChurn, FDsAfterChurn                int
	RSSBeforeChurn, RSSAfterChurn                float64 // MiB
	HeapBeforeChurn, HeapAfterChurn              float64 // MiB in use
}

// OK reports whether every subscriber got its messages and nothing went
// wrong (the goals' ratios are reported, not judged).
func (r *mixResult) OK() bool { return r.Verdict.OK() && len(r.Errors) == 0 }

// mixLane is one asset's order flow: one session, its pacing state, and
// the send time of each unanswered order for the ack latency.
type mixLane struct {
	a     int
	p     perf.AssetParams
	user  string
	s     *client.Session
	drv   *mixDriver
	acks  atomic.Int64
	rejs  atomic.Int64
	first atomic.Pointer[string]
	room  chan struct{}

	sendAt [mixAckSlots]atomic.Int64 // ns since the driver's base << 8 | phase

	// Owned by the pacing goroutine.
	id     uint64
	sent   int64 // orders
	pairs  int64
	owed   int64
	rests  int64
	marker uint64
	o      wire.NewOrder
}

// mixDriver makes the trades of a mixed run on every asset.
type mixDriver struct {
	rate   float64
	srvAck []*histogram // the server's ack histogram's counts by phase
	base   time.Time
	lanes  []*mixLane
	ack    []*perf.Latency // by phase
	recs   [][]*perf.Recorder
	phase  *fanout.Mix
}

func newMixDriver(ctx context.Context, c *config, params []perf.AssetParams, m *fanout.Mix) (*mixDriver, error) {
	d := &mixDriver{rate: c.tradeRate, base: time.Now(), phase: m, srvAck: make([]*histogram, len(m.Phases))}
	for _, name := range m.Phases {
		l := perf.NewLatency("ack " + name)
		d.ack = append(d.ack, l)
		var rs []*perf.Recorder
		for range params {
			rs = append(rs, l.Recorder())
		}
		d.recs = append(d.recs, rs)
	}
	for a, p := range params {
		u := c.users[a%len(c.users)]
		ln := &mixLane{a: a, p: p, user: u.user, drv: d, room: make(chan struct{}, 1)}
		ln.o = wire.NewOrder{Symbol: wire.MakeSymbol(p.Symbol), Type: 1, Qty: p.Lot}
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		s, err := client.Dial(dctx, c.addr, u.user, u.key, ln, c.dial)
		cancel()
		if err != nil {
			d.close()
			return nil, fmt.Errorf("order entry for %s as %s: %w", p.Symbol, u.user, err)
		}
		ln.s = s
		d.lanes = append(d.lanes, ln)
	}
	return d, nil
}

func (d *mixDriver) close() {
	for _, ln := range d.lanes {
		ln.s.Close()
	}
}

func (ln *mixLane) OnAck(a *wire.OrderAck) { ln.answered(a.ClientOrderID) }

func (ln *mixLane) OnReject(r *wire.Reject) {
	ln.rejs.Add(1)
	msg := fmt.Sprintf("%s: reject %d: %s", ln.p.Symbol, r.Reason, wire.ReasonText(r.Reason))
	ln.first.CompareAndSwap(nil, &msg)
	ln.answered(r.ClientOrderID)
}

func (ln *mixLane) answered(id uint64) {
	if id&fanout.MarkerBit == 0 {
		v := ln.sendAt[id%mixAckSlots].Load()
		lat := time.Since(ln.drv.base).Nanoseconds() - v>>8
		ln.drv.recs[v&0xff][ln.a].Record(time.Duration(lat))
	}
	ln.acks.Add(1)
	select {
	case ln.room <- struct{}{}:
	default:
	}
}

// order sends one order of the lane, its send time stamped.
func (ln *mixLane) order(side, tif uint8, price int64, stamp int64) error {
	ln.id++
	ln.o.ClientOrderID, ln.o.Side, ln.o.TIF, ln.o.Price = ln.id, side, tif, price
	ln.sendAt[ln.id%mixAckSlots].Store(stamp)
	ln.sent++
	return ln.s.NewOrder(&ln.o)
}

// send sends as many of the trades owed as the window holds, in one write.
func (ln *mixLane) send() error {
	k := min(ln.owed, (crossWindow-(ln.sent-ln.acks.Load()))/3)
	if k <= 0 {
		return nil
	}
	stamp := time.Since(ln.drv.base).Nanoseconds()<<8 | int64(ln.drv.phase.Phase())
	tick, mid := ln.p.Tick, ln.p.Mid
	for range k {
		price := mid + (ln.pairs%mixPairLevels)*tick
		if err := ln.order(2, 1, price, stamp); err != nil { // GTC sell
			return err
		}
		if err := ln.order(1, 2, price, stamp); err != nil { // IOC buy: takes it
			return err
		}
		ln.pairs++
		if ln.pairs%mixRestEvery == 0 {
			lvl := (ln.rests / 2) % mixRestLevels
			var err error
			if ln.rests%2 == 0 {
				err = ln.order(1, 1, mid-(1+lvl)*tick, stamp) // a bid below every pair's price
			} else {
				err = ln.order(2, 1, mid+(mixPairLevels+lvl)*tick, stamp) // an ask above
			}
			if err != nil {
				return err
			}
			ln.rests++
		}
	}
	ln.owed -= k
	return ln.s.Flush()
}

// pace makes -trade-rate trades a second, in turn over the lanes, for d
// or until ctx ends (not an error: the connect phase ends so).
func (d *mixDriver) pace(ctx context.Context, dur time.Duration) error {
	var sendErr error
	next := 0
	err := fanout.Pace(ctx, d.rate, dur, func(n int, _ time.Time) {
		for range n {
			d.lanes[next].owed++
			next = (next + 1) % len(d.lanes)
		}
		for _, ln := range d.lanes {
			if sendErr == nil {
				sendErr = ln.send()
			}
		}
	})
	if errors.Is(err, context.Canceled) && ctx.Err() != nil && context.Cause(ctx) == errPhaseDone {
		err = nil
	}
	if err == nil {
		err = sendErr
	}
	return err
}

var errPhaseDone = errors.New("phase done")

// finish sends what is owed, then (marker) one resting marker order per
// lane, and waits for every answer.
func (d *mixDriver) finish(ctx context.Context, drain time.Duration, marker bool) error {
	deadline := time.NewTimer(drain)
	defer deadline.Stop()
	for _, ln := range d.lanes {
		for ln.owed > 0 {
			if err := ln.send(); err != nil {
				return err
			}
			if ln.owed == 0 {
				break
			}
			select {
			case <-ln.room:
			case <-deadline.C:
				return fmt.Errorf("%s: %d trades still waiting for the order window after %v", ln.p.Symbol, ln.owed, drain)
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if marker {
			ln.marker = fanout.MarkerBit | uint64(time.Now().UnixNano())&^fanout.MarkerBit
			ln.o.ClientOrderID, ln.o.Side, ln.o.TIF, ln.o.Price = ln.marker, 1, 1, ln.p.Mid-(mixRestLevels+3)*ln.p.Tick
			ln.sent++
			if err := ln.s.NewOrder(&ln.o); err != nil {
				return err
			}
			if err := ln.s.Flush(); err != nil {
				return err
			}
		}
	}
	for _, ln := range d.lanes {
		for ln.acks.Load() < ln.sent {
			select {
			case <-ln.room:
			case <-deadline.C:
				return fmt.Errorf("%s: %d of %d orders answered after %v", ln.p.Symbol, ln.acks.Load(), ln.sent, drain)
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if n := ln.rejs.Load(); n > 0 {
			return fmt.Errorf("%d orders rejected (first: %s)", n, *ln.first.Load())
		}
	}
	return nil
}

func (d *mixDriver) counts() (trades, orders int64) {
	for _, ln := range d.lanes {
		trades += ln.pairs
		orders += ln.sent
	}
	return trades, orders
}

// serverReading is the server's counters at one instant.
type serverReading struct {
	at       time.Time
	proc     perf.ProcStats
	self     perf.ProcStats
	writes   int64
	rss      int64
	runq     int64              // ns the server's threads waited on a run queue (/proc/PID/task/*/schedstat)
	metrics  map[string]float64 // the server's /metrics of interest, summed over labels
	fds      int
	delivers int64
	trades   int64
	orders   int64
}

func readServer(pid int, admin string, m *fanout.Mix, d *mixDriver) serverReading {
	r := serverReading{at: time.Now(), delivers: m.Delivered(), writes: -1, fds: -1, metrics: scrapeMetrics(admin)}
	r.trades, r.orders = d.counts()
	r.self, _ = perf.ReadProc(0)
	if pid == 0 {
		return r
	}
	r.proc, _ = perf.ReadProc(pid)
	if w, err := perf.ReadWrites(pid); err == nil {
		r.writes = w
	}
	r.rss, _ = perf.ReadRSS(pid)
	if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
		r.fds = len(ents)
	}
	r.runq = runqWait(pid)
	return r
}

// scrapedMetrics are the server's metrics a mixed run reads each phase.
var scrapedMetrics = []string{"go_memstats_heap_inuse_bytes",
	"ringex_journal_commit_seconds_sum", "ringex_journal_commit_seconds_count",
	"ringex_matcher_batch_seconds_sum", "ringex_matcher_batch_seconds_count",
	ackHistogram + "_bucket", schedHistogram + "_bucket"}

// schedHistogram is the Go runtime's scheduling latency (runtime/metrics'
// /sched/latencies:seconds): how long goroutines waited to run once ready.
const schedHistogram = "go_sched_latencies_seconds"

// ackHistogram is the server's ack latency histogram (netio/orderentry).
const ackHistogram = "ringex_gateway_ack_latency_seconds"

// scrapeMetrics reads scrapedMetrics from the admin server's /metrics,
// each summed over its labels; nil if it cannot.
func scrapeMetrics(admin string) map[string]float64 {
	hc := http.Client{Timeout: 5 * time.Second}
	// A heap profile with gc=1 collects first, so that the heap in use is
	// what is live, not the garbage of the phase: a leak shows as growth.
	if resp, err := hc.Get("http://" + admin + "/debug/pprof/heap?gc=1"); err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	resp, err := hc.Get("http://" + admin + "/metrics")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		name, rest, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		name, labels, _ := strings.Cut(name, "{") // the labels have no spaces
		for _, want := range scrapedMetrics {
			if name == want {
				var v float64
				if _, err := fmt.Sscan(rest, &v); err == nil {
					key := name
					if le, ok := bucketBound(labels); ok {
						key += "{" + le + "}" // a bucket: one entry per bound
					}
					out[key] += v
				}
			}
		}
	}
	return out
}

// mean is the mean of a histogram between two scrapes, in us (-1: none).
func mean(m0, m1 map[string]float64, name string) float64 {
	n := m1[name+"_count"] - m0[name+"_count"]
	if m0 == nil || m1 == nil || n <= 0 {
		return -1
	}
	return (m1[name+"_sum"] - m0[name+"_sum"]) / n * 1e6
}

// bucketBound returns the le label of a histogram bucket's labels
// ("le=\"0.005\"}"), if any.
func bucketBound(labels string) (string, bool) {
	_, v, ok := strings.Cut(labels, `le="`)
	if !ok {
		return "", false
	}
	v, _, ok = strings.Cut(v, `"`)
	return v, ok
}

// histogram is a Prometheus histogram's cumulative bucket counts between
// two scrapes, by upper bound in seconds (the last +Inf).
type histogram struct {
	le  []float64
	cum []float64
}

// histogramDelta reads name's buckets from two scrapes (nil: either unread
// or no bucket).
func histogramDelta(m0, m1 map[string]float64, name string) *histogram {
	if m0 == nil || m1 == nil {
		return nil
	}
	h := &histogram{}
	prefix := name + "_bucket{"
	for k, v := range m1 {
		le, ok := strings.CutPrefix(k, prefix)
		if !ok {
			continue
		}
		le = strings.TrimSuffix(le, "}")
		var b float64
		if le == "+Inf" {
			b = math.Inf(1)
		} else if _, err := fmt.Sscan(le, &b); err != nil {
			continue
		}
		h.le = append(h.le, b)
		h.cum = append(h.cum, v-m0[k])
	}
	if len(h.le) == 0 {
		return nil
	}
	sort.Sort(h)
	return h
}

func (h *histogram) Len() int           { return len(h.le) }
func (h *histogram) Less(i, j int) bool { return h.le[i] < h.le[j] }
func (h *histogram) Swap(i, j int) {
	h.le[i], h.le[j] = h.le[j], h.le[i]
	h.cum[i], h.cum[j] = h.cum[j], h.cum[i]
}

// add adds o's counts to h (the same buckets).
func (h *histogram) add(o *histogram) {
	if len(h.le) == 0 {
		h.le = append([]float64(nil), o.le...)
		h.cum = make([]float64, len(o.cum))
	}
	for i := range min(len(h.cum), len(o.cum)) {
		h.cum[i] += o.cum[i]
	}
}

// quantile is the q-quantile in us, interpolated linearly inside its
// bucket as Prometheus's histogram_quantile does (-1: empty). The buckets
// of the ack histogram double, so the figure is good to within its bucket;
// past the last finite bound it is that bound.
func (h *histogram) quantile(q float64) float64 {
	if h == nil || len(h.cum) == 0 || h.cum[len(h.cum)-1] <= 0 {
		return -1
	}
	rank := q * h.cum[len(h.cum)-1]
	lo, below := 0.0, 0.0
	for i, c := range h.cum {
		if c >= rank {
			if math.IsInf(h.le[i], 1) {
				return lo * 1e6
			}
			if c == below {
				return h.le[i] * 1e6
			}
			return (lo + (h.le[i]-lo)*(rank-below)/(c-below)) * 1e6
		}
		lo, below = h.le[i], c
	}
	return lo * 1e6
}

// runqWait sums the time pid's threads spent runnable but waiting for a
// CPU (the second field of /proc/PID/task/TID/schedstat), in ns: on a
// shared machine, the part of a latency that is waiting for a core.
func runqWait(pid int) int64 {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	var sum int64
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue // the thread exited meanwhile
		}
		var run, wait int64
		if _, err := fmt.Sscan(string(b), &run, &wait); err == nil {
			sum += wait
		}
	}
	return sum
}

// mixRun is -fanout-mix.
func mixRun(ctx context.Context, c *config, stdout, stderr io.Writer) (*mixResult, error) {
	need := uint64(c.fanoutMix) + uint64(c.churnWorkers) + 256
	if lim, err := raiseFileLimit(); err != nil {
		fmt.Fprintln(stderr, "ringex-load:", err)
	} else if lim < need {
		return nil, fmt.Errorf("-fanout-mix %d needs about %d descriptors, the limit is %d: raise the hard limit (README: descriptor limits)", c.fanoutMix, need, lim)
	}
	actx, cancel := context.WithTimeout(ctx, 10*time.Second)
	all, err := client.FetchAssets(actx, c.admin)
	cancel()
	if err != nil {
		return nil, err
	}
	params, err := assetParams(all, c.assets, mixPairLevels+mixRestLevels+5)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, p := range params {
		names = append(names, p.Symbol)
	}

	// The phases, interleaved: none, connect, (subs, churn) x rounds, subs,
	// check, none.
	type step struct{ name, kind string }
	steps := []step{{"none 1", "none"}, {"connect", "connect"}}
	for r := range c.rounds {
		steps = append(steps, step{fmt.Sprintf("subs %d", r+1), "subs"})
		if c.churn > 0 {
			steps = append(steps, step{fmt.Sprintf("churn %d", r+1), "churn"})
		}
	}
	steps = append(steps, step{fmt.Sprintf("subs %d", c.rounds+1), "subs"}, step{"check", "check"}, step{"none 2", "none"})
	var phaseNames []string
	for _, s := range steps {
		phaseNames = append(phaseNames, s.name)
	}
	m := fanout.NewMix(names, phaseNames)
	res := &mixResult{Subscribers: c.fanoutMix, Assets: names, TradeRate: c.tradeRate, ChurnRate: c.churn,
		Public: make([]int, len(params))}

	// The references first: every trade and order event of the run goes
	// through them.
	tradeRefs := make([]*fanout.Stream, len(params))
	orderRefs := map[string][]*fanout.Stream{}
	var refs []*fanout.MixSub
	defer func() { fanout.CloseAll(refs) }()
	for a := range params {
		tradeRefs[a] = fanout.NewStream()
		s, err := m.DialPublic(ctx, c.md, a, a, tradeRefs[a])
		if err != nil {
			return nil, fmt.Errorf("reference feed of %s: %w", names[a], err)
		}
		refs = append(refs, s)
	}
	for _, u := range c.users {
		if orderRefs[u.user] != nil {
			continue
		}
		res.Users = append(res.Users, u.user)
		ss := make([]*fanout.Stream, len(params))
		for a := range ss {
			ss[a] = fanout.NewStream()
		}
		orderRefs[u.user] = ss
		s, err := m.DialPrivate(ctx, c.md, u.user, u.key, 0, ss)
		if err != nil {
			return nil, fmt.Errorf("reference order feed of %s: %w", u.user, err)
		}
		refs = append(refs, s)
	}
	d, err := newMixDriver(ctx, c, params, m)
	if err != nil {
		return nil, err
	}
	defer d.close()

	var subs []*fanout.MixSub
	closed := false
	defer func() {
		if !closed {
			fanout.CloseAll(subs)
		}
	}()
	var rss0 int64
	readings := make([]serverReading, 0, len(steps)+1)
	for i, st := range steps {
		m.SetPhase(i)
		r0 := readServer(c.pid, c.admin, m, d)
		ph := &mixPhase{Name: st.name, Kind: st.kind}
		res.Phases = append(res.Phases, ph)
		if !c.quiet {
			fmt.Fprintf(stderr, "ringex-load: phase %s\n", st.name)
		}
		var err error
		switch st.kind {
		case "none", "subs":
			err = d.pace(ctx, c.duration)
		case "churn":
			ch := &fanout.Churn{Addr: c.md, Symbols: m.Symbols, Rate: c.churn, Workers: c.churnWorkers}
			stop := make(chan struct{})
			done := make(chan fanout.ChurnResult, 1)
			go func() { done <- ch.Run(ctx, stop) }()
			err = d.pace(ctx, c.churnFor)
			close(stop)
			cr := <-done
			ph.Churn = &cr
			for e, n := range cr.Errors {
				res.Errors = append(res.Errors, fmt.Sprintf("churn: %d cycles: %s", n, e))
			}
		case "connect":
			if c.pid != 0 {
				rss0 = r0.rss
			}
			pctx, cancel := context.WithCancelCause(ctx)
			connected := make(chan error, 1)
			go func() {
				var err error
				subs, err = connectMix(ctx, c, m, params, res, stderr)
				cancel(errPhaseDone)
				connected <- err
			}()
			err = d.pace(pctx, 24*time.Hour)
			if cerr := <-connected; cerr != nil {
				return nil, cerr
			}
			// Settle: the subscribers idle, then the server's RSS.
			if err == nil {
				err = d.pace(ctx, time.Second)
			}
		case "check":
			err = d.finish(ctx, c.drain, true)
			if err == nil {
				err = checkMix(ctx, c, m, d, subs, refs, tradeRefs, orderRefs, res)
				closed = true
			}
		}
		if err != nil {
			return nil, fmt.Errorf("phase %s: %w", st.name, err)
		}
		r1 := readServer(c.pid, c.admin, m, d)
		readings = append(readings, r1)
		ph.Seconds = r1.at.Sub(r0.at).Seconds()
		ph.Trades, ph.Orders, ph.Delivers = r1.trades-r0.trades, r1.orders-r0.orders, r1.delivers-r0.delivers
		ph.ServerCPU, ph.ServerCPUDeliv, ph.ServerWriteDeliv, ph.ServerCPUOrder, ph.RSSMiB, ph.FDs = -1, -1, -1, -1, -1, -1
		ph.LoadCPUDeliv = -1
		ph.HeapInuseMiB = -1
		if r1.metrics != nil {
			ph.HeapInuseMiB = r1.metrics["go_memstats_heap_inuse_bytes"] / (1 << 20)
		}
		ph.JournalCommitUs = mean(r0.metrics, r1.metrics, "ringex_journal_commit_seconds")
		ph.MatcherBatchUs = mean(r0.metrics, r1.metrics, "ringex_matcher_batch_seconds")
		d.srvAck[i] = histogramDelta(r0.metrics, r1.metrics, ackHistogram)
		ph.ServerAckP50, ph.ServerAckP99 = d.srvAck[i].quantile(0.5), d.srvAck[i].quantile(0.99)
		ph.ServerSchedP99 = histogramDelta(r0.metrics, r1.metrics, schedHistogram).quantile(0.99)
		ph.LoadCores = float64(r1.self.CPUTicks-r0.self.CPUTicks) / perf.ClockTicks / ph.Seconds
		if ph.Delivers > 0 {
			ph.LoadCPUDeliv = float64(r1.self.CPUTicks-r0.self.CPUTicks) * 1e6 / perf.ClockTicks / float64(ph.Delivers)
		}
		if c.pid != 0 {
			us := float64(r1.proc.CPUTicks-r0.proc.CPUTicks) * 1e6 / perf.ClockTicks
			ph.ServerCPU = us
			if ph.Delivers > 0 {
				ph.ServerCPUDeliv = us / float64(ph.Delivers)
				if r0.writes >= 0 && r1.writes >= 0 {
					ph.ServerWriteDeliv = float64(r1.writes-r0.writes) / float64(ph.Delivers)
				}
			}
			if ph.Orders > 0 {
				ph.ServerCPUOrder = us / float64(ph.Orders)
			}
			ph.RSSMiB, ph.FDs = float64(r1.rss)/(1<<20), r1.fds
			ph.ServerCores = us / 1e6 / ph.Seconds
			ph.ServerRunqWait = float64(r1.runq-r0.runq) / 1e9 / ph.Seconds
			if st.kind == "connect" && len(subs) > 0 {
				res.RSSPerSubKiB = float64(r1.rss-rss0) / 1024 / float64(len(subs))
			}
		}
	}
	if err := d.finish(ctx, c.drain, false); err != nil {
		res.Errors = append(res.Errors, "the last orders: "+err.Error())
	}
	summarizeMix(res, m, d)
	printMix(stdout, res)
	if c.json {
		if err := writeResultJSON(c, stdout, "fanout-mix.json", res); err != nil {
			return res, err
		}
	}
	return res, nil
}

// connectMix connects the run's subscribers from a few goroutines at once:
// the private ones first, then the public ones, an asset each in turn.
func connectMix(ctx context.Context, c *config, m *fanout.Mix, params []perf.AssetParams, res *mixResult, stderr io.Writer) ([]*fanout.MixSub, error) {
	n, priv := c.fanoutMix, min(c.fanoutPrivate, c.fanoutMix)
	res.Private = priv
	// A server that fans out to thousands while it trades answers each
	// subscription behind its loops' passes: allow 30 ms each.
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second+time.Duration(n)*30*time.Millisecond)
	defer cancel()
	subs := make([]*fanout.MixSub, n)
	var (
		next      atomic.Int64
		connected atomic.Int64
		mu        sync.Mutex
		firstErr  error
		wg        sync.WaitGroup
	)
	for range min(n, 64) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || cctx.Err() != nil {
					return
				}
				var s *fanout.MixSub
				var err error
				if i < priv {
					u := c.users[i%len(c.users)]
					s, err = m.DialPrivate(cctx, c.md, u.user, u.key, i, nil)
				} else {
					s, err = m.DialPublic(cctx, c.md, (i-priv)%len(params), i, nil)
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("subscriber %d of %d: %w", i, n, err)
						cancel()
					}
					mu.Unlock()
					return
				}
				subs[i] = s
				if k := connected.Add(1); k%1000 == 0 && !c.quiet {
					fmt.Fprintf(stderr, "ringex-load: %s: %d of %d subscribers connected\n", time.Now().Format("15:04:05.0"), k, n)
				}
			}
		}()
	}
	wg.Wait()
	var out []*fanout.MixSub
	for _, s := range subs {
		if s != nil {
			out = append(out, s)
			if s.User == "" {
				res.Public[s.Asset]++
			}
		}
	}
	return out, firstErr
}

// checkMix waits for the end of every stream (the markers' acceptance in
// the references, then in every subscriber), reads each asset's final
// book, closes the subscribers and checks them.
func checkMix(ctx context.Context, c *config, m *fanout.Mix, d *mixDriver, subs, refs []*fanout.MixSub,
	tradeRefs []*fanout.Stream, orderRefs map[string][]*fanout.Stream, res *mixResult) error {
	defer fanout.CloseAll(subs)
	deadline := time.Now().Add(c.drain)
	end := make([]uint64, len(d.lanes)) // each asset's marker sequence
	for _, ln := range d.lanes {
		for {
			seq, ok := orderRefs[ln.user][ln.a].Marked(ln.marker)
			if ok {
				end[ln.a] = seq
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s: the marker order's acceptance did not reach %s's reference feed within %v", ln.p.Symbol, ln.user, c.drain)
			}
			if err := perf.Sleep(ctx, 10*time.Millisecond); err != nil {
				return err
			}
		}
	}
	// reached: every subscriber has its streams up to the markers.
	lanesOf := map[string][]int{}
	for _, ln := range d.lanes {
		lanesOf[ln.user] = append(lanesOf[ln.user], ln.a)
	}
	reached := func(s *fanout.MixSub) bool {
		if s.User == "" {
			return s.Reached(s.Asset, end[s.Asset])
		}
		for _, a := range lanesOf[s.User] {
			if !s.Reached(a, end[a]) {
				return false
			}
		}
		return true
	}
	behind := 0
	for _, group := range [][]*fanout.MixSub{refs, subs} {
		for _, s := range group {
			for !reached(s) && time.Now().Before(deadline) && s.Err == nil {
				if err := perf.Sleep(ctx, 10*time.Millisecond); err != nil {
					return err
				}
			}
			if !reached(s) {
				behind++
			}
		}
	}
	if behind > 0 {
		res.Errors = append(res.Errors, fmt.Sprintf("%d subscribers had not reached the end of their streams after the %v drain", behind, c.drain))
	}
	books := make([]*fanout.Book, len(d.lanes))
	for a := range books {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		b, err := m.Snapshot(sctx, c.md, a)
		cancel()
		if err != nil {
			return err
		}
		if b.Seq < end[a] {
			return fmt.Errorf("%s: the final snapshot is at %d, before the marker's %d", m.Symbols[a], b.Seq, end[a])
		}
		books[a] = b
	}
	fanout.CloseAll(subs)
	fanout.CloseAll(refs)
	// The references themselves: every trade made is in them.
	for a, ln := range d.lanes {
		if n := tradeRefs[a].Len(); int64(n) != ln.pairs {
			res.Errors = append(res.Errors, fmt.Sprintf("%s: the reference feed saw %d trades, %d were made", ln.p.Symbol, n, ln.pairs))
		}
	}
	res.Verdict = fanout.Verify(append(append([]*fanout.MixSub(nil), refs...), subs...), tradeRefs, orderRefs, books)
	return nil
}

// summarizeMix pools the phases of each kind for the goals.
func summarizeMix(res *mixResult, m *fanout.Mix, d *mixDriver) {
	pool := func(ls []*perf.Latency, kind string) perf.Percentiles {
		all := perf.NewLatency(kind)
		for i, ph := range res.Phases {
			if ph.Kind == kind {
				all.Include(ls[i])
			}
		}
		return all.Summary()
	}
	for i, ph := range res.Phases {
		ph.Ack, ph.Trade, ph.Event = d.ack[i].Summary(), m.Trade[i].Summary(), m.Order[i].Summary()
	}
	res.AckP99None, res.AckP99Subs, res.AckP99Churn = pool(d.ack, "none").P99, pool(d.ack, "subs").P99, pool(d.ack, "churn").P99
	res.TradeP99Subs, res.TradeP99Churn = pool(m.Trade, "subs").P99, pool(m.Trade, "churn").P99
	srv := func(kind string) float64 {
		var all histogram
		for i, ph := range res.Phases {
			if ph.Kind == kind && d.srvAck[i] != nil {
				all.add(d.srvAck[i])
			}
		}
		return all.quantile(0.99)
	}
	res.SrvAckP99None, res.SrvAckP99Subs, res.SrvAckP99Churn = srv("none"), srv("subs"), srv("churn")
	// Descriptors and memory: the subs phase before the first churn, and
	// the last subs phase (after every churn phase, settled).
	first, last := -1, -1
	for i, ph := range res.Phases {
		if ph.Kind == "subs" {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first >= 0 {
		res.FDsBeforeChurn, res.RSSBeforeChurn = res.Phases[first].FDs, res.Phases[first].RSSMiB
		res.FDsAfterChurn, res.RSSAfterChurn = res.Phases[last].FDs, res.Phases[last].RSSMiB
		res.HeapBeforeChurn, res.HeapAfterChurn = res.Phases[first].HeapInuseMiB, res.Phases[last].HeapInuseMiB
	}
}

func ms(us float64) string { return fmt.Sprintf("%.2f", us/1000) }

func ratio(a, b float64) string {
	if b <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", a/b)
}

// printMix writes the run's table and its goals.
func printMix(w io.Writer, r *mixResult) {
	var pub []string
	for a, n := range r.Public {
		pub = append(pub, fmt.Sprintf("%d %s", n, r.Assets[a]))
	}
	fmt.Fprintf(w, "fan-out mix: %d subscribers: %s (trades + book), %d private (%s); %.0f trades/s; churn %.0f/s\n",
		r.Subscribers, strings.Join(pub, ", "), r.Private, strings.Join(r.Users, ", "), r.TradeRate, r.ChurnRate)
	fmt.Fprintln(w, "phase     secs  trades  deliveries | trade delivery ms p50/p99/p99.9/max | order event ms p99 | ack us p50/p99/p99.9/max srv p50/p99 | server us/deliv writes/deliv us/order | cores server/load, server runq wait s/s, Go sched p99 us | journal commit us, matcher batch us | load us/deliv | RSS, heap MiB  fds | churn cycles err behind p99 ms")
	for _, p := range r.Phases {
		churn := ""
		if p.Churn != nil {
			var errs int64
			for _, n := range p.Churn.Errors {
				errs += n
			}
			churn = fmt.Sprintf("%d %d %d %s", p.Churn.Cycles, errs, p.Churn.Behind, ms(p.Churn.Latency.P99))
		}
		fmt.Fprintf(w, "%-8s %5.1f %7d %11d | %s/%s/%s/%s | %s | %.0f/%.0f/%.0f/%.0f %.0f/%.0f | %.3f %.4f %.2f | %.2f/%.2f %.2f %.0f | %.0f %.1f | %.3f | %.0f %.0f %d | %s\n",
			p.Name, p.Seconds, p.Trades, p.Delivers,
			ms(p.Trade.P50), ms(p.Trade.P99), ms(p.Trade.P999), ms(p.Trade.Max), ms(p.Event.P99),
			p.Ack.P50, p.Ack.P99, p.Ack.P999, p.Ack.Max, p.ServerAckP50, p.ServerAckP99,
			p.ServerCPUDeliv, p.ServerWriteDeliv, p.ServerCPUOrder, p.ServerCores, p.LoadCores, p.ServerRunqWait, p.ServerSchedP99, p.JournalCommitUs, p.MatcherBatchUs, p.LoadCPUDeliv, p.RSSMiB, p.HeapInuseMiB, p.FDs, churn)
	}
	fmt.Fprintf(w, "ack p99: none %.0f us, subs %.0f us (%s), churn %.0f us (%s)  [goal: <= 1.5x none]\n",
		r.AckP99None, r.AckP99Subs, ratio(r.AckP99Subs, r.AckP99None), r.AckP99Churn, ratio(r.AckP99Churn, r.AckP99None))
	fmt.Fprintf(w, "server ack p99 (its receipt to the ack, from its histogram): none %.0f us, subs %.0f us (%s)",
		r.SrvAckP99None, r.SrvAckP99Subs, ratio(r.SrvAckP99Subs, r.SrvAckP99None))
	if r.ChurnRate > 0 {
		fmt.Fprintf(w, ", churn %.0f us (%s)", r.SrvAckP99Churn, ratio(r.SrvAckP99Churn, r.SrvAckP99None))
	}
	fmt.Fprintln(w)
	if r.ChurnRate > 0 {
		fmt.Fprintf(w, "trade delivery p99: subs %s ms, churn %s ms (%s)  [goal: <= 1.5x subs]\n",
			ms(r.TradeP99Subs), ms(r.TradeP99Churn), ratio(r.TradeP99Churn, r.TradeP99Subs))
		fmt.Fprintf(w, "server fds: %d before the churn, %d after; RSS %.0f MiB before, %.0f MiB after; Go heap in use %.0f MiB before, %.0f MiB after\n",
			r.FDsBeforeChurn, r.FDsAfterChurn, r.RSSBeforeChurn, r.RSSAfterChurn, r.HeapBeforeChurn, r.HeapAfterChurn)
	}
	fmt.Fprintf(w, "server RSS per subscriber (connected, trading on): %.1f KiB\n", r.RSSPerSubKiB)
	v := r.Verdict
	fmt.Fprintf(w, "checked %d public and %d private subscribers (references included): missing %d, extra %d, differing %d, out of order %d, books differing %d, conflated %d\n",
		v.Public, v.Private, v.Missing, v.Extra, v.Differ, v.OutOfOrder, v.BookDiffer, v.Conflated)
	errs := append(append([]string(nil), v.Errors...), r.Errors...)
	sort.Strings(errs)
	for _, e := range errs {
		fmt.Fprintln(w, "error:", e)
	}
	if r.OK() {
		fmt.Fprintln(w, "checks passed: every subscriber got every message of its channels, in order, and built the final book")
	} else {
		fmt.Fprintln(w, "FAILED: a subscriber missed, reordered or duplicated messages, or the run went wrong")
	}
}
