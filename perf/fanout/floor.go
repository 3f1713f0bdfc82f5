package fanout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/ringex/ringex/netio/wire"
	"github.com/ringex/ringex/perf/echo"
)

// Mode is how a Floor's passes follow the trades.
type Mode int

const (
	// Naive makes a pass as soon as anything is pending: a trade is
	// written out at once, in as many writes as there are subscribers.
	Naive Mode = iota
	// Coalesce waits Floor.Window after each pass before the next one, so
	// that the trades of one window go out in one write per subscriber.
	Coalesce
)

// ParseMode parses "naive" or "coalesce".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "naive":
		return Naive, nil
	case "coalesce":
		return Coalesce, nil
	}
	return 0, fmt.Errorf("fanout: mode %q: want naive or coalesce", s)
}

func (m Mode) String() string {
	if m == Coalesce {
		return "coalesce"
	}
	return "naive"
}

// tradeFrameLen is the size of one Trade frame, the log's only kind.
const tradeFrameLen = wire.HeaderLen + wire.TradeLen

// Passes is the number of goroutines that write to a Floor's
// subscribers, each to its own share of them (the machine has two cores).
const Passes = 2

// Floor is the fan-out floor: a market-data server of the trades channel
// of one asset with nothing behind it. It accepts logins (any user),
// subscriptions to its symbol's trades channel (any other is refused),
// heartbeats (ignored) and Logout (the connection is closed at once), and
// publishes the trades that Generate makes, numbered 1, 2, 3, ... with no
// gap, each stamped with its generation time.
//
// Every trade is appended once to one log shared by every connection;
// each connection keeps its offset in the log. Passes goroutines each own
// a share of the connections (round robin at accept) and make passes over
// them: a pass writes each connection's pending bytes (its control
// answers, then the log from its offset to the end) in one write. In
// Naive mode a pass starts as soon as anything is pending; in Coalesce
// mode no sooner than Window after the previous pass ended.
// A pass's write blocks until the socket takes the bytes: the floor has no
// slow-consumer limit, its subscribers being the measuring readers. The
// log is never trimmed: 52 bytes per trade, about 190 MB per hour at 1,000
// trades/s, which is fine for a tool that lives for a benchmark run.
//
// The zero value is a naive floor of BTC-USD trades.
type Floor struct {
	Mode   Mode
	Window time.Duration // Coalesce: the wait between two passes
	Symbol string        // the asset whose trades are published ("" : BTC-USD)

	mu     sync.Mutex // guards the fields below, and the log's growth
	log    []byte     // every trade frame generated, in order; only appended to
	seq    uint64     // the last trade's sequence
	closed bool
	lns    map[net.Listener]struct{}
	conns  map[*floorConn]struct{}
	next   int // the pass the next connection goes to
	passes [Passes]*pass
	genMu  sync.Mutex // one Generate at a time
	wg     sync.WaitGroup
	done   chan struct{}
	once   sync.Once
}

func (f *Floor) init() {
	f.once.Do(func() {
		if f.Symbol == "" {
			f.Symbol = "BTC-USD"
		}
		f.lns = make(map[net.Listener]struct{})
		f.conns = make(map[*floorConn]struct{})
		f.done = make(chan struct{})
		for i := range f.passes {
			p := &pass{f: f, wake: make(chan struct{}, 1)}
			f.passes[i] = p
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				p.loop()
			}()
		}
	})
}

// ErrClosed is returned by Serve after Close.
var ErrClosed = errors.New("fanout: floor closed")

// Serve accepts market-data connections on ln until Close.
func (f *Floor) Serve(ln net.Listener) error {
	f.init()
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		ln.Close()
		return ErrClosed
	}
	f.lns[ln] = struct{}{}
	f.mu.Unlock()
	for {
		nc, err := ln.Accept()
		f.mu.Lock()
		if err != nil || f.closed {
			closed := f.closed
			delete(f.lns, ln)
			f.mu.Unlock()
			if nc != nil {
				nc.Close()
			}
			if closed {
				return ErrClosed
			}
			return err
		}
		if tc, ok := nc.(*net.TCPConn); ok {
			tc.SetNoDelay(true) // one write per pass is the batching
		}
		c := &floorConn{nc: nc, p: f.passes[f.next%Passes], off: -1}
		f.next++
		f.conns[c] = struct{}{}
		f.wg.Add(1)
		f.mu.Unlock()
		c.p.add(c)
		go func() {
			defer f.wg.Done()
			c.serve(f)
			c.p.remove(c)
			f.mu.Lock()
			delete(f.conns, c)
			f.mu.Unlock()
		}()
	}
}

// Close stops the listeners, the connections and the passes, and waits
// for their goroutines.
func (f *Floor) Close() error {
	f.init()
	f.mu.Lock()
	if !f.closed {
		f.closed = true
		close(f.done)
	}
	for ln := range f.lns {
		ln.Close()
	}
	for c := range f.conns {
		c.nc.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
	return nil
}

// Generate publishes rate trades per second for d, paced as Pace paces
// ringexd's load (the trades due at each tick of about a millisecond,
// stamped with the tick's time), and returns the sequences of the first
// and the last. It stops early, with ctx's error, if ctx ends.
func (f *Floor) Generate(ctx context.Context, rate float64, d time.Duration) (first, last uint64, err error) {
	f.init()
	f.genMu.Lock()
	defer f.genMu.Unlock()
	sym := wire.MakeSymbol(f.Symbol)
	f.mu.Lock()
	first = f.seq + 1
	f.mu.Unlock()
	t := wire.Trade{Symbol: sym, Price: 10_000_000, Qty: 1, Aggressor: 1}
	err = Pace(ctx, rate, d, func(n int, now time.Time) {
		f.mu.Lock()
		for range n {
			f.seq++
			t.Seq, t.TradeID, t.Time = f.seq, f.seq, now.UnixNano()
			f.log = wire.AppendTrade(f.log, &t)
		}
		f.mu.Unlock()
		for _, p := range f.passes {
			p.signal()
		}
	})
	f.mu.Lock()
	last = f.seq
	f.mu.Unlock()
	return first, last, err
}

// snapshot returns the log as it is now (the bytes below its length never
// change) and its last sequence.
func (f *Floor) snapshot() ([]byte, uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.log, f.seq
}

// AdminHandler serves what ringex-load needs from a floor's admin address:
// GET /assets (the echo's list, so that the symbol resolves) and
// POST /start?rate=R&duration=D, which generates R trades/s for D and
// answers, when done, {"first": seq, "last": seq}.
func (f *Floor) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /assets", (&echo.Server{}).AdminHandler())
	mux.HandleFunc("POST /start", func(w http.ResponseWriter, r *http.Request) {
		rate, err := strconv.ParseFloat(r.FormValue("rate"), 64)
		if err != nil || rate <= 0 || rate > 1e7 {
			http.Error(w, "rate: want a number of trades/s in (0, 1e7]", http.StatusBadRequest)
			return
		}
		d, err := time.ParseDuration(r.FormValue("duration"))
		if err != nil || d <= 0 || d > time.Hour {
			http.Error(w, "duration: want a duration in (0, 1h]", http.StatusBadRequest)
			return
		}
		first, last, err := f.Generate(r.Context(), rate, d)
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(GenerateResult{First: first, Last: last})
	})
	return mux
}

// GenerateResult is the answer of a floor's POST /start.
type GenerateResult struct {
	First uint64 `json:"first"`
	Last  uint64 `json:"last"`
}

// pass is one of a Floor's writer goroutines and the connections it owns.
type pass struct {
	f    *Floor
	wake chan struct{} // a token: something may be pending

	mu    sync.Mutex
	conns []*floorConn
}

func (p *pass) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *pass) add(c *floorConn) {
	p.mu.Lock()
	p.conns = append(p.conns, c)
	p.mu.Unlock()
}

func (p *pass) remove(c *floorConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, x := range p.conns {
		if x == c {
			last := len(p.conns) - 1
			p.conns[i] = p.conns[last]
			p.conns[last] = nil
			p.conns = p.conns[:last]
			return
		}
	}
}

// loop makes a pass each time something may be pending; in Coalesce mode
// it waits the window after each pass first, so that what arrives
// meanwhile goes out together.
func (p *pass) loop() {
	var (
		conns []*floorConn
		buf   []byte
		timer *time.Timer
	)
	if p.f.Mode == Coalesce && p.f.Window > 0 {
		timer = time.NewTimer(time.Hour)
		timer.Stop()
	}
	for {
		select {
		case <-p.wake:
		case <-p.f.done:
			return
		}
		p.mu.Lock()
		conns = append(conns[:0], p.conns...)
		p.mu.Unlock()
		log, _ := p.f.snapshot()
		for _, c := range conns {
			buf = c.pending(buf[:0], log)
			if len(buf) > 0 {
				if _, err := c.nc.Write(buf); err != nil {
					c.nc.Close() // its reader sees the close and removes it
				}
			}
		}
		clear(conns)
		if timer != nil {
			timer.Reset(p.f.Window)
			select {
			case <-timer.C:
			case <-p.f.done:
				return
			}
		}
	}
}

// floorConn is one connection. Its reader goroutine (serve) answers the
// client's frames by queueing them in ctl; its pass writes them, then the
// trades from off.
type floorConn struct {
	nc net.Conn
	p  *pass

	mu  sync.Mutex
	ctl []byte // answers not yet written
	off int    // the log offset written up to; -1: not subscribed
}

// pending appends to dst what c has to be sent (control answers, then
// trades up to the end of log) and marks it as sent.
func (c *floorConn) pending(dst, log []byte) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	dst = append(dst, c.ctl...)
	c.ctl = c.ctl[:0]
	if c.off >= 0 && c.off < len(log) {
		dst = append(dst, log[c.off:]...)
		c.off = len(log)
	}
	return dst
}

func (c *floorConn) queue(b []byte) {
	c.mu.Lock()
	c.ctl = append(c.ctl, b...)
	c.mu.Unlock()
	c.p.signal()
}

// serve reads the client's frames until the connection ends.
func (c *floorConn) serve(f *Floor) {
	defer c.nc.Close()
	sym := wire.MakeSymbol(f.Symbol)
	buf := make([]byte, 512)
	var out []byte
	have := 0
	for {
		n, err := c.nc.Read(buf[have:])
		if err != nil {
			return
		}
		have += n
		at := 0
		for {
			fr, size, err := wire.NextFrame(buf[at:have], wire.MaxInboundFrame)
			if err != nil {
				return // the stream cannot be split any more
			}
			if size == 0 {
				break
			}
			at += size
			out = out[:0]
			switch wire.Type(fr) {
			case wire.TypeLogin:
				out = wire.AppendLoginAccepted(out, &wire.LoginAccepted{UserID: 1, ServerTime: time.Now().UnixNano()})
			case wire.TypeSubscribe:
				var s wire.Subscribe
				if wire.DecodeSubscribe(fr, &s) != nil {
					continue
				}
				if s.Symbol != sym || s.Channels != wire.ChanTrades {
					reason := wire.SubUnknownAsset
					if s.Symbol == sym {
						reason = wire.SubBadChannels
					}
					out = wire.AppendSubRejected(out, &wire.SubRejected{Symbol: s.Symbol, Reason: reason})
					break
				}
				// A new subscription starts at the end of the log. Every
				// frame in the log is one trade of tradeFrameLen bytes,
				// from sequence 1, so the trades up to an offset are
				// off/tradeFrameLen: the Subscribed, written before the
				// log from c.off, says exactly where the trades resume,
				// for a repeated Subscribe too.
				f.mu.Lock()
				off := len(f.log)
				f.mu.Unlock()
				c.mu.Lock()
				if c.off < 0 {
					c.off = off
				}
				seq := uint64(c.off / tradeFrameLen)
				c.ctl = wire.AppendSubscribed(c.ctl, &wire.Subscribed{Symbol: sym, Channels: wire.ChanTrades, Seq: seq})
				c.mu.Unlock()
				c.p.signal()
			case wire.TypeLogout:
				return
			}
			if len(out) > 0 {
				c.queue(out)
			}
		}
		have = copy(buf, buf[at:have])
	}
}
