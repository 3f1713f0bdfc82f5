package orderentry

import (
	"sync"
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

// socketSession returns a session whose outbox (capped at max bytes) writes
// to one end of a socket pair, and the other end, to read what it sent.
// Both are released when the test ends: the outbox first, then its end of
// the pair, as gnet closes a connection's descriptor after OnClose.
func socketSession(t *testing.T, max int) (*session, int) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	s := &session{}
	s.Out.Init(fds[0], max, nil, wire.LogoutUnreadReplies, &netio.OutboxHooks{Close: func() {}, Cut: func(int, bool) {}})
	t.Cleanup(func() {
		s.Out.Release()
		unix.Close(fds[0])
		unix.Close(fds[1])
	})
	return s, fds[1]
}

// TestSessionDirectAckWrite: while the outbox is idle an ack batch is
// written by the ack goroutine itself, whole, and the pending buffer is
// reused: nothing is allocated and nothing is queued (the session here has
// no gnet connection).
func TestSessionDirectAckWrite(t *testing.T) {
	s, peer := socketSession(t, 1<<20)
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
		n, err := unix.Read(peer, rbuf)
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

	// Closed: writes are dropped, never written to the descriptor (which
	// its owner closes after the release, and the number is reused).
	s.Out.Release()
	s.mu.Lock()
	s.pending = appendAck(s.pending, &cmd)
	s.mu.Unlock()
	s.flushPending()
	s.Write(wire.AppendHeartbeat(nil))
	if n, err := unix.Read(peer, rbuf); err != unix.EAGAIN {
		t.Fatalf("read %d bytes (%v) after the release, want nothing", n, err)
	}
}

// TestSessionFlushOrder: with several asset groups (pipeline.Config.
// AssetGroups), ack goroutines gather into one session's pending buffer,
// and the one that queued the session flushes what the others gathered.
// An ack goroutine that gathers behind another's flush and flushes itself
// must not overtake the bytes that flush took: the acks of one asset
// arrive in sequence order (docs/protocol.md, section 4). Two goroutines
// here gather acks of one asset in sequence order and each flushes after
// every ack it gathers; the reader must see every sequence, in order. (A
// flush that swapped the buffer under the mutex and wrote it after
// unlocking delivered them out of order.)
func TestSessionFlushOrder(t *testing.T) {
	s, peer := socketSession(t, 1<<24)
	const perGroup = 3000
	var (
		seqMu sync.Mutex // the asset's sequence order, as the ring gives it
		next  uint64
	)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range perGroup {
				seqMu.Lock()
				next++
				cmd := engine.Command{ClientOrderID: next, OrderID: next, Seq: next}
				s.mu.Lock() // HandleAcks
				s.pending = appendAck(s.pending, &cmd)
				s.queued = true
				s.mu.Unlock()
				seqMu.Unlock()
				s.flushPending() // FlushAcks
			}
		}()
	}
	ackLen := len(appendAck(nil, &engine.Command{}))
	rbuf := make([]byte, 1<<16)
	var got []uint64
	var partial []byte
	deadline := time.Now().Add(20 * time.Second)
	for len(got) < 2*perGroup && time.Now().Before(deadline) {
		n, err := unix.Read(peer, rbuf)
		if err == unix.EAGAIN {
			time.Sleep(100 * time.Microsecond)
			continue
		}
		if err != nil {
			t.Fatalf("read: %v (after %d acks)", err, len(got))
		}
		partial = append(partial, rbuf[:n]...)
		for len(partial) >= ackLen {
			var a wire.OrderAck
			if err := wire.DecodeOrderAck(partial[:ackLen], &a); err != nil {
				t.Fatal(err)
			}
			got = append(got, a.Seq)
			partial = partial[ackLen:]
		}
	}
	wg.Wait()
	if len(got) != 2*perGroup {
		t.Fatalf("read %d acks, want %d", len(got), 2*perGroup)
	}
	for i, seq := range got {
		if seq != uint64(i+1) {
			t.Fatalf("acks of one asset arrived out of order: ack %d has seq %d, want %d", i, seq, i+1)
		}
	}
}
