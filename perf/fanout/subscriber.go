package fanout

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ringex/ringex/netio/wire"
	"github.com/ringex/ringex/perf"
)

// readBuffer is each subscriber's read buffer. At 1,000 trades/s a 10 ms
// window is 10 trades (510 bytes); 8 KiB holds 160, one read of a server
// that fell 160 ms behind.
const readBuffer = 8 << 10

// subscriber is one market-data connection subscribed to the trades of one
// asset. Its reader goroutine (read) owns check; the run reads it after
// the reader stopped.
type subscriber struct {
	nc    net.Conn // goroutine readers; nil once an epoll reader has the socket
	fd    int      // epoll readers: the socket's descriptor
	carry []byte   // epoll readers: the part of a frame the last read ended in
	check Check
	err   error
}

// Readers is how a run reads its subscribers' sockets.
type Readers int

const (
	// Goroutines gives each subscriber a goroutine blocked in Read.
	Goroutines Readers = iota
	// Epoll reads every subscriber from a few threads, each waiting in
	// its own epoll set (Linux).
	Epoll
)

// ParseReaders parses "goroutines" or "epoll".
func ParseReaders(v string) (Readers, error) {
	switch v {
	case "goroutines":
		return Goroutines, nil
	case "epoll":
		if !epollSupported {
			return 0, errors.New("fanout: epoll readers need Linux")
		}
		return Epoll, nil
	}
	return 0, fmt.Errorf("fanout: readers %q: want goroutines or epoll", v)
}

func (r Readers) String() string {
	if r == Epoll {
		return "epoll"
	}
	return "goroutines"
}

// epollThreads is how many threads the epoll readers use: as many as the
// server's pass goroutines.
const epollThreads = Passes

// Subscribers are a run's connections and what their readers share: a few
// latency recorders (one lock per read, taken by a few of the thousands of
// readers at a time) and the count of trades received by all of them, which
// wakes the run when it reaches the expected total.
type Subscribers struct {
	subs []*subscriber
	ep   *epollReaders // nil: a goroutine per subscriber
	lat  *perf.Latency
	recs []*perf.Recorder

	received atomic.Int64
	target   atomic.Int64 // the total that closes all; MaxInt64 until known
	allOnce  sync.Once
	all      chan struct{}
	wg       sync.WaitGroup
}

// recorders is how many recorders the readers share.
const recorders = 16

func newSubscribers(n int) *Subscribers {
	s := &Subscribers{subs: make([]*subscriber, 0, n), lat: perf.NewLatency("delivery"), all: make(chan struct{})}
	s.target.Store(1<<63 - 1)
	for range recorders {
		s.recs = append(s.recs, s.lat.Recorder())
	}
	return s
}

// Connect opens n subscriptions to the trades channel of symbol at addr,
// dialing from a few goroutines at once, and starts each one's reader once
// it is confirmed. contiguous says whether the feed's trade sequences have
// no gaps (a floor). It returns the subscribers connected so far with the
// first error (a descriptor limit, say); the caller closes them.
func Connect(ctx context.Context, addr, symbol string, n int, contiguous bool, readers Readers) (*Subscribers, error) {
	s := newSubscribers(n)
	if readers == Epoll {
		ep, err := newEpollReaders(s, epollThreads)
		if err != nil {
			return s, err
		}
		s.ep = ep
	}
	sym := wire.MakeSymbol(symbol)
	var (
		mu       sync.Mutex
		firstErr error
		next     int
		wg       sync.WaitGroup
	)
	for range min(n, 32) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if next == n || firstErr != nil {
					mu.Unlock()
					return
				}
				i := next
				next++
				mu.Unlock()
				sub, err := subscribe(ctx, addr, sym, contiguous)
				mu.Lock()
				if err == nil {
					s.subs = append(s.subs, sub)
					err = s.start(sub, len(s.subs))
				}
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("subscriber %d: %w", i, err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return s, firstErr
}

// subscribe dials addr, subscribes to sym's trades and waits for the
// confirmation.
func subscribe(ctx context.Context, addr string, sym wire.Symbol, contiguous bool) (*subscriber, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	sub := &subscriber{nc: nc, fd: -1}
	if _, err := nc.Write(wire.AppendSubscribe(nil, &wire.Subscribe{Symbol: sym, Channels: wire.ChanTrades})); err != nil {
		nc.Close()
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		nc.SetReadDeadline(dl)
	}
	// Read frame by frame up to the confirmation, so that no trade is
	// read here: the reader takes everything after it.
	var hdr [2]byte
	for {
		if _, err := io.ReadFull(nc, hdr[:]); err != nil {
			nc.Close()
			return nil, err
		}
		l := int(hdr[0])<<8 | int(hdr[1])
		if l < 1 {
			nc.Close()
			return nil, wire.ErrFrameTooShort
		}
		fr := make([]byte, 2+l)
		copy(fr, hdr[:])
		if _, err := io.ReadFull(nc, fr[2:]); err != nil {
			nc.Close()
			return nil, err
		}
		switch wire.Type(fr) {
		case wire.TypeSubscribed:
			var m wire.Subscribed
			if err := wire.DecodeSubscribed(fr, &m); err != nil {
				nc.Close()
				return nil, err
			}
			nc.SetReadDeadline(time.Time{})
			sub.check.Start(m.Seq, contiguous)
			return sub, nil
		case wire.TypeSubRejected:
			var m wire.SubRejected
			wire.DecodeSubRejected(fr, &m)
			nc.Close()
			return nil, fmt.Errorf("subscription refused: %s (%d)", wire.SubText(m.Reason), m.Reason)
		case wire.TypeLogout:
			nc.Close()
			return nil, errors.New("logged out before the subscription was confirmed")
		}
	}
}

// start starts reading the i-th subscriber.
func (s *Subscribers) start(sub *subscriber, i int) error {
	if s.ep != nil {
		return s.ep.add(sub, i)
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		sub.err = s.read(sub.nc, &sub.check, s.recs[i%recorders])
	}()
	return nil
}

// read reads trades until the connection ends, and returns why it ended
// (nil: closed by Close). Each read is one timestamp and one lock of rec:
// every trade in it arrived at the read's time.
func (s *Subscribers) read(r io.Reader, c *Check, rec *perf.Recorder) error {
	buf := make([]byte, readBuffer)
	lat := make([]int64, 0, readBuffer/(wire.HeaderLen+wire.TradeLen))
	have := 0
	for {
		n, err := r.Read(buf[have:])
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		have += n
		at, err := s.parse(buf[:have], time.Now().UnixNano(), c, rec, lat)
		if err != nil {
			return err
		}
		have = copy(buf, buf[at:have])
	}
}

// parse accounts for every complete frame of buf, which arrived at now,
// records their latencies (lat is scratch space) and returns how many
// bytes they took. A frame that can never fit buf is an error.
func (s *Subscribers) parse(buf []byte, now int64, c *Check, rec *perf.Recorder, lat []int64) (int, error) {
	var t wire.Trade
	at := 0
	lat = lat[:0]
	for {
		fr, size, err := wire.NextFrame(buf[at:], wire.MaxFrame)
		if err != nil {
			return at, err
		}
		if size == 0 {
			break
		}
		at += size
		switch wire.Type(fr) {
		case wire.TypeTrade:
			if err := wire.DecodeTrade(fr, &t); err != nil {
				return at, err
			}
			c.Trade(t.Seq)
			lat = append(lat, now-t.Time)
		case wire.TypeLogout:
			code, _ := wire.DecodeLogout(fr)
			return at, fmt.Errorf("logged out by the server (reason %d)", code)
		}
		if len(lat) == cap(lat) {
			s.record(rec, lat)
			lat = lat[:0]
		}
	}
	s.record(rec, lat)
	if at == 0 && len(buf) == readBuffer {
		return at, fmt.Errorf("a frame larger than the %d-byte read buffer", readBuffer)
	}
	return at, nil
}

func (s *Subscribers) record(rec *perf.Recorder, lat []int64) {
	if len(lat) == 0 {
		return
	}
	rec.RecordNanos(lat)
	if s.received.Add(int64(len(lat))) >= s.target.Load() {
		s.allOnce.Do(func() { close(s.all) })
	}
}

// Expect sets the total number of trades all subscribers together must
// receive; the channel All returns is closed when they have.
func (s *Subscribers) Expect(total int64) {
	s.target.Store(total)
	if s.received.Load() >= total {
		s.allOnce.Do(func() { close(s.all) })
	}
}

// All is closed when the subscribers have received the total of Expect.
func (s *Subscribers) All() <-chan struct{} { return s.all }

// Received is the number of trades received by all subscribers so far.
func (s *Subscribers) Received() int64 { return s.received.Load() }

// Len is the number of subscribers connected.
func (s *Subscribers) Len() int { return len(s.subs) }

// Latency is the delivery latency of every trade to every subscriber.
func (s *Subscribers) Latency() *perf.Latency { return s.lat }

// Close closes every connection and waits for the readers. It may be
// called more than once.
func (s *Subscribers) Close() {
	if s.ep != nil {
		s.ep.close()
	}
	for _, sub := range s.subs {
		if sub.nc != nil {
			sub.nc.Close()
		} else if sub.fd > 0 {
			closeFD(sub.fd)
			sub.fd = -1
		}
	}
	s.wg.Wait()
}

// Verdict is what the subscribers' checks say, after Close.
type Verdict struct {
	Missing    uint64   `json:"missing"`      // trades not received, summed over the subscribers
	Extra      uint64   `json:"extra"`        // trades received beyond those sent, summed
	OutOfOrder uint64   `json:"out_of_order"` // trades not above the previous one's sequence
	Gaps       uint64   `json:"gaps"`         // contiguous feeds: sequences skipped
	Differ     int      `json:"differ"`       // subscribers whose sequence of trades differs from the first's
	Errors     []string `json:"errors,omitempty"`
}

// OK reports whether every subscriber received exactly the trades.
func (v *Verdict) OK() bool {
	return v.Missing == 0 && v.Extra == 0 && v.OutOfOrder == 0 && v.Gaps == 0 && v.Differ == 0 && len(v.Errors) == 0
}

// Verdict compares each subscriber's trades with the trades sent (want
// each) and with the first subscriber's (same sequences, same order).
// Call it after Close.
func (s *Subscribers) Verdict(want uint64) Verdict {
	var v Verdict
	errs := map[string]int{}
	for i, sub := range s.subs {
		c := &sub.check
		if c.Count < want {
			v.Missing += want - c.Count
		} else {
			v.Extra += c.Count - want
		}
		v.OutOfOrder += c.OutOfOrder
		v.Gaps += c.Gaps
		if i > 0 && (c.Hash != s.subs[0].check.Hash || c.Count != s.subs[0].check.Count) {
			v.Differ++
		}
		if sub.err != nil {
			errs[sub.err.Error()]++
		}
	}
	for e, n := range errs {
		v.Errors = append(v.Errors, fmt.Sprintf("%d subscribers: %s", n, e))
	}
	return v
}
