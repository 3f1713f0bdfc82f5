// Package echo is the floor ringexd is measured against: a server that
// speaks ringexd's order-entry and market-data protocols (docs/protocol.md)
// with nothing behind them. Every NewOrder, Cancel and Replace is answered
// with an OrderAck as soon as it is read: no ring, no journal, no matcher.
// The market-data side accepts logins and subscriptions and never
// publishes anything. An admin handler serves the asset list at /assets, as
// ringexd's admin server does, so that ringex-load runs against either
// unchanged.
//
// What is left is what any server of the protocol pays on this machine:
// the socket reads and writes, the goroutine wake-ups and the framing. A
// figure for ringexd means something only next to the same figure for
// this floor, measured in the same run (docs/bench.md).
//
// Each connection has one goroutine that reads into one 64 KiB buffer,
// parses every complete frame in place, appends the answers to one
// buffer and writes them with one write per read: the fewest system calls
// a server of this protocol can make. A second goroutine per connection
// sends a Heartbeat when nothing was written for the heartbeat interval;
// the two serialize their writes on the connection's lock.
//
// The acks are well formed but not meaningful: order ids and sequences
// count per connection from 1, and the receive time is that of the read
// that brought the request.
package echo

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ringex/ringex/client"
	"github.com/ringex/ringex/netio/wire"
)

// DefaultAssets are the assets the echo lists when Server.Assets is empty:
// those of ringexd's embedded configuration, so that ringex-load's default
// -assets work against both.
var DefaultAssets = []client.Asset{
	{ID: 1, Symbol: "BTC-USD", TickSize: 1, LotSize: 1, MinPrice: 1, MaxPrice: 1 << 40, MaxQty: 1 << 30, PriceDecimals: 2, QtyDecimals: 8},
	{ID: 2, Symbol: "ETH-USD", TickSize: 1, LotSize: 1, MinPrice: 1, MaxPrice: 1 << 40, MaxQty: 1 << 30, PriceDecimals: 2, QtyDecimals: 8},
	{ID: 3, Symbol: "SOL-USD", TickSize: 1, LotSize: 1, MinPrice: 1, MaxPrice: 1 << 40, MaxQty: 1 << 30, PriceDecimals: 2, QtyDecimals: 8},
}

// readBuffer is each connection's read buffer: one read takes everything
// the socket holds, up to this much.
const readBuffer = 64 << 10

// Server is an echo server. The zero value serves DefaultAssets with a
// 5 s heartbeat. Its methods may be called from any goroutine.
type Server struct {
	// Assets is the list served at /assets (nil: DefaultAssets).
	Assets []client.Asset
	// Heartbeat is how long a connection may go without a write before
	// the server sends a Heartbeat (0: 5 s, the protocol's default).
	Heartbeat time.Duration

	mu        sync.Mutex
	closed    bool
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]struct{}
	wg        sync.WaitGroup // connection goroutines
}

// ErrServerClosed is returned by the Serve methods after Close.
var ErrServerClosed = errors.New("echo: server closed")

// ServeOrderEntry accepts order-entry connections on ln until Close.
func (s *Server) ServeOrderEntry(ln net.Listener) error { return s.serve(ln, orderEntry) }

// ServeMarketData accepts market-data connections on ln until Close.
func (s *Server) ServeMarketData(ln net.Listener) error { return s.serve(ln, marketData) }

// AdminHandler serves GET /assets (the JSON list of client.Asset) and
// /healthz.
func (s *Server) AdminHandler() http.Handler {
	assets := s.Assets
	if len(assets) == 0 {
		assets = DefaultAssets
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /assets", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(assets)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	return mux
}

// Close stops every listener and connection and waits for their
// goroutines.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	for ln := range s.listeners {
		ln.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

type service int

const (
	orderEntry service = iota
	marketData
)

func (s *Server) serve(ln net.Listener, svc service) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	if s.listeners == nil {
		s.listeners = make(map[net.Listener]struct{})
		s.conns = make(map[net.Conn]struct{})
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	for {
		nc, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			delete(s.listeners, ln)
			s.mu.Unlock()
			if closed {
				return ErrServerClosed
			}
			return err
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			return ErrServerClosed
		}
		s.conns[nc] = struct{}{}
		s.wg.Add(2)
		s.mu.Unlock()
		if tc, ok := nc.(*net.TCPConn); ok {
			tc.SetNoDelay(true) // answers are batched per read, not by Nagle
		}
		c := &conn{nc: nc, svc: svc, done: make(chan struct{})}
		go func() {
			defer s.wg.Done()
			c.serve()
			s.mu.Lock()
			delete(s.conns, nc)
			s.mu.Unlock()
		}()
		go func() {
			defer s.wg.Done()
			c.heartbeats(s.heartbeat())
		}()
	}
}

func (s *Server) heartbeat() time.Duration {
	if s.Heartbeat > 0 {
		return s.Heartbeat
	}
	return 5 * time.Second
}

// conn is one connection. The reader goroutine (serve) owns everything
// but the socket's writes, which it shares with the heartbeat goroutine
// under wmu.
type conn struct {
	nc   net.Conn
	svc  service
	done chan struct{} // closed when serve returns

	wmu      sync.Mutex
	wrote    atomic.Bool // a write since the heartbeat goroutine last looked
	loggedIn bool        // owned by serve
	nextID   uint64      // order ids and sequences, owned by serve
}

// serve reads, answers and writes until the connection ends: one write per
// read, however many frames the read brought.
func (c *conn) serve() {
	defer close(c.done)
	defer c.nc.Close()
	buf := make([]byte, readBuffer)
	out := make([]byte, 0, readBuffer)
	have := 0
	for {
		n, err := c.nc.Read(buf[have:])
		if err != nil {
			return
		}
		have += n
		now := time.Now().UnixNano()
		out = out[:0]
		off, end := 0, false
		for !end {
			f, k, err := wire.NextFrame(buf[off:have], wire.MaxInboundFrame)
			if err != nil {
				out = wire.AppendLogout(out, wire.LogoutBadFrame)
				end = true
				break
			}
			if k == 0 {
				break
			}
			off += k
			if c.svc == orderEntry {
				out, end = c.orderEntry(out, f, now)
			} else {
				out, end = c.marketData(out, f)
			}
		}
		have = copy(buf, buf[off:have])
		if len(out) > 0 && c.write(out) != nil {
			return
		}
		if end {
			return
		}
	}
}

func (c *conn) write(b []byte) error {
	c.wmu.Lock()
	_, err := c.nc.Write(b)
	c.wmu.Unlock()
	c.wrote.Store(true)
	return err
}

// heartbeats sends a Heartbeat whenever a whole interval passed without a
// write, until serve returns.
func (c *conn) heartbeats(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	hb := wire.AppendHeartbeat(nil)
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
			if !c.wrote.Swap(false) {
				if c.write(hb) != nil {
					return
				}
				c.wrote.Store(false)
			}
		}
	}
}

// login answers a Login frame; a second one is refused, as ringexd does.
func (c *conn) login(out, f []byte, now int64) []byte {
	var m wire.Login
	switch {
	case wire.DecodeLogin(f, &m) != nil:
		return wire.AppendReject(out, 0, wire.ReasonBadLength)
	case m.Version != wire.Version:
		return wire.AppendLoginRejected(out, wire.LoginBadVersion)
	case c.loggedIn:
		return wire.AppendLoginRejected(out, wire.LoginAlready)
	}
	c.loggedIn = true
	return wire.AppendLoginAccepted(out, &wire.LoginAccepted{UserID: 1, ServerTime: now})
}

// orderEntry appends the answer to one order-entry frame; end is true
// after a Logout.
func (c *conn) orderEntry(out, f []byte, now int64) (_ []byte, end bool) {
	typ := wire.Type(f)
	switch typ {
	case wire.TypeLogin:
		return c.login(out, f, now), false
	case wire.TypeHeartbeat:
		return out, false
	case wire.TypeLogout:
		return wire.AppendLogout(out, wire.LogoutUserRequest), true
	case wire.TypeNewOrder, wire.TypeCancel, wire.TypeReplace:
	default:
		return wire.AppendReject(out, 0, wire.ReasonUnknownType), false
	}
	if err := wire.Check(f); err != nil {
		return wire.AppendReject(out, 0, wire.ReasonBadLength), false
	}
	// Every request body starts with its client order id; a Cancel's and a
	// Replace's target follows the symbol.
	id := uint64(f[3])<<56 | uint64(f[4])<<48 | uint64(f[5])<<40 | uint64(f[6])<<32 |
		uint64(f[7])<<24 | uint64(f[8])<<16 | uint64(f[9])<<8 | uint64(f[10])
	if !c.loggedIn {
		return wire.AppendReject(out, id, wire.ReasonNotLoggedIn), false
	}
	c.nextID++
	ack := wire.OrderAck{ClientOrderID: id, OrderID: c.nextID, Seq: c.nextID, RecvTime: now}
	if typ != wire.TypeNewOrder {
		b := f[wire.HeaderLen+16:]
		ack.OrderID = uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 |
			uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])
	}
	return wire.AppendOrderAck(out, &ack), false
}

// marketData appends the answer to one market-data frame: subscriptions
// are confirmed (from sequence 0) and resumes end at once; nothing is ever
// published.
func (c *conn) marketData(out, f []byte) (_ []byte, end bool) {
	switch wire.Type(f) {
	case wire.TypeLogin:
		return c.login(out, f, time.Now().UnixNano()), false
	case wire.TypeHeartbeat:
		return out, false
	case wire.TypeLogout:
		return wire.AppendLogout(out, wire.LogoutUserRequest), true
	case wire.TypeSubscribe:
		var m wire.Subscribe
		switch {
		case wire.DecodeSubscribe(f, &m) != nil:
			return wire.AppendReject(out, 0, wire.ReasonBadLength), false
		case m.Channels == 0 || m.Channels&^wire.ChanAll != 0:
			return wire.AppendSubRejected(out, &wire.SubRejected{Symbol: m.Symbol, Reason: wire.SubBadChannels}), false
		case m.Channels&wire.ChanOrders != 0 && !c.loggedIn:
			return wire.AppendSubRejected(out, &wire.SubRejected{Symbol: m.Symbol, Reason: wire.SubNotLoggedIn}), false
		}
		return wire.AppendSubscribed(out, &wire.Subscribed{Symbol: m.Symbol, Channels: m.Channels}), false
	case wire.TypeUnsubscribe:
		return out, false
	case wire.TypeResume:
		var m wire.Resume
		switch {
		case wire.DecodeResume(f, &m) != nil:
			return wire.AppendReject(out, 0, wire.ReasonBadLength), false
		case !c.loggedIn:
			return wire.AppendSubRejected(out, &wire.SubRejected{Symbol: m.Symbol, Reason: wire.SubNotLoggedIn}), false
		}
		out = wire.AppendSubscribed(out, &wire.Subscribed{Symbol: m.Symbol, Channels: wire.ChanOrders})
		return wire.AppendResumeDone(out, &wire.ResumeDone{Symbol: m.Symbol}), false
	}
	return wire.AppendReject(out, 0, wire.ReasonUnknownType), false
}
