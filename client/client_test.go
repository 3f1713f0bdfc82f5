package client

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/ringex/ringex/netio/wire"
)

// fakeServer accepts one connection on 127.0.0.1, answers a Login with
// LoginAccepted (or LoginRejected for user "bad"), acks every NewOrder with
// an even client id and rejects odd ones with ReasonOffTick.
func fakeServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serveFake(c)
		}
	}()
	return ln.Addr().String()
}

func serveFake(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	var seq uint64
	for {
		hdr := make([]byte, 2)
		if _, err := io.ReadFull(r, hdr); err != nil {
			return
		}
		f := make([]byte, 2+(int(hdr[0])<<8|int(hdr[1])))
		copy(f, hdr)
		if _, err := io.ReadFull(r, f[2:]); err != nil {
			return
		}
		var out []byte
		switch wire.Type(f) {
		case wire.TypeLogin:
			var m wire.Login
			wire.DecodeLogin(f, &m)
			if m.UserName() == "bad" {
				out = wire.AppendLoginRejected(nil, wire.LoginBadCredentials)
			} else {
				out = wire.AppendLoginAccepted(nil, &wire.LoginAccepted{UserID: 7})
			}
		case wire.TypeNewOrder:
			var m wire.NewOrder
			wire.DecodeNewOrder(f, &m)
			if m.ClientOrderID%2 == 1 {
				out = wire.AppendReject(nil, m.ClientOrderID, wire.ReasonOffTick)
			} else {
				seq++
				out = wire.AppendOrderAck(nil, &wire.OrderAck{ClientOrderID: m.ClientOrderID, OrderID: 100 + seq, Seq: seq, RecvTime: 1})
			}
		case wire.TypeLogout:
			c.Write(wire.AppendLogout(nil, wire.LogoutUserRequest))
			return
		}
		c.Write(out)
	}
}

type recorder struct {
	mu      sync.Mutex
	acks    []uint64
	rejects []uint16
	all     chan struct{}
	want    int
}

func (r *recorder) OnAck(a *wire.OrderAck) {
	r.add(func() { r.acks = append(r.acks, a.ClientOrderID) })
}
func (r *recorder) OnReject(j *wire.Reject) {
	r.add(func() { r.rejects = append(r.rejects, j.Reason) })
}
func (r *recorder) add(f func()) {
	r.mu.Lock()
	f()
	if len(r.acks)+len(r.rejects) == r.want {
		close(r.all)
	}
	r.mu.Unlock()
}

func TestSessionPipelined(t *testing.T) {
	addr := fakeServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rec := &recorder{all: make(chan struct{}), want: 100}
	s, err := Dial(ctx, addr, "alice", "key", rec)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.UserID != 7 {
		t.Fatalf("user id %d", s.UserID)
	}
	for i := range 100 {
		if err := s.NewOrder(&wire.NewOrder{ClientOrderID: uint64(i), Side: 1, Type: 1, TIF: 1, Price: 1, Qty: 1}); err != nil {
			t.Fatal(err)
		}
	}
	s.Flush()
	select {
	case <-rec.all:
	case <-ctx.Done():
		t.Fatal("not every request was answered")
	}
	if len(rec.acks) != 50 || len(rec.rejects) != 50 {
		t.Fatalf("%d acks, %d rejects", len(rec.acks), len(rec.rejects))
	}
	for i, id := range rec.acks {
		if id != uint64(2*i) {
			t.Fatalf("ack %d for id %d: out of order", i, id)
		}
	}
}

func TestSessionSync(t *testing.T) {
	addr := fakeServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := Dial(ctx, addr, "alice", "key", nil)
	if err != nil {
		t.Fatal(err)
	}
	ack, err := s.PlaceSync(ctx, &wire.NewOrder{ClientOrderID: 2})
	if err != nil || ack.ClientOrderID != 2 || ack.Seq != 1 {
		t.Fatalf("PlaceSync: %+v %v", ack, err)
	}
	_, err = s.PlaceSync(ctx, &wire.NewOrder{ClientOrderID: 3})
	var rej *RejectError
	if !errors.As(err, &rej) || rej.Code != wire.ReasonOffTick || rej.Text != wire.ReasonText(wire.ReasonOffTick) {
		t.Fatalf("PlaceSync odd id: %v, want RejectError off tick", err)
	}
	s.Close()
	if _, err := s.PlaceSync(ctx, &wire.NewOrder{ClientOrderID: 4}); err == nil {
		t.Fatal("PlaceSync on a closed session succeeded")
	}
	if _, err := Dial(ctx, addr, "bad", "key", nil); !errors.As(err, new(*LoginError)) {
		t.Fatalf("bad login: %v, want LoginError", err)
	}
}
