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
//
// Flushes of one session are serialized (flushMu) from the swap to the
// end of the write. With several asset groups, the ack goroutine that
// queued the session flushes what the others gathered meanwhile; if
// another group could swap and write while that flush was between its
// swap and its write, a later ack of an asset would reach the socket
// before an earlier one, and the acks of one asset must arrive in order
// (docs/protocol.md, section 4). Serialized, the spare buffer is also
// always back by the next swap.
func (s *session) flushPending() {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	s.mu.Lock()
	buf := s.pending
	s.queued = false
	if len(buf) == 0 {
		s.mu.Unlock()
		return
	}
	s.pending, s.spare = s.spare[:0], nil
	s.mu.Unlock()
	if s.flushGap != nil {
		s.flushGap()
	}
	s.Write(buf)
	s.mu.Lock()
	if s.spare == nil {
		s.spare = buf[:0]
	}
	s.mu.Unlock()
}
