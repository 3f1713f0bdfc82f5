package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ringex/ringex/netio/wire"
)

func ctx5(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// recorder is a Handler that keeps every answer in arrival order.
type recorder struct {
	mu      sync.Mutex
	answers []string // "ack <cid> <seq>" or "reject <cid> <code>"
	n       atomic.Int64
	logout  chan error
}

func newRecorder() *recorder { return &recorder{logout: make(chan error, 1)} }

func (r *recorder) OnAck(a *wire.OrderAck) {
	r.mu.Lock()
	r.answers = append(r.answers, fmt.Sprintf("ack %d %d", a.ClientOrderID, a.Seq))
	r.mu.Unlock()
	r.n.Add(1)
}

func (r *recorder) OnReject(j *wire.Reject) {
	r.mu.Lock()
	r.answers = append(r.answers, fmt.Sprintf("reject %d %d %s", j.ClientOrderID, j.Reason, j.TextString()))
	r.mu.Unlock()
	r.n.Add(1)
}

func (r *recorder) OnLogout(err error) { r.logout <- err }

func (r *recorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.answers...)
}

func TestDialLogin(t *testing.T) {
	srv := newFakeServer(t)
	s, err := Dial(ctx5(t), srv.addr, "alice", "key", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.UserID != 7 || s.ServerTime != 42 {
		t.Fatalf("user id %d, server time %d", s.UserID, s.ServerTime)
	}
	if s.Err() != nil {
		t.Fatalf("Err on a live session: %v", s.Err())
	}

	_, err = Dial(ctx5(t), srv.addr, "bad", "key", nil)
	if le, ok := errorsAs[*LoginError](err); !ok || le.Code != wire.LoginBadCredentials {
		t.Fatalf("bad login: %v, want LoginError %d", err, wire.LoginBadCredentials)
	}
}

func TestDialLoginTimeout(t *testing.T) {
	srv := newFakeServer(t, func(s *fakeServer) { s.mute = true })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Dial(ctx, srv.addr, "alice", "key", nil)
	if err == nil || time.Since(start) > 3*time.Second {
		t.Fatalf("login to a mute server: %v after %v", err, time.Since(start))
	}

	// Canceled, not timed out.
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	if _, err := Dial(ctx, srv.addr, "alice", "key", nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled login: %v, want context.Canceled", err)
	}
}

// TestPipelined sends many requests without waiting and checks that
// every answer arrives, once, in the order of the requests.
func TestPipelined(t *testing.T) {
	srv := newFakeServer(t)
	rec := newRecorder()
	s, err := Dial(ctx5(t), srv.addr, "alice", "key", rec, Options{WriteBuffer: 4 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n = 3000
	var want []string
	seq := 0
	sym := wire.MakeSymbol("BTC-USD")
	for i := range n {
		id := uint64(i)
		var err error
		switch i % 5 {
		case 3:
			err = s.Cancel(&wire.Cancel{ClientOrderID: id, Symbol: sym, OrderID: 5})
		case 4:
			err = s.Replace(&wire.Replace{ClientOrderID: id, Symbol: sym, OrderID: 5, Price: 1, Qty: 1})
		default:
			err = s.NewOrder(&wire.NewOrder{ClientOrderID: id, Symbol: sym, Side: 1, Type: 1, TIF: 1, Price: 1, Qty: 1})
		}
		if err != nil {
			t.Fatal(err)
		}
		if i%5 < 3 && id%2 == 1 {
			want = append(want, fmt.Sprintf("reject %d %d %s", id, wire.ReasonOffTick, wire.ReasonText(wire.ReasonOffTick)))
		} else {
			seq++
			want = append(want, fmt.Sprintf("ack %d %d", id, seq))
		}
		if i%100 == 99 {
			if err := s.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every answer", func() bool { return rec.n.Load() == n })
	got := rec.got()
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("answer %d: %q, want %q", i, got[i], want[i])
		}
	}
}

// TestSync checks the synchronous calls, from many goroutines at once,
// alongside a pipelined stream on the same session.
func TestSync(t *testing.T) {
	srv := newFakeServer(t)
	rec := newRecorder()
	s, err := Dial(ctx5(t), srv.addr, "alice", "key", rec)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := ctx5(t)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				id := uint64(1_000_000*(g+1) + i)
				ack, err := s.PlaceSync(ctx, &wire.NewOrder{ClientOrderID: id, Qty: 1})
				rej, isRej := errorsAs[*RejectError](err)
				switch {
				case id%2 == 0 && (err != nil || ack.ClientOrderID != id || ack.OrderID <= 1000):
					errs <- fmt.Errorf("PlaceSync %d: %+v %v", id, ack, err)
				case id%2 == 1 && (!isRej || rej.Code != wire.ReasonOffTick || rej.ClientOrderID != id ||
					rej.Text != wire.ReasonText(wire.ReasonOffTick) || rej.Retryable()):
					errs <- fmt.Errorf("PlaceSync %d: %v, want a reject off tick", id, err)
				}
			}
		}()
	}
	for i := range 200 {
		s.NewOrder(&wire.NewOrder{ClientOrderID: uint64(i), Qty: 1})
		s.Flush()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	waitFor(t, "the pipelined answers", func() bool { return rec.n.Load() == 200 })

	ack, err := s.CancelSync(ctx, &wire.Cancel{ClientOrderID: 2, OrderID: 77})
	if err != nil || ack.OrderID != 77 {
		t.Fatalf("CancelSync: %+v %v", ack, err)
	}
	ack, err = s.ReplaceSync(ctx, &wire.Replace{ClientOrderID: 3, OrderID: 78, Qty: 1})
	if err != nil || ack.OrderID != 78 {
		t.Fatalf("ReplaceSync: %+v %v", ack, err)
	}
	_, err = s.PlaceSync(ctx, &wire.NewOrder{ClientOrderID: 4, Qty: -3})
	if rej, ok := errorsAs[*RejectError](err); !ok || rej.Code != wire.ReasonBusy || !rej.Retryable() {
		t.Fatalf("busy: %v", err)
	}
	if got := rec.n.Load(); got != 200 {
		t.Fatalf("the handler saw %d answers, want only the 200 pipelined ones", got)
	}
}

func TestSyncContext(t *testing.T) {
	srv := newFakeServer(t)
	s, err := Dial(ctx5(t), srv.addr, "alice", "key", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := s.PlaceSync(ctx, &wire.NewOrder{ClientOrderID: 2, Qty: -2}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("unanswered order: %v, want the context's deadline", err)
	}
	// The session goes on, and the id is free again.
	if ack, err := s.PlaceSync(ctx5(t), &wire.NewOrder{ClientOrderID: 2, Qty: 1}); err != nil || ack.ClientOrderID != 2 {
		t.Fatalf("after a timeout: %+v %v", ack, err)
	}
}

func TestServerLogout(t *testing.T) {
	srv := newFakeServer(t)
	rec := newRecorder()
	s, err := Dial(ctx5(t), srv.addr, "alice", "key", rec)
	if err != nil {
		t.Fatal(err)
	}
	// A synchronous call waiting when the server logs out gets the reason.
	done := make(chan error, 1)
	go func() {
		_, err := s.PlaceSync(ctx5(t), &wire.NewOrder{ClientOrderID: 2, Qty: -2})
		done <- err
	}()
	waitFor(t, "the unanswered order", func() bool { return srv.requests.Load() == 1 })
	s.NewOrder(&wire.NewOrder{ClientOrderID: 4, Qty: -1})
	s.Flush()
	select {
	case <-s.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the session did not end")
	}
	if le, ok := errorsAs[*LogoutError](s.Err()); !ok || le.Code != wire.LogoutShutdown {
		t.Fatalf("Err: %v, want a logout for shutdown", s.Err())
	}
	if le, ok := errorsAs[*LogoutError](<-done); !ok || le.Code != wire.LogoutShutdown {
		t.Fatal("the waiting call did not get the logout")
	}
	if err := <-rec.logout; err != s.Err() {
		t.Fatalf("OnLogout(%v), want %v", err, s.Err())
	}
	if err := s.NewOrder(&wire.NewOrder{}); err != s.Err() {
		t.Fatalf("NewOrder after the end: %v", err)
	}
	if _, err := s.PlaceSync(ctx5(t), &wire.NewOrder{ClientOrderID: 6}); err != s.Err() {
		t.Fatalf("PlaceSync after the end: %v", err)
	}
}

func TestLogoutAndClose(t *testing.T) {
	srv := newFakeServer(t)
	rec := newRecorder()
	s, err := Dial(ctx5(t), srv.addr, "alice", "key", rec)
	if err != nil {
		t.Fatal(err)
	}
	// Buffered requests go out before the Logout, and their answers come
	// in before Logout returns.
	for i := range 10 {
		s.NewOrder(&wire.NewOrder{ClientOrderID: uint64(2 * i), Qty: 1})
	}
	if err := s.Logout(ctx5(t)); err != nil {
		t.Fatalf("Logout: %v", err)
	}
	if got := rec.n.Load(); got != 10 {
		t.Fatalf("%d answers before the logout completed, want 10", got)
	}
	if !errors.Is(s.Err(), ErrClosed) || !errors.Is(<-rec.logout, ErrClosed) || srv.logouts.Load() != 1 {
		t.Fatalf("Err %v, server logouts %d", s.Err(), srv.logouts.Load())
	}
	if err := s.Logout(ctx5(t)); err != nil {
		t.Fatalf("second Logout: %v", err)
	}

	s, err = Dial(ctx5(t), srv.addr, "alice", "key", nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s.Close()
	if !errors.Is(s.Err(), ErrClosed) {
		t.Fatalf("Err after Close: %v", s.Err())
	}
	waitFor(t, "the server to see the logout", func() bool { return srv.logouts.Load() == 2 })
}

func TestHeartbeats(t *testing.T) {
	// The idle timeout is 60 server heartbeats long: the idle check ticks
	// on the clock, so a test process frozen for longer than the timeout
	// (a descheduled CI machine under -race) would see silence that the
	// server did not make.
	const idle = 600 * time.Millisecond
	srv := newFakeServer(t, func(s *fakeServer) { s.heartbeatEvery = 10 * time.Millisecond })
	s, err := Dial(ctx5(t), srv.addr, "alice", "key", nil, Options{Heartbeat: 10 * time.Millisecond, IdleTimeout: idle})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	waitFor(t, "client heartbeats", func() bool { return srv.heartbeats.Load() >= 5 })
	// The server's heartbeats keep the session alive well past the idle
	// timeout, and do not disturb requests.
	select {
	case <-s.Done():
		t.Fatalf("session ended: %v", s.Err())
	case <-time.After(3 * idle):
	}
	if _, err := s.PlaceSync(ctx5(t), &wire.NewOrder{ClientOrderID: 2, Qty: 1}); err != nil {
		t.Fatal(err)
	}
}

func TestIdleTimeout(t *testing.T) {
	srv := newFakeServer(t, func(s *fakeServer) { s.silentAfterLogin = true })
	rec := newRecorder()
	start := time.Now()
	s, err := Dial(ctx5(t), srv.addr, "alice", "key", rec, Options{Heartbeat: 10 * time.Millisecond, IdleTimeout: 80 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("a silent server did not end the session")
	}
	if !errors.Is(s.Err(), ErrIdleTimeout) || !errors.Is(<-rec.logout, ErrIdleTimeout) {
		t.Fatalf("Err: %v, want ErrIdleTimeout", s.Err())
	}
	if d := time.Since(start); d < 80*time.Millisecond {
		t.Fatalf("ended after %v, before the idle timeout", d)
	}
}
