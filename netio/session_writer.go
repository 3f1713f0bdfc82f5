package netio

import (
	"bytes"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// The session writer. Everything a session sends (acks from the ack
// goroutines, replies from its event loop, heartbeats and logouts from the
// ticker) goes through the methods below, under s.wmu, so the session's
// bytes reach the socket in one order and no frame is ever split by another
// writer's bytes. (Methods named ...Locked expect s.wmu held.)
//
// Direct mode: while nothing is owed to the event loop (loopOwed == 0 and
// not stuck), a writer calls write(2) on wfd itself. An AsyncWrite costs an
// eventfd write, a wake of the loop thread out of epoll_wait and the hand
// over before the socket write; writing directly took the unloaded ack
// round trip from 150 to 126 us p50 on a 2-vCPU VM.
//
// Loop mode: when the socket buffer is full (EAGAIN or a short write), the
// rest of the bytes goes to the loop with AsyncWrite, and loopOwed counts
// it. From then on every write of the session is queued with AsyncWrite
// behind it: the loop runs a connection's AsyncWrites in the order they
// were queued (all are queued under s.wmu), and gnet's own write appends to
// its outbound buffer while that holds bytes, so nothing overtakes bytes
// the loop still has. Two writers each calling write(2) could not be
// ordered like this: a partial write of one followed by the other's write
// would split a frame. Each AsyncWrite's callback (in the loop) pays its
// debt; when nothing is owed and gnet's outbound buffer is empty as well
// (OutboundBuffered may only be read in the loop, hence in the callback),
// the session goes back to direct mode. If gnet still holds bytes when
// the last debt is paid, the session is stuck in loop mode until OnTick
// queues an empty AsyncWrite whose callback looks again (poke).
//
// Why wfd is a dup and not c.Fd(): a goroutine must never write to a
// descriptor number that may have been closed, because the number is
// reused by the next accept and the bytes would reach another user's new
// connection. gnet closes c.Fd() on its own schedule when it closes the
// connection (v2.9.7 right after OnClose returns; other versions have
// closed it before calling OnClose), so an ack goroutine holding c.Fd()
// could write into a reused number. wfd is ours: it keeps the socket open
// until OnClose closes it under s.wmu and sets wfd = -1, and every write
// checks wfd under s.wmu, so no write reaches a closed or reused number.
// The dup shares gnet's open file description, O_NONBLOCK included.

// directLocked reports whether a write may go straight to the socket.
func (s *session) directLocked() bool {
	return s.wfd >= 0 && s.loopOwed == 0 && !s.stuck
}

// writeDirectLocked writes b to wfd once. It returns how many bytes were
// written (fewer than len(b) if the socket buffer is full) and ok = false
// if the socket failed: the bytes are then dropped and the connection is
// closed, as gnet closes it on a failed write of its own. A session never
// goes on after losing bytes in the middle of its stream (an error such as
// ENOBUFS would otherwise leave the connection open, one ack short).
func (s *session) writeDirectLocked(b []byte) (n int, ok bool) {
	for {
		n, err := unix.Write(s.wfd, b)
		switch err {
		case nil:
			return n, true
		case unix.EINTR:
		case unix.EAGAIN:
			return 0, true
		default:
			s.ended = true
			_ = s.c.Close() // queued to the loop: OnClose does not run here
			return 0, false
		}
	}
}

// toLoopLocked queues b for the event loop behind everything queued before.
// gnet enqueues the write before it signals the loop and fails only if the
// signal fails (the engine is gone); the callback then may never run and
// the session stays in loop mode, which is safe.
func (s *session) toLoopLocked(b []byte, cb gnet.AsyncCallback) {
	s.loopOwed++
	_ = s.c.AsyncWrite(b, cb)
}

// paidLocked runs in the loop when one of the session's AsyncWrites is done
// (gnet wrote the bytes or copied them into its outbound buffer).
func (s *session) paidLocked(c gnet.Conn, err error) {
	s.loopOwed--
	if s.loopOwed > 0 || s.wfd < 0 {
		return
	}
	// err: the connection is closing; never leave loop mode then.
	s.stuck = err != nil || c.OutboundBuffered() > 0
	if !s.stuck {
		s.resumes++
	}
}

// loopDone is the callback of the AsyncWrites whose buffer is not reused.
func (s *session) loopDone(c gnet.Conn, err error) error {
	s.wmu.Lock()
	s.paidLocked(c, err)
	s.wmu.Unlock()
	return nil
}

// flushPending writes the acks gathered for one journal batch. The pending
// buffer is swapped for a spare under mu, so other ack goroutines go on
// gathering while it is written. In direct mode it is written at once and
// becomes the next spare: nothing is allocated and the loop is not woken.
// Otherwise it (or what the socket did not take of it) goes to the loop
// with one AsyncWrite and comes back through recycle, so in steady state
// two buffers per session alternate either way. Several ack goroutines (one
// per asset) may flush the same session; the buffer is queued on writing
// and handed to AsyncWrite under one wmu, so the loop finishes the writes
// in the order of writing, which recycle relies on.
func (s *session) flushPending() {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	buf := s.pending
	s.queued = false
	if len(buf) == 0 {
		s.mu.Unlock()
		return
	}
	if n := len(s.spare); n > 0 {
		s.pending = s.spare[n-1][:0]
		s.spare = s.spare[:n-1]
	} else {
		s.pending = nil
	}
	s.mu.Unlock()
	if s.ended || s.closed {
		s.reuse(buf)
		return
	}
	s.lastSent.Store(time.Now().UnixNano())
	rest := buf
	if s.directLocked() {
		n, ok := s.writeDirectLocked(buf)
		if !ok || n == len(buf) {
			s.reuse(buf)
			return
		}
		s.fallbacks++
		rest = buf[n:]
	}
	s.writing = append(s.writing, buf)
	s.toLoopLocked(rest, s.recycleFn)
}

// reuse keeps a written ack buffer for the next batch.
func (s *session) reuse(buf []byte) {
	s.mu.Lock()
	if len(s.spare) < 2 {
		s.spare = append(s.spare, buf[:0])
	}
	s.mu.Unlock()
}

// recycle is the callback of flushPending's AsyncWrites. A connection's
// event loop runs its queued writes in order, so the finished buffer is
// the oldest one.
func (s *session) recycle(c gnet.Conn, err error) error {
	s.wmu.Lock()
	if len(s.writing) > 0 {
		buf := s.writing[0]
		copy(s.writing, s.writing[1:])
		s.writing[len(s.writing)-1] = nil
		s.writing = s.writing[:len(s.writing)-1]
		s.reuse(buf)
	}
	s.paidLocked(c, err)
	s.wmu.Unlock()
	return nil
}

// write sends b from any goroutine, the session's event loop included.
// b is not retained.
func (s *session) write(b []byte) {
	if len(b) == 0 {
		return
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.ended || s.closed {
		return
	}
	s.lastSent.Store(time.Now().UnixNano())
	if s.directLocked() {
		n, ok := s.writeDirectLocked(b)
		if !ok || n == len(b) {
			return
		}
		s.fallbacks++
		b = b[n:]
	}
	s.toLoopLocked(bytes.Clone(b), s.loopDoneFn)
}

// writeFinal writes b, the session's last bytes, from its event loop when
// the frames it just decoded end the session (a Logout from the client, an
// impossible frame length, too many failed logins). It reports whether the
// loop may close the connection now (OnTraffic returning Close): only if
// the socket took every byte at once. Otherwise the bytes are queued behind
// whatever is owed to the loop (closing now would drop the rest of a
// half-written ack and put these bytes in the middle of its frame) and the
// connection is closed by lastWritten once they are all out; the session is
// marked closing, so its input is ignored until then.
func (s *session) writeFinal(c gnet.Conn, b []byte) (closeNow bool) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closed {
		return true
	}
	if s.ended {
		// A Logout is queued or draining and closes the connection after
		// it (these bytes would come after it); or a write failed and the
		// close is already on its way.
		return s.loopOwed == 0 && !s.draining
	}
	// ended stops every other writer: nothing can come between these
	// bytes and the close.
	s.ended = true
	if s.directLocked() {
		if len(b) == 0 {
			return true
		}
		n, ok := s.writeDirectLocked(b)
		if !ok || n == len(b) {
			return true
		}
		s.fallbacks++
		b = b[n:]
	}
	s.closing.Store(true)
	s.lastSent.Store(time.Now().UnixNano())
	s.closeBy = time.Now().Add(lingerTimeout).UnixNano()
	s.toLoopLocked(bytes.Clone(b), s.lastWrittenFn)
	return false
}

// lingerTimeout bounds how long a session's last bytes may wait in gnet's
// outbound buffer for a client that does not read before the connection is
// closed anyway.
const lingerTimeout = 2 * time.Second

// lastWritten is the callback of a session's last write (a Logout, or the
// reply before a close). gnet's own close gives its outbound buffer one
// non-blocking try and drops what the socket does not take, so the
// connection is closed only once that buffer is empty (or lingerTimeout has
// passed); until then the session is draining and OnTick looks again.
func (s *session) lastWritten(c gnet.Conn, err error) error {
	s.wmu.Lock()
	s.paidLocked(c, err)
	done := err != nil || s.loopOwed == 0 &&
		(c.OutboundBuffered() == 0 || time.Now().UnixNano() > s.closeBy)
	s.draining = !done
	s.wmu.Unlock()
	if done {
		return c.Close()
	}
	return nil
}

// logout sends a Logout with reason and closes the connection once it is
// written. Safe from any goroutine; only the first call has an effect. The
// Logout always goes through the loop (the close must follow the write, and
// only the loop can order them); loopOwed counts it like any other
// AsyncWrite, so nothing overtakes it, and ended drops what comes after.
func (s *session) logout(_ *Gateway, reason uint16) {
	if !s.closing.CompareAndSwap(false, true) {
		return
	}
	s.outcome.set(reason)
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.ended || s.closed {
		return
	}
	s.ended = true
	s.lastSent.Store(time.Now().UnixNano())
	s.closeBy = time.Now().Add(lingerTimeout).UnixNano()
	s.toLoopLocked(appendLogout(nil, reason), s.lastWrittenFn)
}

// poke is called by OnTick for every session: a stuck one gets an empty
// AsyncWrite whose callback looks again whether gnet's outbound buffer has
// drained, and so does a draining one, whose callback then closes it.
// (gnet v2.9.7 writes an empty buffer as a no-op, or appends nothing to the
// outbound buffer; on a closed connection it only runs the callback with
// an error.)
func (s *session) poke() {
	s.wmu.Lock()
	switch {
	case s.closed || s.loopOwed > 0:
	case s.draining:
		s.toLoopLocked(nil, s.lastWrittenFn)
	case s.stuck && !s.ended:
		s.toLoopLocked(nil, s.loopDoneFn)
	}
	s.wmu.Unlock()
}

// closeWriter runs in OnClose: it closes our dup of the fd and drops every
// later write (see the note at the top of this file).
func (s *session) closeWriter() {
	s.wmu.Lock()
	s.closed = true
	if s.wfd >= 0 {
		_ = unix.Close(s.wfd)
		s.wfd = -1
	}
	s.wmu.Unlock()
}

// writerState reports, for tests, whether the session is in direct mode,
// how many writes fell back to the loop and how many times it came back.
func (s *session) writerState() (direct bool, fallbacks, resumes int) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.directLocked(), s.fallbacks, s.resumes
}
