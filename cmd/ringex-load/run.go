package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/ringex/ringex/client"
	"github.com/ringex/ringex/netio/wire"
	"github.com/ringex/ringex/perf"
)

// loadRun is one run's shared state: what the sessions and the feeds
// report to.
type loadRun struct {
	cfg        *config
	run        *perf.Run
	ids        idSpace
	params     []perf.AssetParams
	syms       []wire.Symbol       // by asset index
	assetIndex map[wire.Symbol]int // the inverse
	sessions   []*loadSession      // by session index, built before any feed is dialed
	refusals   [256]string         // "code text" of the matcher's reject codes, built once
	subscribed chan error          // one value per subscription answer
}

// maxDeliveryRecorders bounds the histograms the subscribers share: one
// each would cost 230 KiB times thousands of subscribers.
const maxDeliveryRecorders = 8

// run is one load run: connect, send for the configured time, wait for the
// answers, check, report. The summary goes to stdout, the progress lines
// to stderr; with -json and no -out, stdout carries the JSON summary alone
// and the human one goes to stderr.
func run(ctx context.Context, c *config, stdout, stderr io.Writer) (*perf.Result, error) {
	actx, cancel := context.WithTimeout(ctx, 5*time.Second)
	all, err := client.FetchAssets(actx, c.admin)
	cancel()
	if err != nil {
		return nil, err
	}
	params, err := assetParams(all, c.assets, c.spread)
	if err != nil {
		return nil, err
	}
	if len(params) > maxAssets {
		return nil, fmt.Errorf("at most %d assets", maxAssets)
	}
	lr := &loadRun{
		cfg:        c,
		run:        perf.NewRun(time.Now()),
		ids:        idSpace{run: uint16(rand.Uint32())},
		params:     params,
		assetIndex: make(map[wire.Symbol]int),
	}
	lr.run.ReasonText = wire.ReasonText
	lr.run.NoFillCheck = !c.checkFills
	for i, p := range params {
		sym := wire.MakeSymbol(p.Symbol)
		lr.syms = append(lr.syms, sym)
		lr.assetIndex[sym] = i
	}
	for code := range lr.refusals {
		lr.refusals[code] = fmt.Sprintf("%d %s", code, wire.ReasonText(uint16(code)))
	}
	var windows []*perf.Window
	for k := range c.sessions {
		u := c.users[k%len(c.users)]
		w := perf.NewWindow(c.depth)
		windows = append(windows, w)
		lr.sessions = append(lr.sessions, newSession(lr, k, u.user, lr.run.NewTracker(w),
			perf.NewGenerator(c.mix, params, c.seed+uint64(k)*0x9e3779b97f4a7c15)))
	}
	defer func() {
		for _, ls := range lr.sessions {
			ls.close()
		}
	}()

	var conns []interface{ Close() error }
	defer func() {
		for _, cn := range conns {
			cn.Close()
		}
	}()

	// Market data first: every subscription is confirmed before the first
	// order, so no trade or fill of the run can be missed.
	feeds := 0
	dialFeed := func(user, key string, h client.FeedHandler, name string, channels uint8) error {
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		f, err := client.DialFeed(dctx, c.md, user, key, h, c.dial)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		conns = append(conns, f)
		feeds++
		for _, p := range params {
			if err := f.Subscribe(p.Symbol, channels, 1); err != nil {
				return fmt.Errorf("%s: subscribe %s: %w", name, p.Symbol, err)
			}
		}
		return nil
	}
	expect := len(params) * (1 + c.subs)
	lr.subscribed = make(chan error, expect+len(params)*len(c.users))
	if err := dialFeed("", "", &tradeFeed{feedBase{lr: lr, name: "trade feed"}}, "trade feed", wire.ChanTrades); err != nil {
		return nil, err
	}
	// Watch every listed user, not only those with a session in this run:
	// an order resting from an earlier run that trades now is still one of
	// theirs, and its fill must be seen for the trade to check out.
	seen := map[string]bool{}
	for k := range len(c.users) {
		u := c.users[k]
		if seen[u.user] {
			continue
		}
		seen[u.user] = true
		name := "order events of " + u.user
		if err := dialFeed(u.user, u.key, &orderFeed{feedBase{lr: lr, name: name}}, name, wire.ChanOrders); err != nil {
			return nil, err
		}
		expect += len(params)
	}
	var recs []*perf.Recorder
	for i := range c.subs {
		if i < maxDeliveryRecorders {
			recs = append(recs, lr.run.Delivery.Recorder())
		}
		name := fmt.Sprintf("subscriber %d", i)
		h := &subscriberFeed{feedBase{lr: lr, name: name}, lr.run.NewSubscriber(recs[i%len(recs)])}
		if err := dialFeed("", "", h, name, wire.ChanTrades); err != nil {
			return nil, err
		}
	}
	timeout := time.After(10 * time.Second)
	for range expect {
		select {
		case err := <-lr.subscribed:
			if err != nil {
				return nil, err
			}
		case <-timeout:
			return nil, fmt.Errorf("market data: subscriptions not confirmed within 10s")
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}

	for _, ls := range lr.sessions {
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := ls.dial(dctx, c.addr, c.users[ls.k%len(c.users)].key, c.dial.TLS)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", sessionName(ls.k, ls.user), err)
		}
	}

	// The costs per order count from here: the generator's own (and the
	// server's, with -pid) CPU, system calls and context switches.
	costs, err := startCosts(c.pid)
	if err != nil {
		return nil, err
	}

	// Send. In max-throughput mode each session's goroutine writes and
	// reads (perf.MaxThroughput) until the end, then only reads; in open
	// loop one goroutine paces every session (perf.OpenLoop) and each
	// session has a reader.
	start := time.Now().Add(10 * time.Millisecond)
	end := start.Add(c.duration)
	stopProgress := make(chan struct{})
	var progressDone sync.WaitGroup
	if !c.quiet {
		progressDone.Add(1)
		go func() {
			defer progressDone.Done()
			lr.run.Progress(stderr, time.Second, stopProgress)
		}()
	}
	progressDone.Add(1)
	go func() {
		defer progressDone.Done()
		heartbeats(lr.sessions, stopProgress)
	}()
	stopRead := context.AfterFunc(ctx, func() {
		for _, ls := range lr.sessions {
			ls.nc.SetReadDeadline(time.Unix(1, 0)) // an interrupt ends the reads at once
		}
	})
	defer stopRead()
	var sending sync.WaitGroup
	for _, ls := range lr.sessions {
		sending.Add(1)
		go func() {
			var err error
			if c.mode == "max" {
				ls.nc.SetReadDeadline(end)
				time.Sleep(time.Until(start))
				_, err = perf.MaxThroughput(ctx, ls, ls, windows[ls.k], end)
				if ctx.Err() == nil {
					ls.nc.SetReadDeadline(time.Time{})
				}
			}
			sending.Done()
			if err == nil {
				err = perf.Drain(ls)
			}
			if !errors.Is(err, errClosed) && ctx.Err() == nil {
				lr.run.Error(fmt.Sprintf("%s ended: %v", sessionName(ls.k, ls.user), err))
			}
		}()
	}
	if c.mode != "max" {
		var ss []perf.Sender
		var schs []perf.Schedule
		for k, ls := range lr.sessions {
			ss = append(ss, ls)
			schs = append(schs, perf.NewSchedule(start, c.rate, c.sessions, k))
		}
		if _, err := perf.OpenLoop(ctx, ss, schs, windows, end, c.tick); err != nil {
			lr.run.Error(err.Error())
		}
	}
	sending.Wait()
	sendingTime := time.Since(start)

	// Wait for the last answers, then for the notifications. An order is
	// acked before it is matched, so when every answer is in, trades may
	// still be on their way to the reference feed and to the subscribers
	// alike; comparing their counts then compares two moving figures (a
	// subscriber ahead of the reference feed looked like a lost trade).
	// So the run is settled only once nothing more has arrived for
	// settleQuiet as well.
	const settleQuiet = 200 * time.Millisecond
	deadline := time.Now().Add(c.drain)
	settled := func() bool {
		return lr.run.Counts(false).InFlight() == 0 &&
			(!c.checkFills || lr.run.Fills.Open() == 0) && lr.run.SubscribersBehind() == 0
	}
	last, quietSince := lr.run.Delivered(), time.Now()
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if n := lr.run.Delivered(); n != last {
			last, quietSince = n, time.Now()
		}
		if settled() && time.Since(quietSince) >= settleQuiet {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(stopProgress)
	progressDone.Wait()
	answered := lr.run.Counts(false)
	genCosts, srvCosts, err := costs.stop(answered.Acked + answered.Rejected)
	if err != nil {
		return nil, err
	}

	mode := "open-loop"
	if c.mode == "max" {
		mode = "max-throughput"
	}
	res := lr.run.Result(mode, c.rate, sendingTime)
	res.Sessions, res.Depth = c.sessions, c.depth
	res.Generator, res.Server, res.ServerPID = genCosts, srvCosts, c.pid
	if c.mode == "max" {
		res.TargetRate = 0
	}
	jsonOut := stdout
	if c.json && c.out == "" {
		stdout = stderr // stdout carries the JSON alone
	}
	res.Print(stdout)
	if c.out != "" {
		if err := perf.WriteOutputs(c.out, res, lr.run.Latencies(), c.json); err != nil {
			return res, err
		}
		fmt.Fprintf(stdout, "wrote %s: .hgrm distributions, latency.png", c.out)
		if c.json {
			fmt.Fprint(stdout, ", summary.json")
		}
		fmt.Fprintln(stdout)
	} else if c.json {
		b, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return res, err
		}
		fmt.Fprintf(jsonOut, "%s\n", b)
	}
	return res, nil
}

// heartbeats sends a Heartbeat on every session that wrote nothing for the
// protocol's heartbeat interval, until stop is closed.
func heartbeats(sessions []*loadSession, stop <-chan struct{}) {
	t := time.NewTicker(heartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			for _, ls := range sessions {
				ls.heartbeat()
			}
		}
	}
}

// heartbeatInterval is the protocol's (docs/protocol.md): a session that
// sent nothing for it sends a Heartbeat.
const heartbeatInterval = 5 * time.Second

// costMeter reads the generator's and the server's /proc counters at the
// start of the sending; stop reads them again and divides.
type costMeter struct {
	pid       int
	self, srv perf.ProcStats
}

func startCosts(pid int) (*costMeter, error) {
	m := &costMeter{pid: pid}
	var err error
	if m.self, err = perf.ReadProc(0); err != nil {
		return nil, err
	}
	if pid != 0 {
		if m.srv, err = perf.ReadProc(pid); err != nil {
			return nil, fmt.Errorf("-pid: %w", err)
		}
	}
	return m, nil
}

func (m *costMeter) stop(orders int64) (gen perf.Costs, srv *perf.Costs, err error) {
	self, err := perf.ReadProc(0)
	if err != nil {
		return gen, nil, err
	}
	gen = perf.PerOrder(m.self, self, orders)
	if m.pid != 0 {
		s, err := perf.ReadProc(m.pid)
		if err != nil {
			return gen, nil, fmt.Errorf("-pid: %w", err)
		}
		c := perf.PerOrder(m.srv, s, orders)
		srv = &c
	}
	return gen, srv, nil
}
