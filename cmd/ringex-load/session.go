package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ringex/ringex/client"
	"github.com/ringex/ringex/netio/wire"
	"github.com/ringex/ringex/perf"
)

// idSpace builds client order ids: the run's random tag (16 bits), the
// session (16 bits) and the tracker's request number (32 bits). The run tag
// keeps the events of an earlier run's orders (still resting, and filled
// now) from being taken for this run's.
type idSpace struct{ run uint16 }

func (s idSpace) id(session int, n uint64) uint64 {
	return uint64(s.run)<<48 | uint64(session)<<32 | n&0xffffffff
}

// parse splits a client order id; ok is false for another run's ids.
func (s idSpace) parse(id uint64) (session int, n uint64, ok bool) {
	if uint16(id>>48) != s.run {
		return 0, 0, false
	}
	return int(id >> 32 & 0xffff), id & 0xffffffff, true
}

// A tracker tag holds the request's kind (3 bits) and its asset (5 bits).
const maxAssets = 1 << 5

func tag(k perf.Kind, asset int) uint8 { return uint8(k) | uint8(asset)<<3 }
func untag(t uint8) (perf.Kind, int)   { return perf.Kind(t & 7), int(t >> 3) }

func restingKind(k perf.Kind) bool { return k == perf.KindLimit || k == perf.KindPostOnly }
func amendKind(k perf.Kind) bool   { return k == perf.KindCancel || k == perf.KindReplace }

func sessionName(k int, user string) string { return fmt.Sprintf("session %d (%s)", k, user) }

// maxPool bounds the resting orders a session remembers as cancel and
// replace targets.
const maxPool = 4096

// readBuffer is a session's read buffer: one read takes everything the
// socket holds, up to this much (at least one largest frame, so that a
// partial frame always fits).
const readBuffer = 128 << 10

// errClosed ends a session's reader after the run closed it.
var errClosed = errors.New("session closed by the run")

// loadSession is one order-entry session over its own TCP connection: the
// perf.Sender and perf.Receiver the drivers use. It speaks the protocol
// itself (netio/wire's codec) rather than through the client package, so
// that the generator's own cost stays far below the server's: a batch of
// requests is drawn, registered with the tracker and written in one write;
// a read takes everything the socket holds into one buffer, the frames are
// parsed in place and their answers handed to the tracker as one batch.
// No goroutine hand-off, timer, channel or map lookup per request.
//
// Send runs on one goroutine at a time (the driver), Receive on one (the
// reader: in max-throughput mode the same goroutine). The heartbeat and
// the close share the socket's writes under wmu; the pool of cancel and
// replace targets is shared by Send and Receive under mu.
type loadSession struct {
	lr   *loadRun
	k    int
	user string
	tr   *perf.Tracker
	gen  *perf.Generator
	nc   net.Conn

	// Sending (the driver's goroutine).
	wmu   sync.Mutex // the socket's writes
	wbuf  []byte
	batch []drawn
	tags  []uint8
	wrote atomic.Bool // written since the heartbeat last looked

	// Receiving (the reader's goroutine).
	rbuf    []byte
	have    int // bytes of rbuf read and not yet parsed
	answers []perf.Answer
	ackIDs  []uint64 // the exchange order id of each answer (acks)

	mu   sync.Mutex
	pool []target // acked orders that may rest: cancel and replace targets

	closing atomic.Bool
}

// drawn is one request of a batch: the order drawn and, for a cancel or
// replace, its target.
type drawn struct {
	o   perf.Order
	tgt target
}

type target struct {
	orderID uint64
	n       uint64 // the order's request number
	asset   int
}

func newSession(lr *loadRun, k int, user string, tr *perf.Tracker, gen *perf.Generator) *loadSession {
	return &loadSession{lr: lr, k: k, user: user, tr: tr, gen: gen,
		batch: make([]drawn, perf.MaxBurst), tags: make([]uint8, perf.MaxBurst),
		wbuf: make([]byte, 0, perf.MaxBurst*(wire.HeaderLen+wire.ReplaceLen)), rbuf: make([]byte, readBuffer)}
}

// dial connects (over TLS if tlsCfg is set) and logs in; ctx bounds both.
// Requests are batched per write, not by Nagle (client.DialConn sets
// TCP_NODELAY).
func (ls *loadSession) dial(ctx context.Context, addr, key string, tlsCfg *tls.Config) error {
	nc, err := client.DialConn(ctx, addr, tlsCfg)
	if err != nil {
		return err
	}
	ls.nc = nc
	if _, err := client.Login(ctx, nc, ls.readFrame, ls.user, key); err != nil {
		nc.Close()
		return fmt.Errorf("login: %w", err)
	}
	return nil
}

// readFrame returns the next frame, reading as needed (the login only:
// afterwards Receive parses whole reads). The frame aliases rbuf until
// the next call.
func (ls *loadSession) readFrame() ([]byte, error) {
	for {
		f, n, err := wire.NextFrame(ls.rbuf[:ls.have], wire.MaxFrame)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			// Move the rest down now: the caller is done with f before
			// the next call, and Receive expects unparsed bytes at 0.
			out := append([]byte(nil), f...)
			ls.have = copy(ls.rbuf, ls.rbuf[n:ls.have])
			return out, nil
		}
		m, err := ls.nc.Read(ls.rbuf[ls.have:])
		if err != nil {
			return nil, err
		}
		ls.have += m
	}
}

// Send implements perf.Sender: it draws len(intended) requests from the
// mix, registers them with the tracker and writes them in one write.
func (ls *loadSession) Send(now time.Time, intended []time.Time) error {
	k := len(intended)
	batch, tags := ls.batch[:k], ls.tags[:k]
	ls.mu.Lock()
	for i := range batch {
		d := &batch[i]
		d.o = ls.gen.Next(len(ls.pool) > 0)
		if amendKind(d.o.Kind) {
			var ok bool
			if d.tgt, ok = ls.takeTarget(); ok {
				d.o.Asset = d.tgt.asset
				d.o.Price, d.o.Qty = ls.gen.PriceQty(d.tgt.asset)
				if d.o.Kind == perf.KindReplace && len(ls.pool) < maxPool {
					ls.pool = append(ls.pool, d.tgt) // it keeps its id: a later cancel or replace may hit it again
				}
			} else {
				d.o.Kind = perf.KindLimit // every known order is gone
			}
		}
		tags[i] = tag(d.o.Kind, d.o.Asset)
	}
	ls.mu.Unlock()
	first := ls.tr.AddBatch(now, intended, tags)

	ls.wmu.Lock()
	defer ls.wmu.Unlock()
	b := ls.wbuf[:0]
	for i := range batch {
		o, tgt := &batch[i].o, batch[i].tgt
		id := ls.lr.ids.id(ls.k, first+uint64(i))
		sym := ls.lr.syms[o.Asset]
		switch o.Kind {
		case perf.KindCancel:
			b = wire.AppendCancel(b, &wire.Cancel{ClientOrderID: id, Symbol: sym, OrderID: tgt.orderID})
			continue
		case perf.KindReplace:
			b = wire.AppendReplace(b, &wire.Replace{ClientOrderID: id, Symbol: sym, OrderID: tgt.orderID, Price: o.Price, Qty: o.Qty})
			continue
		}
		no := wire.NewOrder{ClientOrderID: id, Symbol: sym, Side: o.Side, Type: 1, TIF: 1, Price: o.Price, Qty: o.Qty}
		switch o.Kind {
		case perf.KindMarket:
			no.Type, no.TIF, no.Price = 2, 2, 0
		case perf.KindIOC:
			no.TIF = 2
		case perf.KindFOK:
			no.TIF = 3
		case perf.KindPostOnly:
			no.PostOnly = true
		}
		b = wire.AppendNewOrder(b, &no)
	}
	ls.wbuf = b
	ls.wrote.Store(true)
	_, err := ls.nc.Write(b)
	return err
}

// takeTarget removes a random live order from the pool; orders seen to
// have left the book are dropped on the way. Called with ls.mu held.
func (ls *loadSession) takeTarget() (target, bool) {
	for len(ls.pool) > 0 {
		i := ls.gen.Pick(len(ls.pool))
		t := ls.pool[i]
		last := len(ls.pool) - 1
		ls.pool[i] = ls.pool[last]
		ls.pool = ls.pool[:last]
		if ls.tr.Live(t.n) {
			return t, true
		}
	}
	return target{}, false
}

// number finds the request number of one of this session's client order
// ids; 0 (never a request) for anything else.
func (ls *loadSession) number(id uint64) uint64 {
	k, n, ok := ls.lr.ids.parse(id)
	if !ok || k != ls.k {
		return 0
	}
	return n
}

// Receive implements perf.Receiver: one read, every frame it completed
// parsed in place, the answers given to the tracker as one batch, and the
// acked orders that may rest added to the pool of targets.
func (ls *loadSession) Receive() error {
	m, err := ls.nc.Read(ls.rbuf[ls.have:])
	if err != nil {
		if ls.closing.Load() {
			return errClosed
		}
		return err
	}
	ls.have += m
	now := time.Now()
	as, ids := ls.answers[:0], ls.ackIDs[:0]
	off := 0
	var end error
	for end == nil {
		f, n, err := wire.NextFrame(ls.rbuf[off:ls.have], wire.MaxFrame)
		if err != nil {
			end = err
			break
		}
		if n == 0 {
			break
		}
		off += n
		switch wire.Type(f) {
		case wire.TypeOrderAck:
			var a wire.OrderAck
			if wire.DecodeOrderAck(f, &a) != nil {
				continue
			}
			as = append(as, perf.Answer{N: ls.number(a.ClientOrderID)})
			ids = append(ids, a.OrderID)
		case wire.TypeReject:
			var r wire.Reject
			if wire.DecodeReject(f, &r) != nil {
				continue
			}
			if r.ClientOrderID == 0 {
				ls.lr.run.Error(fmt.Sprintf("%s: reject %d (%s) of a request the server could not read",
					sessionName(ls.k, ls.user), r.Reason, wire.ReasonText(r.Reason)))
				continue
			}
			as = append(as, perf.Answer{N: ls.number(r.ClientOrderID), Reject: true, Code: r.Reason})
			ids = append(ids, 0)
		case wire.TypeLogout:
			code, _ := wire.DecodeLogout(f)
			end = &client.LogoutError{Code: code}
		}
		// Heartbeats, and anything else, are skipped.
	}
	ls.have = copy(ls.rbuf, ls.rbuf[off:ls.have])
	ls.answers, ls.ackIDs = as, ids
	if len(as) > 0 {
		ls.tr.Answered(now, as)
		ls.mu.Lock()
		for i := range as {
			a := &as[i]
			if kind, asset := untag(a.Tag); a.OK && !a.Reject && restingKind(kind) && len(ls.pool) < maxPool {
				ls.pool = append(ls.pool, target{orderID: ids[i], n: a.N, asset: asset})
			}
		}
		ls.mu.Unlock()
	}
	if end != nil && ls.closing.Load() {
		return errClosed
	}
	return end
}

// heartbeat sends a Heartbeat if nothing was written since the last call.
func (ls *loadSession) heartbeat() {
	if ls.wrote.Swap(false) {
		return
	}
	ls.wmu.Lock()
	ls.nc.Write(wire.AppendHeartbeat(nil))
	ls.wmu.Unlock()
}

// close sends a Logout (waiting at most a second for a server that does
// not read) and closes the connection; the reader then ends with
// errClosed.
func (ls *loadSession) close() {
	if ls.nc == nil || ls.closing.Swap(true) {
		return
	}
	ls.wmu.Lock()
	ls.nc.SetWriteDeadline(time.Now().Add(time.Second))
	ls.nc.Write(wire.AppendLogout(nil, wire.LogoutUserRequest))
	ls.wmu.Unlock()
	ls.nc.Close()
}
