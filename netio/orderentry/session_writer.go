package orderentry

// The session writer. Everything a session sends (acks from the ack
// goroutines, replies from its event loop, heartbeats and logouts from the
// ticker) goes through its outbox (netio.Outbox), so the session's bytes reach
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
	s.Write(buf)
	s.mu.Lock()
	if s.spare == nil {
		s.spare = buf[:0]
	}
	s.mu.Unlock()
}
