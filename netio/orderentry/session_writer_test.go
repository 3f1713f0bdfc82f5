package orderentry

import (
	"testing"
	"time"

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

// TestSessionFlushOrder: with several asset groups (pipeline.Config.
// AssetGroups), two ack goroutines gather into one session's pending
// buffer, and the one that queued the session flushes the acks of both.
// An ack goroutine that appends behind another's flush and flushes itself
// must not overtake the bytes that flush took: the acks of one asset
// arrive in sequence order (docs/protocol.md, section 4). Here group 0
// takes [ack 1 of group 1's asset] and is held before its write; group 1
// then flushes ack 2 of the same asset.
func TestSessionFlushOrder(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[1])
	s := &session{}
	s.Out.Init(fds[0], 1<<20, nil, wire.LogoutUnreadReplies, &netio.OutboxHooks{Close: func() {}, Cut: func(int, bool) {}})
	defer s.Out.Release()
	gather := func(seq uint64) {
		cmd := engine.Command{ClientOrderID: seq, OrderID: seq, Seq: seq}
		s.mu.Lock()
		s.pending = appendAck(s.pending, &cmd)
		s.queued = true
		s.mu.Unlock()
	}
	held, release := make(chan struct{}), make(chan struct{})
	first := true
	s.flushGap = func() {
		if first { // only group 0's flush, which runs first, is held
			first = false
			close(held)
			<-release
		}
	}
	gather(1) // group 1's HandleAcks, while group 0 has the session queued
	group0 := make(chan struct{})
	go func() { defer close(group0); s.flushPending() }() // group 0's FlushAcks
	<-held
	gather(2) // group 1's next pass
	group1 := make(chan struct{})
	go func() { defer close(group1); s.flushPending() }()
	// Group 1 may write only after group 0: give it the time to overtake
	// (it needs microseconds) before letting group 0 go.
	select {
	case <-group1:
	case <-time.After(time.Second):
	}
	close(release)
	<-group0
	<-group1
	rbuf := make([]byte, 4096)
	var got []uint64
	for len(got) < 2 {
		n, err := unix.Read(fds[1], rbuf)
		if err != nil {
			t.Fatalf("read: %v (after acks %v)", err, got)
		}
		ackLen := len(appendAck(nil, &engine.Command{}))
		for b := rbuf[:n]; len(b) >= ackLen; b = b[ackLen:] {
			var a wire.OrderAck
			if err := wire.DecodeOrderAck(b[:ackLen], &a); err != nil {
				t.Fatal(err)
			}
			got = append(got, a.Seq)
		}
	}
	if got[0] != 1 || got[1] != 2 {
		t.Fatalf("acks of one asset arrived as seq %v, want [1 2]", got)
	}
}
