package netio

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/ringex/ringex/netio/internal/nettest"
	"github.com/ringex/ringex/netio/wire"
)

// recServer is a gnet server on Server and Conn, as the two services are:
// every connection is sent 16-byte records, its id then a sequence number,
// the first (sequence 0) at once; a writer goroutine per connection
// (writers: true) streams the rest from outside the event loop.
type recServer struct {
	gnet.BuiltinEventEngine
	srv     Server
	budget  ByteBudget
	writers bool

	mu     sync.Mutex
	nextID uint64
	conns  map[uint64]*recConn
	wg     sync.WaitGroup
}

type recConn struct {
	Conn
	id     uint64
	seq    uint64 // the next record's, the writer's
	closed chan struct{}
}

func (c *recConn) write() bool {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:], c.id)
	binary.BigEndian.PutUint64(b[8:], c.seq)
	c.seq++
	return c.Write(b[:])
}

// startRecServer runs a recServer on 127.0.0.1 with sndbuf (0: the
// system's) and stops it at the end of the test.
func startRecServer(t *testing.T, writers bool, sndbuf int) *recServer {
	t.Helper()
	s := &recServer{writers: writers, conns: make(map[uint64]*recConn)}
	s.budget.Limit = 1 << 30
	s.srv.Init("test", slog.New(slog.DiscardHandler), NewConnMetrics("test", "test connections", "connections"))
	done := make(chan error, 1)
	go func() { done <- s.srv.Serve(s, "127.0.0.1:0", 2, sndbuf) }()
	select {
	case <-s.srv.running: // the event loops exist: their descriptors are open
	case err := <-done:
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.srv.Stop(ctx); err != nil {
			t.Error(err)
		}
		<-done
		s.wg.Wait()
	})
	return s
}

func (s *recServer) OnBoot(eng gnet.Engine) gnet.Action {
	s.srv.Boot(eng)
	return gnet.None
}

func (s *recServer) OnOpen(gc gnet.Conn) ([]byte, gnet.Action) {
	if refuse := s.srv.Accept(gc, 1<<20); refuse != nil {
		return refuse, gnet.Close
	}
	s.mu.Lock()
	s.nextID++
	c := &recConn{id: s.nextID, closed: make(chan struct{})}
	s.conns[c.id] = c
	s.mu.Unlock()
	c.Open(gc, 1<<20, &s.budget, wire.LogoutSlowConsumer, &OutboxHooks{
		Close: func() { _ = gc.Close() },
		Cut:   func(int, bool) {},
	})
	gc.SetContext(c)
	c.write()
	if s.writers {
		s.wg.Go(func() { s.stream(c) })
	}
	return nil, gnet.None
}

// stream writes records to c as its client reads them, and goes on
// writing a while after the connection has closed: those writes race with
// gnet's close of the descriptor and the accept that reuses its number,
// and must all be dropped.
func (s *recServer) stream(c *recConn) {
	for {
		select {
		case <-c.closed:
			for range 200 {
				c.write()
			}
			return
		default:
		}
		for range 32 {
			c.write()
		}
		c.Out.WaitBelow(32 << 10)
	}
}

func (s *recServer) OnTraffic(gc gnet.Conn) gnet.Action {
	_, _ = gc.Discard(-1)
	return gnet.None
}

func (s *recServer) OnClose(gc gnet.Conn, err error) gnet.Action {
	c, ok := gc.Context().(*recConn)
	if !ok {
		return gnet.None
	}
	s.srv.Close(&c.Conn, err)
	close(c.closed)
	s.mu.Lock()
	delete(s.conns, c.id)
	s.mu.Unlock()
	return gnet.None
}

func (s *recServer) OnTick() (time.Duration, gnet.Action) { return time.Second, gnet.None }

func (s *recServer) conn(id uint64) *recConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns[id]
}

// readRec reads one record.
func readRec(r io.Reader) (id, seq uint64, err error) {
	var b [16]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return 0, 0, err
	}
	return binary.BigEndian.Uint64(b[:]), binary.BigEndian.Uint64(b[8:]), nil
}

// TestServerOneDescriptorPerConnection: N connections hold N descriptors
// in the server, not 2N (the outbox's dup of every connection, before); a
// connection whose client stops reading gets a dup for its flusher, gets
// every byte in order once it reads, and gives the dup back; once every
// connection has closed, no descriptor is left.
func TestServerOneDescriptorPerConnection(t *testing.T) {
	s := startRecServer(t, false, 4096)
	addr := s.srv.Addr().String()
	base := openFDs(t)
	const n = 200
	clients := make([]net.Conn, n)
	ids := make([]uint64, n)
	for i := range clients {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		clients[i] = c
		t.Cleanup(func() { c.Close() })
		if ids[i], _, err = readRec(c); err != nil {
			t.Fatal(err)
		}
	}
	// The clients' sockets are in this process too: one each.
	if got := openFDs(t) - base; got > 2*n+8 {
		t.Fatalf("%d connections: %d more descriptors, want about %d (one client's, one server's each)", n, got, 2*n)
	}

	// One client stops reading: the server's writes to it stall, far past
	// what the two sockets' buffers hold.
	slow := clients[0].(*net.TCPConn)
	sc := s.conn(ids[0])
	before := openFDs(t)
	for {
		sc.write()
		if _, q, _, _, _ := sc.Out.Stats(); q > 256<<10 {
			break
		}
		if sc.seq > 1<<20 {
			t.Fatal("the socket never filled")
		}
	}
	if got := openFDs(t); got != before+1 || s.budget.Dups() != 1 {
		t.Fatalf("a stalled connection: %d descriptors (%d dups counted), want %d: its flusher's dup", got, s.budget.Dups(), before+1)
	}
	for want := uint64(1); want < sc.seq; want++ {
		id, seq, err := readRec(slow)
		if err != nil || id != ids[0] || seq != want {
			t.Fatalf("record %d: id %d seq %d err %v; want id %d", want, id, seq, err, ids[0])
		}
	}
	if !nettest.WaitCond(5*time.Second, func() bool { return openFDs(t) == before && s.budget.Dups() == 0 }) {
		t.Fatalf("after the stall: %d descriptors (%d dups counted), want %d", openFDs(t), s.budget.Dups(), before)
	}

	for _, c := range clients {
		c.Close()
	}
	if !nettest.WaitCond(5*time.Second, func() bool { return s.srv.Conns.Load() == 0 && openFDs(t) == base }) {
		t.Fatalf("every connection closed: %d connections, %d descriptors, want 0 and %d", s.srv.Conns.Load(), openFDs(t), base)
	}
}

// TestServerNoWriteToAnotherConnection: writers stream records to their
// connections from outside the event loop, and go on writing after their
// connection closes, while clients close (half of them with a reset) and
// new connections are accepted, which reuse the closed descriptors'
// numbers. Every client must read only its own records, in order. Outbox
// writes go to gnet's own descriptor: a write that reached a closed
// number would land in another connection.
func TestServerNoWriteToAnotherConnection(t *testing.T) {
	s := startRecServer(t, true, 0)
	addr := s.srv.Addr().String()
	base := openFDs(t)
	cycles := nettest.Cycles(t, 4, 2*time.Second, 11, func(_ int, rng *rand.Rand) error {
		return recCycle(addr, rng)
	})
	t.Logf("%d connections", cycles)
	if !nettest.WaitCond(5*time.Second, func() bool { return s.srv.Conns.Load() == 0 && openFDs(t) == base }) {
		t.Fatalf("%d connections, %d descriptors, want 0 and %d", s.srv.Conns.Load(), openFDs(t), base)
	}
}

// recCycle connects, reads a random number of records (each its own, in
// order) and closes, with a reset half of the time.
func recCycle(addr string, rng *rand.Rand) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	id, seq, err := readRec(c)
	if err != nil {
		return err
	}
	if seq != 0 {
		return fmt.Errorf("first record: id %d seq %d; want its own, seq 0", id, seq)
	}
	for want, n := uint64(1), rng.IntN(2000); want <= uint64(n); want++ {
		gid, seq, err := readRec(c)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if gid != id || seq != want {
			return fmt.Errorf("connection %d got id %d seq %d; want its own seq %d", id, gid, seq, want)
		}
	}
	if rng.IntN(2) == 0 {
		c.(*net.TCPConn).SetLinger(0)
	}
	return nil
}
