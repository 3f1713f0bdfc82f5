package netio

import (
	"bytes"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/ringex/ringex/netio/wire"
)

// fakeConn is the part of a gnet.Conn that Traffic uses: an inbound buffer
// with gnet's Discard semantics (n <= 0 or n >= the buffered length drops
// everything).
type fakeConn struct {
	gnet.Conn
	fd    int // the socket an Outbox opened on it writes to (tests that call Open set it)
	in    []byte
	ctx   any // a TLS connection's *TLSConn
	wakes int
}

func (f *fakeConn) Fd() int                       { return f.fd }
func (f *fakeConn) Context() any                  { return f.ctx }
func (f *fakeConn) Wake(gnet.AsyncCallback) error { f.wakes++; return nil }

func (f *fakeConn) Peek(int) ([]byte, error) { return f.in, nil }

func (f *fakeConn) Discard(n int) (int, error) {
	if n <= 0 || n >= len(f.in) {
		k := len(f.in)
		f.in = f.in[:0]
		return k, nil
	}
	f.in = f.in[n:]
	return n, nil
}

// TestTrafficKeepsPartialFrame: a read that holds only the start of a frame
// must leave it in the inbound buffer for the rest to join. The market-data
// server's OnTraffic called Discard(0) when it had consumed nothing, which
// in gnet drops the whole buffer, so a request split across two reads was
// lost and the stream desynchronised.
func TestTrafficKeepsPartialFrame(t *testing.T) {
	var s Server
	s.Init("test", slog.New(slog.DiscardHandler), NewConnMetrics("test", "test connections", "connections"))
	var c Conn
	c.Out.Init(-1, 1<<20, nil, wire.LogoutSlowConsumer, &OutboxHooks{Close: func() {}, Cut: func(int, bool) {}})
	var got [][]byte
	handle := func(frame []byte) gnet.Action {
		got = append(got, bytes.Clone(frame))
		return gnet.None
	}

	frame := wire.AppendLogout(nil, wire.LogoutUserRequest)
	gc := &fakeConn{in: bytes.Clone(frame[:3])}
	if a := s.Traffic(gc, &c, handle); a != gnet.None {
		t.Fatalf("partial frame: action %v", a)
	}
	if len(got) != 0 || !bytes.Equal(gc.in, frame[:3]) {
		t.Fatalf("partial frame: handled %d frames, buffer left %x; want none handled and %x kept", len(got), gc.in, frame[:3])
	}
	gc.in = append(gc.in, frame[3:]...)
	s.Traffic(gc, &c, handle)
	if len(got) != 1 || !bytes.Equal(got[0], frame) || len(gc.in) != 0 {
		t.Fatalf("after the rest: handled %x, buffer left %x; want one frame %x and an empty buffer", got, gc.in, frame)
	}
}

func (f *fakeConn) RemoteAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }

// TestOpenStartsHeartbeatClock: a connection that has just opened is owed
// no heartbeat at the next tick. The market-data server did not start the
// clock, so every new connection was sent a heartbeat at the first tick as
// if the server had been quiet since 1970.
func TestOpenStartsHeartbeatClock(t *testing.T) {
	var s Server
	s.Init("test", slog.New(slog.DiscardHandler), NewConnMetrics("test", "test connections", "connections"))
	p := newOutboxPair(t, 1<<20, nil)
	var c Conn
	p.o = &c.Out // the cleanup releases c's outbox
	c.Open(&fakeConn{fd: p.fd}, 1<<20, nil, wire.LogoutSlowConsumer, &OutboxHooks{Close: func() {}, Cut: func(int, bool) {}})
	if c.Remote != "127.0.0.1:1" {
		t.Fatalf("Remote = %q", c.Remote)
	}
	s.Tick(&c, time.Now().UnixNano(), 0, 5*time.Second)
	if _, queued, _, _, _ := c.Out.Stats(); queued != 0 {
		t.Fatalf("queued %d bytes", queued)
	}
	c.Write(wire.AppendLogout(nil, wire.LogoutUserRequest)) // a marker: whatever was written before comes first
	got := p.readAll(5)
	if wire.Type(got) != wire.TypeLogout {
		t.Fatalf("first frame after open: %x; want the marker Logout, no heartbeat", got)
	}
}
