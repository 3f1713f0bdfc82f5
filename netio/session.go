package netio

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/ringex/ringex/auth"
)

// session is one order-entry connection. Fields above the mutexes are
// owned by the connection's event loop. The ack batch (pending and its
// buffers) is shared with the ack goroutines and guarded by mu; the writer,
// through which every byte the session sends goes (session_writer.go), is
// guarded by wmu. When both are held, wmu is taken first.
type session struct {
	c        gnet.Conn
	token    uint64
	remote   string
	userID   uint32
	userName string
	failures int           // failed logins on this connection
	grant    *auth.Session // the login's: rate limit, audit (auth.go); nil before
	reply    []byte        // replies produced while decoding one read

	inFlight atomic.Int32 // published, not yet acknowledged
	lastRecv atomic.Int64 // Unix ns of the last inbound bytes
	lastSent atomic.Int64 // Unix ns of the last outbound write
	closing  atomic.Bool
	outcome  logoutCode // the Logout the server sent, for the audit (auth.go)

	// recycleFn, loopDoneFn and lastWrittenFn are s.recycle, s.loopDone
	// and s.lastWritten, made once: a method value passed as a callback
	// would be allocated per write.
	recycleFn     gnet.AsyncCallback
	loopDoneFn    gnet.AsyncCallback
	lastWrittenFn gnet.AsyncCallback

	mu      sync.Mutex
	pending []byte   // acks gathered for the current journal batch
	queued  bool     // the session is in an ack batch's touched list
	spare   [][]byte // buffers whose write finished, ready for reuse

	// The writer (session_writer.go). A write(2) is made under wmu, not
	// under mu, so that the ack goroutines of other assets can go on
	// gathering acks for the session meanwhile.
	wmu      sync.Mutex
	wfd      int      // our dup of the connection's fd; -1 once closed (or if the dup failed)
	loopOwed int      // AsyncWrites handed to the loop whose callback has not run
	stuck    bool     // none owed, but gnet's outbound buffer still held bytes at the last look
	ended    bool     // the session's last frame is written or queued: later acks and heartbeats are dropped
	draining bool     // the last frame is written; the close waits for gnet's outbound buffer to empty
	closeBy  int64    // Unix ns after which a draining session is closed anyway
	closed   bool     // OnClose ran: every write is dropped
	writing  [][]byte // ack buffers handed to AsyncWrite, oldest first

	// For tests: writes handed to the loop because the socket was full, and
	// returns to direct mode.
	fallbacks int
	resumes   int
}

func (s *session) touch() { s.lastRecv.Store(time.Now().UnixNano()) }

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

// add registers the session of a new connection; wfd is the writer's dup of
// its fd (-1 if none). It returns nil if the table is full.
func (t *sessionTable) add(c gnet.Conn, wfd int) *session {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(t.free)
	if n == 0 {
		return nil
	}
	slot := t.free[n-1]
	t.free = t.free[:n-1]
	t.gens[slot]++
	s := &session{c: c, token: orderToken(slot, t.gens[slot]), wfd: wfd}
	s.recycleFn, s.loopDoneFn, s.lastWrittenFn = s.recycle, s.loopDone, s.lastWritten
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
