package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ringex/ringex/client"
	"github.com/ringex/ringex/netio/wire"
	"github.com/ringex/ringex/perf/fanout"
)

// serveFloor runs the fan-out floor (package perf/fanout) until ctx ends:
// market data on -fanout-floor, the asset list and POST /start on -admin.
func serveFloor(ctx context.Context, c *config) error {
	if _, err := raiseFileLimit(); err != nil {
		fmt.Fprintln(os.Stderr, "ringex-load:", err)
	}
	f := &fanout.Floor{Mode: c.floorMode, Window: c.floorWindow, Symbol: c.assets[0]}
	md, err := net.Listen("tcp", c.fanoutFloor)
	if err != nil {
		return err
	}
	admin, err := net.Listen("tcp", c.admin)
	if err != nil {
		md.Close()
		return err
	}
	hs := &http.Server{Handler: f.AdminHandler()}
	errc := make(chan error, 2)
	go func() { errc <- f.Serve(md) }()
	go func() { errc <- hs.Serve(admin) }()
	window := ""
	if c.floorMode == fanout.Coalesce {
		window = fmt.Sprintf(" (window %v)", c.floorWindow)
	}
	fmt.Fprintf(os.Stderr, "ringex-load: fan-out floor, %s%s: market data %s (%s trades), admin http://%s (pid %d)\n",
		c.floorMode, window, md.Addr(), f.Symbol, admin.Addr(), os.Getpid())
	select {
	case <-ctx.Done():
		err = nil
	case err = <-errc:
	}
	hs.Close()
	f.Close()
	if errors.Is(err, fanout.ErrClosed) || errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// defaultReaders is -fanout-readers' default: epoll where there is one.
func defaultReaders() string {
	if _, err := fanout.ParseReaders("epoll"); err == nil {
		return "epoll"
	}
	return "goroutines"
}

// raiseFileLimit lifts the soft RLIMIT_NOFILE to the hard limit (Go does
// it at start too, since 1.19; this says so) and returns the limit.
func raiseFileLimit() (uint64, error) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("reading the descriptor limit: %w", err)
	}
	if lim.Cur < lim.Max {
		want := lim
		want.Cur = lim.Max
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &want); err != nil {
			return lim.Cur, fmt.Errorf("raising the descriptor limit from %d to the hard limit %d: %w", lim.Cur, lim.Max, err)
		}
		lim = want
	}
	return lim.Cur, nil
}

// fanoutRun measures the fan-out of -fanout subscribers of the trades of
// the first -assets, at -trade-rate trades/s for -duration: against
// ringexd with crossing orders through order entry, or against a floor
// with its own generator (-fanout-target floor).
func fanoutRun(ctx context.Context, c *config, stdout, stderr io.Writer) (*fanout.Result, error) {
	if lim, err := raiseFileLimit(); err != nil {
		fmt.Fprintln(stderr, "ringex-load:", err)
	} else if need := uint64(c.fanout) + 64; lim < need {
		return nil, fmt.Errorf("-fanout %d needs about %d descriptors, the limit is %d: raise the hard limit (ulimit -Hn %d as root, or LimitNOFILE in systemd, or nofile in /etc/security/limits.conf)",
			c.fanout, need, lim, need)
	}
	sym := c.assets[0]
	cfg := fanout.Config{
		Label: c.label, Addr: c.md, Symbol: sym, Subscribers: c.fanout, Rate: c.tradeRate,
		Duration: c.duration, Drain: c.drain, Settle: time.Second, PID: c.pid, Readers: c.readers,
	}
	switch c.fanoutTarget {
	case "floor":
		cfg.Contiguous = true
		cfg.Drive = func(ctx context.Context) (uint64, error) { return startFloor(ctx, c) }
	default:
		d, err := newCrossDriver(ctx, c, sym, stderr)
		if err != nil {
			return nil, err
		}
		defer d.s.Close()
		cfg.Drive = d.drive
	}
	if cfg.Label == "" {
		cfg.Label = c.fanoutTarget
	}
	res, err := fanout.Run(ctx, cfg)
	if err != nil {
		return nil, err
	}
	res.Print(stdout)
	if c.json {
		if err := writeResultJSON(c, stdout, "fanout.json", res); err != nil {
			return res, err
		}
	}
	return res, nil
}

// writeResultJSON writes res as indented JSON to stdout or, with -out, to
// name in that directory (creating it).
func writeResultJSON(c *config, stdout io.Writer, name string, res any) error {
	b, _ := json.MarshalIndent(res, "", "  ")
	b = append(b, '\n')
	if c.out == "" {
		stdout.Write(b)
		return nil
	}
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(c.out, name), b, 0o644)
}

// startFloor asks the floor at -admin to generate the trades and returns
// how many it made.
func startFloor(ctx context.Context, c *config) (uint64, error) {
	q := url.Values{"rate": {fmt.Sprint(c.tradeRate)}, "duration": {c.duration.String()}}
	req, err := http.NewRequestWithContext(ctx, "POST", "http://"+c.admin+"/start?"+q.Encode(), nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return 0, fmt.Errorf("floor /start: %s: %s", resp.Status, b)
	}
	var g fanout.GenerateResult
	if err := json.NewDecoder(resp.Body).Decode(&g); err != nil {
		return 0, fmt.Errorf("floor /start: %w", err)
	}
	return g.Last - g.First + 1, nil
}

// crossDriver makes trades on ringexd: for each trade, one session sends a
// GTC sell of one lot and an IOC buy of one lot at the same price, in one
// write, so that the buy takes the sell whatever else happens (the same
// connection keeps their order; self-trade prevention is off).
//
// It keeps at most crossWindow orders unanswered, half the server's
// default limit per session: a server that falls behind (its cores taken
// by the fan-out) would otherwise refuse orders with Reject 110, and the
// trades made would no longer be the pairs sent. The pairs that fall due
// while the window is full go out as soon as answers free it; the run
// says how many waited.
type crossDriver struct {
	c      *config
	s      *client.Session
	stderr io.Writer
	sym    wire.Symbol
	price  int64
	lot    int64

	acks, rejects atomic.Int64
	room          chan struct{} // a token after each answer: the window may have room
	target        atomic.Int64
	once          sync.Once
	done          chan struct{}
	firstReject   atomic.Pointer[string]

	// Owned by drive's goroutine.
	id, sent, pairs int64
	owed            int64 // pairs due and not yet sent
	maxOwed         int64 // the most pairs the window held back
	o               wire.NewOrder
}

// crossWindow is the most orders the driver leaves unanswered.
const crossWindow = 2048

func newCrossDriver(ctx context.Context, c *config, sym string, stderr io.Writer) (*crossDriver, error) {
	actx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	all, err := client.FetchAssets(actx, c.admin)
	if err != nil {
		return nil, err
	}
	ps, err := assetParams(all, []string{sym}, 0)
	if err != nil {
		return nil, err
	}
	d := &crossDriver{c: c, stderr: stderr, sym: wire.MakeSymbol(sym), price: ps[0].Mid, lot: ps[0].Lot,
		room: make(chan struct{}, 1), done: make(chan struct{})}
	d.o = wire.NewOrder{Symbol: d.sym, Type: 1, Price: d.price, Qty: d.lot}
	d.target.Store(1<<63 - 1)
	u := c.users[0]
	if d.s, err = client.Dial(actx, c.addr, u.user, u.key, d); err != nil {
		return nil, err
	}
	return d, nil
}

func (d *crossDriver) OnAck(*wire.OrderAck) { d.answered() }

func (d *crossDriver) OnReject(r *wire.Reject) {
	d.rejects.Add(1)
	msg := fmt.Sprintf("reject %d: %s", r.Reason, wire.ReasonText(r.Reason))
	d.firstReject.CompareAndSwap(nil, &msg)
	d.answered()
}

func (d *crossDriver) answered() {
	if d.acks.Add(1) >= d.target.Load() {
		d.once.Do(func() { close(d.done) })
	}
	select {
	case d.room <- struct{}{}:
	default:
	}
}

// send sends as many of the pairs owed as the window holds, in one write.
func (d *crossDriver) send() error {
	k := min(d.owed, (crossWindow-(d.sent-d.acks.Load()))/2)
	if k <= 0 {
		return nil
	}
	for range k {
		d.id++
		d.o.ClientOrderID, d.o.Side, d.o.TIF = uint64(d.id), 2, 1 // GTC sell
		if err := d.s.NewOrder(&d.o); err != nil {
			return err
		}
		d.id++
		d.o.ClientOrderID, d.o.Side, d.o.TIF = uint64(d.id), 1, 2 // IOC buy
		if err := d.s.NewOrder(&d.o); err != nil {
			return err
		}
	}
	d.sent += 2 * k
	d.pairs += k
	d.owed -= k
	return d.s.Flush()
}

// drive sends the crossing pairs at the pace of the floor's generator and
// waits for their answers; every pair acked is one trade.
func (d *crossDriver) drive(ctx context.Context) (uint64, error) {
	var sendErr error
	err := fanout.Pace(ctx, d.c.tradeRate, d.c.duration, func(n int, _ time.Time) {
		d.owed += int64(n)
		if sendErr == nil {
			sendErr = d.send()
		}
		d.maxOwed = max(d.maxOwed, d.owed) // what the window held back
	})
	if err == nil {
		err = sendErr
	}
	paceEnd := time.Now()
	drain := time.NewTimer(d.c.drain)
	defer drain.Stop()
	for err == nil && d.owed > 0 {
		select {
		case <-d.room:
			err = d.send()
		case <-drain.C:
			err = fmt.Errorf("%d trades still waiting for the order window after %v", d.owed, d.c.drain)
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	if d.maxOwed > 0 {
		fmt.Fprintf(d.stderr, "ringex-load: ringexd's order entry fell behind: up to %d trades waited for the %d-order window, the last %v after the pace ended\n",
			d.maxOwed, crossWindow, time.Since(paceEnd).Round(time.Millisecond))
	}
	d.target.Store(d.sent)
	if d.acks.Load() >= d.sent {
		d.once.Do(func() { close(d.done) })
	}
	if err != nil {
		return uint64(d.pairs), err
	}
	select {
	case <-d.done:
	case <-drain.C:
		return uint64(d.pairs), fmt.Errorf("%d of %d orders answered after %v", d.acks.Load(), d.sent, d.c.drain)
	case <-ctx.Done():
		return uint64(d.pairs), ctx.Err()
	}
	if n := d.rejects.Load(); n > 0 {
		return uint64(d.pairs), fmt.Errorf("%d orders rejected (first: %s): the trades count is wrong", n, *d.firstReject.Load())
	}
	return uint64(d.pairs), nil
}
