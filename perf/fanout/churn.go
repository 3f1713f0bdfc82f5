package fanout

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ringex/ringex/netio/wire"
	"github.com/ringex/ringex/perf"
)

// Churn makes short-lived subscribers at a fixed rate: each one connects,
// subscribes to the trades and the top ChurnDepth levels of the book of
// one asset (in turn), waits for its Subscribed and its BookSnapshot, and
// disconnects. It measures the time from the dial to the snapshot and
// counts what went wrong; the server must serve it without error while
// the long-lived subscribers keep their latency.
type Churn struct {
	Addr    string
	Symbols []wire.Symbol
	Rate    float64 // cycles per second
	Workers int     // cycles in progress at most (0: 64)

	Latency *perf.Latency // dial to snapshot
	done    atomic.Int64
	behind  atomic.Int64 // cycles due that found every worker busy and its queue full: not made
	mu      sync.Mutex
	errs    map[string]int64
}

// ChurnDepth is the book depth a churning subscriber asks for.
const ChurnDepth = 10

// ChurnResult is what a churn phase did.
type ChurnResult struct {
	Cycles  int64            `json:"cycles"`  // connects + subscribes + disconnects completed
	Behind  int64            `json:"behind"`  // cycles due but not made (workers busy)
	Errors  map[string]int64 `json:"errors"`  // by message
	Latency perf.Percentiles `json:"latency"` // dial to snapshot
}

// Run makes cycles at Rate until stop is closed (or ctx ends), waits for
// the cycles in progress and returns what it did.
func (c *Churn) Run(ctx context.Context, stop <-chan struct{}) ChurnResult {
	workers := c.Workers
	if workers <= 0 {
		workers = 64
	}
	c.Latency = perf.NewLatency("churn dial-to-snapshot")
	c.errs = make(map[string]int64)
	tokens := make(chan int, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		rec := c.Latency.Recorder()
		go func() {
			defer wg.Done()
			for i := range tokens {
				t0 := time.Now()
				if err := c.cycle(ctx, c.Symbols[i%len(c.Symbols)]); err != nil {
					c.mu.Lock()
					c.errs[errClass(err)]++
					c.mu.Unlock()
					continue
				}
				rec.Record(time.Since(t0))
				c.done.Add(1)
			}
		}()
	}
	pctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-stop:
		case <-pctx.Done():
		}
		cancel()
	}()
	next := 0
	Pace(pctx, c.Rate, 1<<62, func(n int, _ time.Time) {
		for range n {
			select {
			case tokens <- next:
				next++
			default:
				c.behind.Add(1)
			}
		}
	})
	cancel()
	close(tokens)
	wg.Wait()
	res := ChurnResult{Cycles: c.done.Load(), Behind: c.behind.Load(), Errors: c.errs, Latency: c.Latency.Summary()}
	return res
}

// errClass is err without the addresses of a net.OpError, so that the
// errors of thousands of connections count under a few messages.
func errClass(err error) string {
	var op *net.OpError
	if errors.As(err, &op) {
		prefix, _, _ := strings.Cut(err.Error(), ":")
		return prefix + ": " + op.Op + ": " + op.Err.Error()
	}
	return err.Error()
}

// cycle is one short-lived subscriber.
func (c *Churn) cycle(ctx context.Context, sym wire.Symbol) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	defer nc.Close()
	dl, _ := ctx.Deadline()
	nc.SetDeadline(dl)
	if _, err := nc.Write(wire.AppendSubscribe(nil, &wire.Subscribe{Symbol: sym, Channels: wire.ChanTrades | wire.ChanBook, Depth: ChurnDepth})); err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	var seq uint64
	subscribed := false
	for {
		fr, err := readFrame(nc)
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		switch wire.Type(fr) {
		case wire.TypeSubscribed:
			var m wire.Subscribed
			if err := wire.DecodeSubscribed(fr, &m); err != nil {
				return err
			}
			seq, subscribed = m.Seq, true
		case wire.TypeBookSnapshot:
			var m wire.BookSnapshot
			if err := wire.DecodeBookSnapshot(fr, &m); err != nil {
				return err
			}
			if !subscribed || m.Seq < seq {
				return fmt.Errorf("snapshot at %d before its Subscribed (%d)", m.Seq, seq)
			}
			return nil
		case wire.TypeSubRejected:
			var m wire.SubRejected
			wire.DecodeSubRejected(fr, &m)
			return fmt.Errorf("subscription refused: %s (%d)", wire.SubText(m.Reason), m.Reason)
		case wire.TypeLogout:
			code, _ := wire.DecodeLogout(fr)
			return fmt.Errorf("logged out (reason %d)", code)
		case wire.TypeTrade, wire.TypeBookUpdate:
			if !subscribed {
				return fmt.Errorf("a message before Subscribed")
			}
			return fmt.Errorf("an update before the snapshot")
		}
	}
}
