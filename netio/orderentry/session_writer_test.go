package orderentry

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ringex/ringex/engine"
	"github.com/ringex/ringex/netio"
	"github.com/ringex/ringex/netio/wire"
)

// writerState reports whether the session's next write goes straight to
// the socket, how many writes found it full and how many times a flusher
// emptied the queue.
func writerState(s *session) (direct bool, stalls, resumes int) {
	_, _, idle, stalls, resumes := s.Out.Stats()
	return idle, stalls, resumes
}

// TestSessionDirectAckWrite: while the outbox is idle an ack batch is
// written by the ack goroutine itself, whole, and the pending buffer is
// reused: nothing is allocated and nothing is queued (the session here has
// no gnet connection).
func TestSessionDirectAckWrite(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[1])
	s := &session{}
	s.Out.Init(fds[0], 1<<20, nil, wire.LogoutUnreadReplies, &netio.OutboxHooks{Close: func() {}, Cut: func(int, bool) {}})
	defer s.Out.Release()
	cmd := engine.Command{ClientOrderID: 7, OrderID: 9, Seq: 11, Time: 13}
	rbuf := make([]byte, 4096)
	ackLen := len(appendAck(nil, &cmd))
	flush := func() {
		s.mu.Lock()
		s.pending = appendAck(s.pending, &cmd)
		s.pending = appendAck(s.pending, &cmd)
		s.queued = true
		s.mu.Unlock()
		s.flushPending()
		n, err := unix.Read(fds[1], rbuf)
		if err != nil || n != 2*ackLen {
			t.Fatalf("read %d bytes (%v), want two acks", n, err)
		}
		var a wire.OrderAck
		if err := wire.DecodeOrderAck(rbuf[:n/2], &a); err != nil || a.ClientOrderID != 7 || a.Seq != 11 {
			t.Fatalf("ack %+v (%v)", a, err)
		}
	}
	flush() // the first grows the pending buffers
	flush()
	if !raceEnabled {
		if allocs := testing.AllocsPerRun(1000, flush); allocs != 0 {
			t.Fatalf("%.1f allocations per direct ack write, want 0", allocs)
		}
	}
	if direct, fb, _ := writerState(s); !direct || fb != 0 {
		t.Fatalf("direct=%v stalls=%d", direct, fb)
	}

	// Closed: writes are dropped, never written to the old number.
	s.Out.Release()
	s.mu.Lock()
	s.pending = appendAck(s.pending, &cmd)
	s.mu.Unlock()
	s.flushPending()
	s.Write(wire.AppendHeartbeat(nil))
	if n, err := unix.Read(fds[1], rbuf); n != 0 || err != nil {
		t.Fatalf("read %d bytes (%v) after close, want EOF", n, err)
	}
}
