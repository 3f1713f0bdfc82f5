package netio

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// session is one order-entry connection. Fields above mu are owned by the
// connection's event loop; pending and the buffers below it are shared with
// the ack goroutines and guarded by mu.
type session struct {
	c        gnet.Conn
	token    uint64
	remote   string
	userID   uint32
	userName string
	failures int    // failed logins on this connection
	reply    []byte // replies produced while decoding one read

	inFlight atomic.Int32 // published, not yet acknowledged
	lastRecv atomic.Int64 // Unix ns of the last inbound bytes
	lastSent atomic.Int64 // Unix ns of the last outbound write
	closing  atomic.Bool

	mu      sync.Mutex
	pending []byte   // acks gathered for the current journal batch
	queued  bool     // the session is in an ack batch's touched list
	writing [][]byte // buffers handed to AsyncWrite, oldest first
	spare   [][]byte // buffers whose write finished, ready for reuse
}

func (s *session) touch() { s.lastRecv.Store(time.Now().UnixNano()) }

// flushPending hands the gathered acks to the event loop in one AsyncWrite.
// The buffer comes back through the write's callback, so in steady state
// two buffers per session alternate and nothing is allocated. Several ack
// goroutines (one per asset) may flush the same session, so the buffer is
// queued on writing and handed to AsyncWrite under one lock: the loop then
// finishes the writes in the order of writing, which recycle relies on.
func (s *session) flushPending() {
	s.mu.Lock()
	defer s.mu.Unlock()
	buf := s.pending
	s.queued = false
	if len(buf) == 0 {
		return
	}
	if n := len(s.spare); n > 0 {
		s.pending = s.spare[n-1][:0]
		s.spare = s.spare[:n-1]
	} else {
		s.pending = nil
	}
	s.writing = append(s.writing, buf)
	s.lastSent.Store(time.Now().UnixNano())
	if err := s.c.AsyncWrite(buf, s.recycle); err != nil {
		s.writing = s.writing[:len(s.writing)-1]
	}
}

// recycle runs when an AsyncWrite is done (the loop has written the bytes
// or copied them into its outbound buffer). A connection's event loop runs
// its queued writes in order, so the finished buffer is the oldest one.
func (s *session) recycle(_ gnet.Conn, _ error) error {
	s.mu.Lock()
	if len(s.writing) > 0 {
		buf := s.writing[0]
		copy(s.writing, s.writing[1:])
		s.writing = s.writing[:len(s.writing)-1]
		if len(s.spare) < 2 {
			s.spare = append(s.spare, buf[:0])
		}
	}
	s.mu.Unlock()
	return nil
}

// send writes one message from any goroutine.
func (s *session) send(msg []byte) {
	s.lastSent.Store(time.Now().UnixNano())
	s.c.AsyncWrite(msg, nil)
}

// logout sends a Logout with reason and closes the connection once it is
// written. Safe from any goroutine; only the first call has an effect.
func (s *session) logout(g *Gateway, reason uint16) {
	if !s.closing.CompareAndSwap(false, true) {
		return
	}
	s.c.AsyncWrite(appendLogout(nil, reason), func(c gnet.Conn, _ error) error {
		return c.Close()
	})
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

func (t *sessionTable) add(c gnet.Conn) *session {
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
	if a := c.RemoteAddr(); a != nil {
		s.remote = a.String()
	}
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
