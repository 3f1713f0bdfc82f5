package orderentry

// The session writer. Everything a session sends (acks from the ack
// goroutines, replies from its event loop, heartbeats and logouts from the
// ticker) goes through its outbox (netio.Outbox), so the session's bytes reach
// the socket in one order and no frame is ever split by another writer's
// bytes. The outbox's cap bounds what a client that does not read can make
// the server hold: past it the session is sent Logout(unread replies) and
// closed.

// flushPending writes the acks gathered for one journal pass. It writes
// them under mu, which every ack goroutine gathers under too, so the
// session's acks reach its outbox in the order they were gathered: with
// several asset groups, the ack goroutine that queued the session flushes
// what the others gathered meanwhile, and an asset's acks must arrive in
// sequence order (docs/protocol.md, section 4). The outbox writes the
// buffer at once when the socket is idle and copies what the socket does
// not take, so the buffer is free again as soon as Write returns: one
// buffer per session, and nothing is allocated. Another group's ack
// goroutine waits for the write(2) at most; with one group (the default)
// nobody does.
func (s *session) flushPending() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queued = false
	if len(s.pending) > 0 {
		s.Write(s.pending)
		s.pending = s.pending[:0]
	}
}
