package client

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ringex/ringex/netio/wire"
)

// fakeServer is a tiny ringex server for the client's tests, on
// 127.0.0.1:0, that speaks the protocol through netio/wire. It splits its
// input with wire.NextFrame and answers every request read in one read
// with one write, as the real gateway does, so acks arrive pipelined.
//
// Order entry: Login succeeds (user id 7, server time 42) unless the user
// is "bad" (LoginRejected 1) or the version is not 1 (LoginRejected 2). A
// NewOrder is acked if its client order id is even and rejected with
// "price off tick" if it is odd, with these exceptions chosen by the
// quantity: quantity -1 makes the server log the session out (reason 4),
// quantity -2 gets no answer at all, quantity -3 is rejected "busy". Acks
// carry order id 1000+seq and the session's own sequence. Cancel and
// Replace are acked with their target's id.
//
// Market data: Subscribe to "NOPE" is refused (1), the orders channel
// without a login is refused (2); otherwise Subscribed at sequence 10, a
// snapshot if the book was asked for (Depth levels per side, 0 meaning as
// many as a frame holds), a BBO if it was, then one Trade and one
// BookUpdate at sequence 11. Resume sends Subscribed, the user's events
// after the given sequence up to 13 (one per sequence), then ResumeDone
// at 13.
type fakeServer struct {
	ln   net.Listener
	addr string

	// heartbeatEvery, if set, makes the server send heartbeats.
	heartbeatEvery time.Duration
	// mute makes the server answer nothing at all, not even a Login.
	mute bool
	// silentAfterLogin makes it answer the Login, then nothing more.
	silentAfterLogin bool

	heartbeats atomic.Int64 // heartbeats received, every connection
	logouts    atomic.Int64 // client Logouts received
	requests   atomic.Int64 // NewOrder, Cancel and Replace received

	wg sync.WaitGroup
}

func newFakeServer(t testing.TB, configure ...func(*fakeServer)) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeServer{ln: ln, addr: ln.Addr().String()}
	for _, f := range configure {
		f(s)
	}
	var conns sync.Map
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Store(c, true)
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer conns.Delete(c)
				s.serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		conns.Range(func(c, _ any) bool { c.(net.Conn).Close(); return true })
		s.wg.Wait()
	})
	return s
}

// fakeConn is one connection's state.
type fakeConn struct {
	nc       net.Conn
	wmu      sync.Mutex
	loggedIn bool
	seq      uint64
}

func (fc *fakeConn) write(b []byte) error {
	fc.wmu.Lock()
	defer fc.wmu.Unlock()
	_, err := fc.nc.Write(b)
	return err
}

func (s *fakeServer) serve(nc net.Conn) {
	defer nc.Close()
	fc := &fakeConn{nc: nc}
	if s.heartbeatEvery > 0 {
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			t := time.NewTicker(s.heartbeatEvery)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					if fc.write(wire.AppendHeartbeat(nil)) != nil {
						return
					}
				}
			}
		}()
	}
	in := make([]byte, 0, 64<<10)
	var out []byte
	for {
		if len(in) == cap(in) {
			return
		}
		n, err := nc.Read(in[len(in):cap(in)])
		if err != nil {
			return
		}
		in = in[:len(in)+n]
		off := 0
		closing := false
		for !closing {
			frame, k, err := wire.NextFrame(in[off:], wire.MaxInboundFrame)
			if err != nil {
				fc.write(wire.AppendLogout(nil, wire.LogoutBadFrame))
				return
			}
			if k == 0 {
				break
			}
			off += k
			out, closing = s.handle(fc, frame, out)
		}
		in = in[:copy(in, in[off:])]
		if len(out) > 0 && !s.mute {
			if fc.write(out) != nil {
				return
			}
		}
		out = out[:0]
		if closing {
			return
		}
	}
}

// handle answers one frame, appending to out; closing ends the connection
// after out is written.
func (s *fakeServer) handle(fc *fakeConn, f []byte, out []byte) (_ []byte, closing bool) {
	if s.silentAfterLogin && fc.loggedIn {
		return out, false
	}
	switch wire.Type(f) {
	case wire.TypeLogin:
		var m wire.Login
		if err := wire.DecodeLogin(f, &m); err != nil {
			return wire.AppendReject(out, 0, wire.ReasonBadLength), false
		}
		switch {
		case m.Version != wire.Version:
			return wire.AppendLoginRejected(out, wire.LoginBadVersion), false
		case m.UserName() == "bad":
			return wire.AppendLoginRejected(out, wire.LoginBadCredentials), false
		}
		fc.loggedIn = true
		return wire.AppendLoginAccepted(out, &wire.LoginAccepted{UserID: 7, ServerTime: 42}), false
	case wire.TypeHeartbeat:
		s.heartbeats.Add(1)
	case wire.TypeLogout:
		s.logouts.Add(1)
		return wire.AppendLogout(out, wire.LogoutUserRequest), true
	case wire.TypeNewOrder:
		var m wire.NewOrder
		if err := wire.DecodeNewOrder(f, &m); err != nil {
			return wire.AppendReject(out, 0, wire.ReasonBadLength), false
		}
		s.requests.Add(1)
		switch {
		case !fc.loggedIn:
			return wire.AppendReject(out, m.ClientOrderID, wire.ReasonNotLoggedIn), false
		case m.Qty == -1:
			return wire.AppendLogout(out, wire.LogoutShutdown), true
		case m.Qty == -2:
			return out, false
		case m.Qty == -3:
			return wire.AppendReject(out, m.ClientOrderID, wire.ReasonBusy), false
		case m.ClientOrderID%2 == 1:
			return wire.AppendReject(out, m.ClientOrderID, wire.ReasonOffTick), false
		}
		fc.seq++
		ack := wire.OrderAck{ClientOrderID: m.ClientOrderID, OrderID: 1000 + fc.seq, Seq: fc.seq, RecvTime: 1}
		return wire.AppendOrderAck(out, &ack), false
	case wire.TypeCancel:
		var m wire.Cancel
		wire.DecodeCancel(f, &m)
		s.requests.Add(1)
		fc.seq++
		return wire.AppendOrderAck(out, &wire.OrderAck{ClientOrderID: m.ClientOrderID, OrderID: m.OrderID, Seq: fc.seq}), false
	case wire.TypeReplace:
		var m wire.Replace
		wire.DecodeReplace(f, &m)
		s.requests.Add(1)
		fc.seq++
		return wire.AppendOrderAck(out, &wire.OrderAck{ClientOrderID: m.ClientOrderID, OrderID: m.OrderID, Seq: fc.seq}), false
	case wire.TypeSubscribe:
		var m wire.Subscribe
		wire.DecodeSubscribe(f, &m)
		return s.subscribe(fc, &m, out), false
	case wire.TypeResume:
		var m wire.Resume
		wire.DecodeResume(f, &m)
		if !fc.loggedIn {
			return wire.AppendSubRejected(out, &wire.SubRejected{Symbol: m.Symbol, Reason: wire.SubNotLoggedIn}), false
		}
		out = wire.AppendSubscribed(out, &wire.Subscribed{Symbol: m.Symbol, Channels: wire.ChanOrders, Seq: m.After})
		for seq := m.After + 1; seq <= 13; seq++ {
			ev := wire.OrderEvent{Symbol: m.Symbol, Seq: seq, Kind: wire.OrderAccepted, Side: 1, OrderID: seq, ClientOrderID: seq, Price: 100, Qty: 1, Remaining: 1}
			out = wire.AppendOrderEvent(out, &ev)
		}
		return wire.AppendResumeDone(out, &wire.ResumeDone{Symbol: m.Symbol, Seq: 13}), false
	case wire.TypeUnsubscribe:
	default:
		return wire.AppendReject(out, 0, wire.ReasonUnknownType), false
	}
	return out, false
}

func (s *fakeServer) subscribe(fc *fakeConn, m *wire.Subscribe, out []byte) []byte {
	switch {
	case m.Symbol.String() == "NOPE":
		return wire.AppendSubRejected(out, &wire.SubRejected{Symbol: m.Symbol, Reason: wire.SubUnknownAsset})
	case m.Channels&wire.ChanOrders != 0 && !fc.loggedIn:
		return wire.AppendSubRejected(out, &wire.SubRejected{Symbol: m.Symbol, Reason: wire.SubNotLoggedIn})
	}
	out = wire.AppendSubscribed(out, &wire.Subscribed{Symbol: m.Symbol, Channels: m.Channels, Seq: 10})
	if m.Channels&wire.ChanBook != 0 {
		depth := int(m.Depth)
		if depth == 0 {
			depth = wire.MaxSnapshotSide
		}
		bids, asks := make([]wire.Level, depth), make([]wire.Level, depth)
		for i := range depth {
			bids[i] = wire.Level{Price: int64(1000 - i), Qty: 1, Count: 1}
			asks[i] = wire.Level{Price: int64(1001 + i), Qty: 2, Count: 1}
		}
		out = wire.AppendBookSnapshot(out, m.Symbol, 10, bids, asks)
	}
	if m.Channels&wire.ChanBBO != 0 {
		out = wire.AppendBBO(out, &wire.BBO{Symbol: m.Symbol, Seq: 10, BidPrice: 1000, BidQty: 1, AskPrice: 1001, AskQty: 2})
	}
	if m.Channels&wire.ChanTrades != 0 {
		out = wire.AppendTrade(out, &wire.Trade{Symbol: m.Symbol, Seq: 11, TradeID: 11, Price: 1001, Qty: 2, Aggressor: 1, Time: 5})
	}
	if m.Channels&wire.ChanBook != 0 {
		out = wire.AppendBookUpdate(out, &wire.BookUpdate{Symbol: m.Symbol, Seq: 11, Side: 2, Price: 1001, Qty: 0})
	}
	return out
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// errorsAs is errors.As for a target type, returning the match.
func errorsAs[T error](err error) (T, bool) {
	var target T
	ok := errors.As(err, &target)
	return target, ok
}
