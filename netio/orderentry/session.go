package orderentry

import (
	"sync"
	"sync/atomic"

	"github.com/panjf2000/gnet/v2"

	"github.com/ringex/ringex/netio"
	"github.com/ringex/ringex/netio/wire"
)

// session is one order-entry connection. Fields above the mutex are owned
// by the connection's event loop. The ack batch (pending) is shared
// with the ack goroutines and guarded by mu, which is held while it is
// written; every byte the session
// sends goes through its netio.Conn (session_writer.go, netio.Outbox).
type session struct {
	netio.Conn // login, outbox, clocks (the shared connection layer)
	c          gnet.Conn
	token      uint64
	// readAt is when the event loop read the bytes it is decoding
	// (OnTraffic): the receive time of every command in them. One clock
	// read per read(2) instead of one per command.
	readAt int64

	inFlight atomic.Int32 // published, not yet acknowledged

	mu      sync.Mutex
	pending []byte // acks gathered for the current journal pass
	queued  bool   // the session is in an ack batch's touched list
}

// sessionTable maps pipeline tokens back to sessions. Slots are reused; a
// generation counter in the token tells a reused slot from the one an old
// ack was meant for. Lookups are lock-free (the ack goroutines use them per
// order); adds and removes take a lock.
type sessionTable struct {
	slots []atomic.Pointer[session]
	mu    sync.Mutex
	free  []uint32
	gens  []uint32
}

func (t *sessionTable) init(n int) {
	t.slots = make([]atomic.Pointer[session], n)
	t.gens = make([]uint32, n)
	t.free = make([]uint32, n)
	for i := range t.free {
		t.free[i] = uint32(n - 1 - i)
	}
}

// add registers the session of a new connection. It returns nil if the
// table is full.
func (t *sessionTable) add(c gnet.Conn, g *Gateway) *session {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(t.free)
	if n == 0 {
		return nil
	}
	slot := t.free[n-1]
	t.free = t.free[:n-1]
	t.gens[slot]++
	s := &session{c: c, token: orderToken(slot, t.gens[slot])}
	s.Open(c, g.cfg.MaxQueuedBytes, &g.budget, wire.LogoutUnreadReplies, &netio.OutboxHooks{
		Close: func() { _ = c.Close() },
		Cut:   func(queued int, budget bool) { g.cut(s, queued, budget) },
	})
	g.srv.ExpectProxy(&s.Conn, c)
	t.slots[slot].Store(s)
	return s
}

func (t *sessionTable) remove(s *session) {
	slot := uint32(s.token)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.slots[slot].Load() == s {
		t.slots[slot].Store(nil)
		t.free = append(t.free, slot)
	}
}

func (t *sessionTable) get(token uint64) *session {
	slot := uint32(token)
	if int(slot) >= len(t.slots) {
		return nil
	}
	s := t.slots[slot].Load()
	if s == nil || s.token != token {
		return nil
	}
	return s
}

func (t *sessionTable) each(fn func(*session)) {
	for i := range t.slots {
		if s := t.slots[i].Load(); s != nil {
			fn(s)
		}
	}
}
