package netio

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/ringex/ringex/auth"
	"github.com/ringex/ringex/engine"
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
		panic(fmt.Sprintf("netio: notifier shared buffer released too often: refs=%d", r))
	}
}

// feedConn is one market-data connection.
//
// Ownership: everything above the atomics is the connection's event loop's
// (login, subscriptions to public channels and the write being gathered);
// assets[i].priv, recovering and held belong to asset i's lock; the
// atomics are read anywhere.
type feedConn struct {
	n      *Notifier
	c      gnet.Conn
	loop   *feedLoop
	id     uint64
	remote string

	userID   uint32
	userName string
	failures int
	grant    *auth.Session // the login's (auth.go); nil without one
	outcome  logoutCode    // the Logout the server sent, for the audit (auth.go)
	reply    []byte        // replies produced while decoding one read
	closed   bool          // OnClose has run
	assets   []connAsset

	// The write being gathered by a drain of the event loop: the shared
	// and private buffers it is made of, and wbuf, where they are joined
	// for one write (a memory copy is cheaper than the iovec that writev
	// allocates on every call).
	iov    [][]byte
	iovN   int
	iovMsg int
	dirty  bool
	wbuf   []byte
	pend   []int32 // the private items of the batch being drained

	closing    atomic.Bool
	lastSent   atomic.Int64 // Unix ns of the last write
	lastRecv   atomic.Int64 // Unix ns of the last inbound bytes
	outbound   atomic.Int64 // the loop's unsent bytes after the last write
	replayBusy atomic.Bool  // a replay segment is queued and not yet written
}

// connAsset is a connection's state for one asset.
type connAsset struct {
	// Loop-owned: the public channels subscribed (a combination of the
	// chTrades, chBook and chBBO bits) and 1 + the index in the loop's
	// list for that combination (0: none).
	mask uint8
	pos  int32

	// Guarded by the asset's lock: the private subscription and the
	// events held while a resume reads the journal.
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
	fc := &feedConn{n: n, c: c, loop: loop, id: id, assets: make([]connAsset, len(n.assets))}
	if a := c.RemoteAddr(); a != nil {
		fc.remote = a.String()
	}
	return fc
}

func (fc *feedConn) touch() { fc.lastRecv.Store(time.Now().UnixNano()) }

// add queues b for the connection's next write. Loop only.
func (fc *feedConn) add(b []byte, msgs int) {
	fc.iov = append(fc.iov, b)
	fc.iovN += len(b)
	fc.iovMsg += msgs
}

// maxKeptWriteBuf bounds the join buffer a connection keeps between writes.
const maxKeptWriteBuf = 64 << 10

// writeGathered writes what the drain gathered with one write. The socket
// takes what it can and gnet keeps the rest for when it is writable; if
// what is left unsent passes the limit, before or after the write, the
// subscriber is too slow and is disconnected. Loop only. It reports the
// bytes and messages written.
func (fc *feedConn) writeGathered() (bytes, msgs int) {
	defer func() {
		clear(fc.iov)
		fc.iov, fc.iovN, fc.iovMsg, fc.dirty = fc.iov[:0], 0, 0, false
	}()
	if fc.closed || fc.closing.Load() || fc.iovN == 0 {
		return 0, 0
	}
	limit := fc.n.cfg.MaxQueuedBytes
	if unsent := int64(fc.c.OutboundBuffered()); unsent > limit {
		fc.slowConsumer(unsent)
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
	if _, err := fc.c.Write(out); err != nil {
		return 0, 0 // gnet closes the connection
	}
	if cap(fc.wbuf) > maxKeptWriteBuf {
		fc.wbuf = nil // a burst: do not keep its buffer for every connection
	}
	unsent := int64(fc.c.OutboundBuffered())
	fc.outbound.Store(unsent)
	fc.lastSent.Store(time.Now().UnixNano())
	if unsent > limit {
		fc.slowConsumer(unsent)
	}
	return fc.iovN, fc.iovMsg
}

// writeNow writes b at once. Loop only.
func (fc *feedConn) writeNow(b []byte) {
	if fc.closed || fc.closing.Load() || len(b) == 0 {
		return
	}
	fc.c.Write(b)
	fc.lastSent.Store(time.Now().UnixNano())
	fc.n.m.out(len(b), 1)
}

// slowConsumer disconnects a subscriber whose outbound queue is full.
func (fc *feedConn) slowConsumer(unsent int64) {
	if !fc.closing.CompareAndSwap(false, true) {
		return
	}
	fc.n.m.slow.Inc()
	fc.n.slowCount.Add(1)
	fc.n.log.Warn("slow consumer: disconnecting", "remote", fc.remote, "user", fc.userName,
		"unsent_bytes", unsent, "limit", fc.n.cfg.MaxQueuedBytes)
	fc.logoutAndClose(wire.LogoutSlowConsumer)
}

// logout sends a Logout with reason and closes the connection once it is
// written. Safe from any goroutine; only the first call has an effect.
func (fc *feedConn) logout(reason uint16) {
	if !fc.closing.CompareAndSwap(false, true) {
		return
	}
	fc.logoutAndClose(reason)
}

func (fc *feedConn) logoutAndClose(reason uint16) {
	fc.outcome.set(reason)
	msg := appendFeedLogout(nil, reason)
	if err := fc.c.AsyncWrite(msg, closeAfterWrite); err != nil {
		fc.c.Close()
	}
}

func closeAfterWrite(c gnet.Conn, _ error) error { return c.Close() }
