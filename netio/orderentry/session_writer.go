package orderentry

import (
	"time"
)

// The session writer. Everything a session sends (acks from the ack
// goroutines, replies from its event loop, heartbeats and logouts from the
// ticker) goes through its outbox (outbox.go), so the session's bytes reach
// the socket in one order and no frame is ever split by another writer's
// bytes. The outbox's cap bounds what a client that does not read can make
// the server hold: past it the session is sent Logout(unread replies) and
// closed.

// flushPending writes the acks gathered for one journal batch. The pending
// buffer is swapped for the spare under mu, so other ack goroutines go on
// gathering while it is written; the outbox writes it at once when the
// socket is idle and copies what the socket does not take, so the buffer
// is free again as soon as write returns: two buffers per session
// alternate and nothing is allocated.
func (s *session) flushPending() {
	s.mu.Lock()
	buf := s.pending
	s.queued = false
	if len(buf) == 0 {
		s.mu.Unlock()
		return
	}
	s.pending, s.spare = s.spare[:0], nil
	s.mu.Unlock()
	s.write(buf)
	s.mu.Lock()
	if s.spare == nil {
		s.spare = buf[:0]
	}
	s.mu.Unlock()
}

// write sends b from any goroutine, the session's event loop included.
// b is not retained.
func (s *session) write(b []byte) {
	if len(b) == 0 {
		return
	}
	if s.out.Write(b) {
		s.lastSent.Store(time.Now().UnixNano())
	}
}

// writeFinal writes b, the session's last bytes, from its event loop when
// the frames it just decoded end the session (a Logout from the client, an
// impossible frame length, too many failed logins). It reports whether the
// loop may close the connection now (OnTraffic returning Close): only if
// the socket took every byte at once; otherwise the outbox closes it once
// they are out (or the linger deadline passes), and the session's input is
// ignored until then.
func (s *session) writeFinal(b []byte) (closeNow bool) {
	s.lastSent.Store(time.Now().UnixNano())
	return s.out.End(b)
}

// logout sends a Logout with reason and closes the connection once it is
// written. Safe from any goroutine; only the first call has an effect.
func (s *session) logout(reason uint16) {
	s.outcome.Set(reason) // for the audit line (auth.go)
	s.lastSent.Store(time.Now().UnixNano())
	s.out.Logout(reason)
}
