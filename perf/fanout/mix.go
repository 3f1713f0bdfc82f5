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

// Mix is the market data of a mixed run: subscribers of every kind on
// several assets (public ones of an asset's trades and book, private ones
// of a logged-in user's order events of every asset), each one's checks
// (mixcheck.go), and the latencies of their deliveries by phase of the
// run (the phase current when the read returned), so that one run can
// compare its phases: no subscribers, subscribers, subscribers and churn.
//
// Each subscriber is one goroutine blocked in Read on its socket, as in
// Connect; a read takes what the socket holds, stamps it with one clock
// reading and records its latencies under one lock of one of a few
// shared recorders.
type Mix struct {
	Symbols []wire.Symbol
	Phases  []string
	Trade   []*perf.Latency // public trade delivery by phase: arrival minus the taker's gateway time
	Order   []*perf.Latency // private order event delivery by phase: arrival minus the request's gateway time

	index map[wire.Symbol]int
	phase atomic.Int32
	trec  [][]*perf.Recorder // [phase][shard]
	orec  [][]*perf.Recorder
	count [recorders]paddedCount // messages received by the measured subscribers, by shard
}

type paddedCount struct {
	atomic.Int64
	_ [56]byte // one cache line each: thousands of readers add to these
}

// NewMix returns the market data of a run on symbols whose phases are
// named phases; the run starts in phase 0.
func NewMix(symbols []string, phases []string) *Mix {
	m := &Mix{Phases: phases, index: make(map[wire.Symbol]int)}
	for i, s := range symbols {
		sym := wire.MakeSymbol(s)
		m.Symbols = append(m.Symbols, sym)
		m.index[sym] = i
	}
	for _, p := range phases {
		t, o := perf.NewLatency("trade-delivery "+p), perf.NewLatency("order-event-delivery "+p)
		m.Trade, m.Order = append(m.Trade, t), append(m.Order, o)
		var tr, or []*perf.Recorder
		for range recorders {
			tr, or = append(tr, t.Recorder()), append(or, o.Recorder())
		}
		m.trec, m.orec = append(m.trec, tr), append(m.orec, or)
	}
	return m
}

// SetPhase makes phase i the current one.
func (m *Mix) SetPhase(i int) { m.phase.Store(int32(i)) }

// Phase is the current phase.
func (m *Mix) Phase() int { return int(m.phase.Load()) }

// Delivered is the number of market-data messages (trades, book
// snapshots and updates, order events) the measured subscribers received
// so far.
func (m *Mix) Delivered() int64 {
	var n int64
	for i := range m.count {
		n += m.count[i].Load()
	}
	return n
}

// MixSub is one subscriber of a mixed run: public (one asset's trades and
// book) or private (a user's order events of every asset).
type MixSub struct {
	Name   string
	Asset  int     // public: the asset's index
	User   string  // private: the user
	Trades Tally   // public
	Book   Book    // public
	Orders []Tally // private: by asset
	Err    error   // why the reader stopped, if not Close

	m         *Mix
	nc        net.Conn
	shard     int
	tradeRef  *Stream   // a public reference: the trades go here too
	orderRefs []*Stream // a private reference: the order events, by asset
	last      []atomic.Uint64
	done      chan struct{}

	// Owned by the reader.
	started   []bool // by asset index: its Subscribed came
	want, got int    // Subscribed expected and received
	ready     chan struct{}
}

// ref reports whether s is a reference, not counted in the deliveries or
// latencies.
func (s *MixSub) ref() bool { return s.tradeRef != nil || s.orderRefs != nil }

// Reached reports whether the subscriber has received the messages of
// asset a up to sequence seq (public: its book; private: its order
// events of a).
func (s *MixSub) Reached(a int, seq uint64) bool {
	if s.User == "" {
		return a != s.Asset || s.last[0].Load() >= seq
	}
	return s.last[a].Load() >= seq
}

// Last is the last sequence received of asset a.
func (s *MixSub) Last(a int) uint64 {
	if s.User == "" {
		return s.last[0].Load()
	}
	return s.last[a].Load()
}

// Close closes the connection and waits for the reader.
func (s *MixSub) Close() {
	s.nc.Close()
	<-s.done
}

// DialPublic subscribes a new connection to the trades and the whole book
// (every level) of asset a, waits for the confirmation and starts the
// reader. With ref, the subscriber is the reference of the asset's trades:
// it records them in ref and is not counted in the deliveries.
func (m *Mix) DialPublic(ctx context.Context, addr string, a, shard int, ref *Stream) (*MixSub, error) {
	s := &MixSub{Name: fmt.Sprintf("public %d (%s)", shard, m.Symbols[a].String()), Asset: a, m: m, shard: shard % recorders,
		tradeRef: ref, last: make([]atomic.Uint64, 1), done: make(chan struct{}), started: make([]bool, len(m.Symbols))}
	nc, err := dialMix(ctx, addr)
	if err != nil {
		return nil, err
	}
	s.nc = nc
	sub := wire.Subscribe{Symbol: m.Symbols[a], Channels: wire.ChanTrades | wire.ChanBook}
	if err := s.start(ctx, wire.AppendSubscribe(nil, &sub), 1); err != nil {
		return nil, err
	}
	return s, nil
}

// DialPrivate logs a new connection in as user and subscribes it to the
// user's order events of every asset, then starts the reader. With refs
// (one per asset), the subscriber is the reference of the user's events:
// it records them there and is not counted in the deliveries.
func (m *Mix) DialPrivate(ctx context.Context, addr, user, key string, shard int, refs []*Stream) (*MixSub, error) {
	s := &MixSub{Name: fmt.Sprintf("private %d (%s)", shard, user), User: user, m: m, shard: shard % recorders, orderRefs: refs,
		Orders: make([]Tally, len(m.Symbols)), last: make([]atomic.Uint64, len(m.Symbols)), done: make(chan struct{}),
		started: make([]bool, len(m.Symbols))}
	nc, err := dialMix(ctx, addr)
	if err != nil {
		return nil, err
	}
	s.nc = nc
	var l wire.Login
	l.Version = wire.Version
	l.SetUser(user)
	l.SetKey(key)
	req := wire.AppendLogin(nil, &l)
	for _, sym := range m.Symbols {
		req = wire.AppendSubscribe(req, &wire.Subscribe{Symbol: sym, Channels: wire.ChanOrders})
	}
	if err := s.start(ctx, req, len(m.Symbols)); err != nil {
		return nil, err
	}
	return s, nil
}

func dialMix(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp", addr)
}

// start sends req and starts the reader, which takes every frame from
// the first on (a private subscriber's order events of one asset may come
// before the Subscribed of the next), and waits until it has read want
// Subscribed.
func (s *MixSub) start(ctx context.Context, req []byte, want int) error {
	s.want, s.ready = want, make(chan struct{})
	if _, err := s.nc.Write(req); err != nil {
		s.nc.Close()
		return err
	}
	go s.read()
	select {
	case <-s.ready:
		return nil
	case <-s.done:
		if s.Err == nil {
			return errors.New("closed before the subscription was confirmed")
		}
		return s.Err
	case <-ctx.Done():
		s.Close()
		return ctx.Err()
	}
}

// subscribed accounts for a Subscribed: the tally of its asset starts at
// its sequence, and the want-th makes the subscriber ready.
func (s *MixSub) subscribed(c *wire.Subscribed) error {
	a, ok := s.m.index[c.Symbol]
	if !ok {
		return fmt.Errorf("subscribed to an asset not asked for: %s", c.Symbol)
	}
	if s.User == "" {
		s.Trades.Begin(c.Seq, true)
		s.Book.Reset(c.Seq)
		s.last[0].Store(c.Seq)
	} else {
		s.Orders[a].Begin(c.Seq, false)
		s.last[a].Store(c.Seq)
	}
	s.started[a] = true
	if s.got++; s.got == s.want {
		close(s.ready)
	}
	return nil
}

// readFrame reads one frame from r.
func readFrame(r io.Reader) ([]byte, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	l := int(hdr[0])<<8 | int(hdr[1])
	if l < 1 {
		return nil, wire.ErrFrameTooShort
	}
	fr := make([]byte, 2+l)
	copy(fr, hdr[:])
	_, err := io.ReadFull(r, fr[2:])
	return fr, err
}

// mixReadBuffer is a mixed subscriber's first read buffer; it grows to
// the largest frame (a snapshot of a deep book) when one does not fit.
const mixReadBuffer = 16 << 10

// read reads until the connection ends.
func (s *MixSub) read() {
	defer close(s.done)
	buf := make([]byte, mixReadBuffer)
	lat, olat := make([]int64, 0, 256), make([]int64, 0, 256)
	have := 0
	for {
		if have == len(buf) {
			buf = append(buf, make([]byte, len(buf))...) // a frame longer than the buffer
		}
		n, err := s.nc.Read(buf[have:])
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.Err = err
			}
			return
		}
		have += n
		at, err := s.parse(buf[:have], time.Now().UnixNano(), lat, olat)
		if err != nil {
			s.Err = err
			s.nc.Close()
			return
		}
		have = copy(buf, buf[at:have])
	}
}

// parse accounts for every complete frame of buf, which arrived at now,
// and returns how many bytes they took. lat and olat are scratch space for
// the latencies of trades and of order events.
func (s *MixSub) parse(buf []byte, now int64, lat, olat []int64) (int, error) {
	var (
		t    wire.Trade
		u    wire.BookUpdate
		snap wire.BookSnapshot
		e    wire.OrderEvent
		c    wire.Subscribed
	)
	at, msgs := 0, int64(0)
	lat, olat = lat[:0], olat[:0]
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
		case wire.TypeSubscribed:
			if err := wire.DecodeSubscribed(fr, &c); err != nil {
				return at, err
			}
			if err := s.subscribed(&c); err != nil {
				return at, err
			}
		case wire.TypeSubRejected:
			var r wire.SubRejected
			wire.DecodeSubRejected(fr, &r)
			return at, fmt.Errorf("subscription refused: %s (%d)", wire.SubText(r.Reason), r.Reason)
		case wire.TypeLoginRejected:
			return at, errors.New("login refused")
		case wire.TypeLoginAccepted:
		case wire.TypeTrade:
			if err := wire.DecodeTrade(fr, &t); err != nil {
				return at, err
			}
			if !s.started[s.Asset] {
				return at, errors.New("a trade before Subscribed")
			}
			k := TradeKey(&t)
			s.Trades.Add(t.Seq, k)
			if s.tradeRef != nil {
				s.tradeRef.Add(t.Seq, k)
			}
			lat = append(lat, now-t.Time)
			msgs++
		case wire.TypeBookUpdate:
			if err := wire.DecodeBookUpdate(fr, &u); err != nil {
				return at, err
			}
			s.Book.Update(&u)
			msgs++
		case wire.TypeBookSnapshot:
			if err := wire.DecodeBookSnapshot(fr, &snap); err != nil {
				return at, err
			}
			s.Book.Snapshot(&snap)
			msgs++
		case wire.TypeOrderEvent:
			if err := wire.DecodeOrderEvent(fr, &e); err != nil {
				return at, err
			}
			a, ok := s.m.index[e.Symbol]
			if !ok || s.User == "" || !s.started[a] {
				return at, fmt.Errorf("an order event of %s on a connection not subscribed to it (yet)", e.Symbol)
			}
			k := OrderEventKey(&e)
			s.Orders[a].Add(e.Seq, k)
			if s.orderRefs != nil {
				s.orderRefs[a].Add(e.Seq, k)
				if e.Kind == wire.OrderAccepted && e.ClientOrderID&MarkerBit != 0 {
					s.orderRefs[a].Mark(e.ClientOrderID, e.Seq)
				}
			}
			s.last[a].Store(s.Orders[a].Last)
			olat = append(olat, now-e.Time)
			msgs++
		case wire.TypeLogout:
			code, _ := wire.DecodeLogout(fr)
			return at, fmt.Errorf("logged out by the server (reason %d)", code)
		case wire.TypeHeartbeat, wire.TypeBBO:
		default:
			return at, fmt.Errorf("unexpected message type %q", wire.Type(fr))
		}
		if len(lat) == cap(lat) || len(olat) == cap(olat) {
			s.record(lat, olat, msgs)
			lat, olat, msgs = lat[:0], olat[:0], 0
		}
	}
	if s.User == "" {
		s.last[0].Store(max(s.Book.Seq, s.Trades.Last))
	}
	s.record(lat, olat, msgs)
	return at, nil
}

func (s *MixSub) record(lat, olat []int64, msgs int64) {
	if s.ref() || msgs == 0 {
		return
	}
	p := s.m.Phase()
	if len(lat) > 0 {
		s.m.trec[p][s.shard].RecordNanos(lat)
	}
	if len(olat) > 0 {
		s.m.orec[p][s.shard].RecordNanos(olat)
	}
	s.m.count[s.shard].Add(msgs)
}

// Snapshot reads the whole book of asset a from a new connection: its
// sequence and levels, for the comparison with every book subscriber's
// at the end of a run.
func (m *Mix) Snapshot(ctx context.Context, addr string, a int) (*Book, error) {
	nc, err := dialMix(ctx, addr)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
	}
	if _, err := nc.Write(wire.AppendSubscribe(nil, &wire.Subscribe{Symbol: m.Symbols[a], Channels: wire.ChanBook})); err != nil {
		return nil, err
	}
	b := new(Book)
	for {
		fr, err := readFrame(nc)
		if err != nil {
			return nil, err
		}
		switch wire.Type(fr) {
		case wire.TypeSubscribed:
			var c wire.Subscribed
			if err := wire.DecodeSubscribed(fr, &c); err != nil {
				return nil, err
			}
			b.Reset(c.Seq)
		case wire.TypeBookSnapshot:
			var snap wire.BookSnapshot
			if err := wire.DecodeBookSnapshot(fr, &snap); err != nil {
				return nil, err
			}
			if len(snap.Bids) == wire.MaxSnapshotSide || len(snap.Asks) == wire.MaxSnapshotSide {
				return nil, fmt.Errorf("%s: the book is deeper than one snapshot frame holds (%d levels a side): cannot compare it", m.Symbols[a], wire.MaxSnapshotSide)
			}
			b.Snapshot(&snap)
			return b, nil
		case wire.TypeSubRejected:
			return nil, fmt.Errorf("%s: snapshot subscription refused", m.Symbols[a])
		}
	}
}

// MixVerdict is what a mixed run's checks say.
type MixVerdict struct {
	Public, Private int // subscribers checked
	Missing         int // messages missing, summed over subscribers and streams
	Extra           int // messages beyond the reference's, summed
	Differ          int // streams whose messages differ from the reference's with the same count
	OutOfOrder      int // messages whose sequence went back
	BookDiffer      int // book subscribers whose book is not the final snapshot
	Conflated       int // book subscribers that got more than one snapshot (the server conflated)
	Errors          []string
}

// OK reports whether every subscriber got exactly its messages, in order,
// and built the final book.
func (v *MixVerdict) OK() bool {
	return v.Missing == 0 && v.Extra == 0 && v.Differ == 0 && v.OutOfOrder == 0 && v.BookDiffer == 0 && len(v.Errors) == 0
}

// Verify checks each subscriber (after Close) against the references:
// trades[a] is asset a's trade stream, orders[user][a] a user's order
// events of asset a, books[a] asset a's final book.
func Verify(subs []*MixSub, trades []*Stream, orders map[string][]*Stream, books []*Book) MixVerdict {
	var v MixVerdict
	errs := map[string]int{}
	faults := 0
	// describe names the first few faulty streams in full, so that a
	// fault can be chased: who, which stream, from where, what it got.
	describe := func(s *MixSub, stream string, t *Tally, ref *Stream) {
		if faults++; faults > 5 {
			return
		}
		n, _ := ref.Since(t.Start)
		v.Errors = append(v.Errors, fmt.Sprintf("%s, %s: subscribed at %d, got %d (last %d, %d back), the reference has %d after %d (%d in all)",
			s.Name, stream, t.Start, t.Count, t.Last, t.Back, n, t.Start, ref.Len()))
	}
	account := func(missing int, differ bool, back int) {
		if missing > 0 {
			v.Missing += missing
		} else {
			v.Extra -= missing
		}
		if differ {
			v.Differ++
		}
		v.OutOfOrder += back
	}
	for _, s := range subs {
		if s.Err != nil {
			errs[s.Err.Error()]++
		}
		if s.User == "" {
			v.Public++
			missing, differ := s.Trades.Against(trades[s.Asset])
			account(missing, differ, s.Trades.Back+s.Book.Back)
			if missing != 0 || differ || s.Trades.Back > 0 {
				describe(s, "trades", &s.Trades, trades[s.Asset])
			}
			if d := s.Book.Diff(books[s.Asset]); d != "" {
				v.BookDiffer++
				errs[fmt.Sprintf("book of %s differs from the final snapshot, e.g. %s", s.Symbols(), d)]++
			}
			if s.Book.Snapshots > 1 {
				v.Conflated++
			}
			continue
		}
		v.Private++
		ref := orders[s.User]
		for a := range s.Orders {
			missing, differ := s.Orders[a].Against(ref[a])
			account(missing, differ, s.Orders[a].Back)
			if missing != 0 || differ || s.Orders[a].Back > 0 {
				describe(s, "order events of "+s.m.Symbols[a].String(), &s.Orders[a], ref[a])
			}
		}
	}
	for e, n := range errs {
		v.Errors = append(v.Errors, fmt.Sprintf("%d subscribers: %s", n, e))
	}
	return v
}

// Symbols names the subscriber's asset (public) or "every asset".
func (s *MixSub) Symbols() string {
	if s.User == "" {
		return s.m.Symbols[s.Asset].String()
	}
	return "every asset"
}

// CloseAll closes the subscribers from a few goroutines at once and waits
// for their readers.
func CloseAll(subs []*MixSub) {
	var wg sync.WaitGroup
	const closers = 16
	for k := range closers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := k; i < len(subs); i += closers {
				subs[i].Close()
			}
		}()
	}
	wg.Wait()
}
