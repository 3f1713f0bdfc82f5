package marketdata

import (
	"fmt"
	"sync/atomic"

	"github.com/panjf2000/gnet/v2"

	"github.com/ringex/ringex/engine"
	"github.com/ringex/ringex/netio"
	"github.com/ringex/ringex/netio/wire"
)

// sharedBuf holds the encoded public messages of one output batch for one
// asset and channel. Every subscriber's write is made from the same bytes,
// so a message is encoded once however many subscribers it has. Each event
// loop batch that carries it holds a reference; the last one to be written
// returns it to the free list.
type sharedBuf struct {
	b     []byte
	msgs  int
	marks []int32 // marks[j]: where the batch's j-th event's messages start; the last is len(b)
	refs  atomic.Int32
	pool  freeList[sharedBuf]
}

func (s *sharedBuf) retain() { s.refs.Add(1) }

func (s *sharedBuf) release() {
	switch r := s.refs.Add(-1); {
	case r == 0:
		s.b, s.msgs, s.marks = s.b[:0], 0, s.marks[:0]
		s.pool.put(s)
	case r < 0:
		panic(fmt.Sprintf("marketdata: shared buffer released too often: refs=%d", r))
	}
}

// feedConn is one market-data connection.
//
// Ownership: the subscriptions to public channels as the loop's lists hold
// them and the write being gathered are the connection's event loop's, and
// so are the login and Reply (netio.Conn); assets[i].amask, depth, priv,
// recovering and held belong to asset i's lock; every byte sent goes
// through the Conn's outbox, which any goroutine may use (netio.Outbox).
type feedConn struct {
	n    *Notifier
	c    gnet.Conn
	loop *feedLoop
	id   uint64

	netio.Conn      // login, outbox, clocks (the shared connection layer)
	closed     bool // OnClose has run
	assets     []connAsset
	// ctlQueued counts this connection's subscription changes queued on
	// its loop and not yet applied: while any is, replies go through the
	// loop's inbox too, behind them.
	ctlQueued int

	// The write being gathered by a drain of the event loop: the shared
	// and private buffers it is made of, and wbuf, where they are joined
	// for one write (a memory copy is cheaper than the iovec that writev
	// allocates on every call).
	iov    [][]byte
	iovN   int
	iovMsg int
	dirty  bool   // it has gathered bytes not yet written (and is in one of the loop's lists)
	urgent bool   // it is in the loop's urgent list
	wround uint64 // the loop's round in which it was last written (notifier_loop.go)
	wbuf   []byte
	pend   []int32 // the private items of the batch being drained

	done chan struct{} // closed by OnClose: ends a resume's waits
}

// connAsset is a connection's state for one asset.
type connAsset struct {
	// Loop-owned: the public channels the loop's lists hold the
	// connection under (a combination of the chTrades, chBook and chBBO
	// bits) and 1 + the index in the loop's list for that combination
	// (0: none).
	mask uint8
	pos  int32

	// Guarded by the asset's lock: the public channels as the asset counts
	// them (ahead of mask while a change is queued on the loop), the book
	// depth asked for, the private subscription and the events held while
	// a resume reads the journal.
	amask      uint8
	depth      int32
	priv       bool
	recovering bool
	held       []heldEvent
}

// heldEvent is a private event held during a resume.
type heldEvent struct {
	ev    engine.Event
	maker bool
}

func newFeedConn(n *Notifier, c gnet.Conn, loop *feedLoop, id uint64) *feedConn {
	fc := &feedConn{n: n, c: c, loop: loop, id: id, assets: make([]connAsset, len(n.assets)),
		done: make(chan struct{})}
	fc.Open(c, int(n.cfg.MaxQueuedBytes), &n.budget, wire.LogoutSlowConsumer, &netio.OutboxHooks{
		Close: func() { _ = c.Close() },
		Cut:   func(queued int, budget bool) { n.slowConsumer(fc, queued, budget) },
	})
	n.srv.ExpectProxy(&fc.Conn, c)
	return fc
}

// add queues b for the connection's next write. Loop only.
func (fc *feedConn) add(b []byte, msgs int) {
	fc.iov = append(fc.iov, b)
	fc.iovN += len(b)
	fc.iovMsg += msgs
}

// maxKeptWriteBuf bounds the join buffer a connection keeps between writes.
const maxKeptWriteBuf = 64 << 10

// writeGathered writes what the drain gathered with one write through the
// outbox, which sends what the socket takes and queues the rest; past the
// outbox's cap the subscriber is too slow and is cut (Logout 3). Loop
// only. It reports the bytes and messages written.
func (fc *feedConn) writeGathered() (bytes, msgs int) {
	defer func() {
		clear(fc.iov)
		fc.iov, fc.iovN, fc.iovMsg, fc.dirty = fc.iov[:0], 0, 0, false
	}()
	if fc.closed || fc.iovN == 0 {
		return 0, 0
	}
	out := fc.iov[0]
	if len(fc.iov) > 1 {
		fc.wbuf = fc.wbuf[:0]
		for _, b := range fc.iov {
			fc.wbuf = append(fc.wbuf, b...)
		}
		out = fc.wbuf
	}
	ok := fc.Write(out)
	if cap(fc.wbuf) > maxKeptWriteBuf {
		fc.wbuf = nil // a burst: do not keep its buffer for every connection
	}
	if !ok {
		return 0, 0
	}
	return fc.iovN, fc.iovMsg
}

// slowConsumer is the outbox's cut hook: fc passed its cap or the budget.
func (n *Notifier) slowConsumer(fc *feedConn, queued int, budget bool) {
	n.m.slow.Inc()
	n.slowCount.Add(1)
	n.log.Warn("slow consumer: disconnecting", "remote", fc.Remote, "conn", fc.id,
		"queued_bytes", queued, "limit", n.cfg.MaxQueuedBytes, "budget_exhausted", budget)
}

// fallBehind cuts a connection whose private events cannot be delivered
// (its loop is too far behind, or a resume holds too many live events).
// Any goroutine.
func (fc *feedConn) fallBehind() {
	if !fc.Out.Open() {
		return
	}
	fc.n.m.slow.Inc()
	fc.n.slowCount.Add(1)
	fc.n.log.Warn("slow consumer: private events fell behind: disconnecting", "remote", fc.Remote, "conn", fc.id)
	fc.Logout(wire.LogoutSlowConsumer)
}
