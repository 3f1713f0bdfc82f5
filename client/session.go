package client

import (
	"context"
	"fmt"
	"sync"

	"github.com/ringex/ringex/netio/wire"
)

// Handler receives the answers to a Session's pipelined requests, on the
// session's reader goroutine, in the order the server sent them. The
// messages are valid only during the call. A Handler may also implement
// LogoutHandler.
type Handler interface {
	// OnAck: the request was received and journaled (not: executed).
	OnAck(ack *wire.OrderAck)
	// OnReject: the request was refused; nothing was journaled.
	OnReject(rej *wire.Reject)
}

// Session is an order-entry session. Its methods may be called from any
// goroutine.
type Session struct {
	*conn
	h Handler

	mu      sync.Mutex
	waiters map[uint64]chan answer // synchronous calls by client order id
	ended   bool                   // the reader has stopped: no answer will come
}

type answer struct {
	ack wire.OrderAck
	err error
}

// Dial connects to a ringexd order-entry address and logs in as user. h
// receives the answers to pipelined requests; it may be nil if only the
// synchronous calls are used. The context bounds the dial and the login.
func Dial(ctx context.Context, addr, user, apiKey string, h Handler, opts ...Options) (*Session, error) {
	c, err := dial(ctx, addr, user, apiKey, firstOptions(opts))
	if err != nil {
		return nil, err
	}
	s := &Session{conn: c, h: h, waiters: make(map[uint64]chan answer)}
	go s.readLoop()
	return s, nil
}

func (s *Session) readLoop() {
	var (
		ack wire.OrderAck
		rej wire.Reject
	)

read:
	for {
		f, err := s.readFrame()
		if err != nil {
			s.readFailed(err)
			break read
		}
		switch wire.Type(f) {
		case wire.TypeOrderAck:
			if wire.DecodeOrderAck(f, &ack) != nil {
				continue
			}
			if !s.answer(ack.ClientOrderID, answer{ack: ack}) && s.h != nil {
				s.h.OnAck(&ack)
			}
		case wire.TypeReject:
			if wire.DecodeReject(f, &rej) != nil {
				continue
			}
			// The RejectError is built only for a waiting call: a
			// pipelined reject allocates nothing.
			waited := s.hasWaiter(rej.ClientOrderID) && s.answer(rej.ClientOrderID, answer{err: &RejectError{
				ClientOrderID: rej.ClientOrderID, Code: rej.Reason, Text: rej.TextString()}})
			if !waited && s.h != nil {
				s.h.OnReject(&rej)
			}
		case wire.TypeLogout:
			s.serverLogout(f)
			break read
		}
		// Heartbeats, and types this client does not know, are skipped.
	}
	s.endWaiters()
	if lh, ok := s.h.(LogoutHandler); ok {
		lh.OnLogout(s.Err())
	}
}

func (s *Session) hasWaiter(id uint64) bool {
	s.mu.Lock()
	_, ok := s.waiters[id]
	s.mu.Unlock()
	return ok
}

// answer hands a to the synchronous call waiting for id, if there is one.
func (s *Session) answer(id uint64, a answer) bool {
	s.mu.Lock()
	ch, ok := s.waiters[id]
	delete(s.waiters, id)
	s.mu.Unlock()
	if ok {
		ch <- a // buffered: never blocks
	}
	return ok
}

// endWaiters fails every waiting synchronous call, and every later one,
// with the connection's error.
func (s *Session) endWaiters() {
	err := s.Err()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ended = true
	for id, ch := range s.waiters {
		ch <- answer{err: err}
		delete(s.waiters, id)
	}
}

// NewOrder buffers a new order; Flush sends it. It does not allocate. The
// answer goes to the Handler.
func (s *Session) NewOrder(o *wire.NewOrder) error {
	b, err := s.buffer()
	if err != nil {
		return err
	}
	return s.commit(wire.AppendNewOrder(b, o))
}

// Cancel buffers a cancel; Flush sends it.
func (s *Session) Cancel(c *wire.Cancel) error {
	b, err := s.buffer()
	if err != nil {
		return err
	}
	return s.commit(wire.AppendCancel(b, c))
}

// Replace buffers a replace; Flush sends it.
func (s *Session) Replace(r *wire.Replace) error {
	b, err := s.buffer()
	if err != nil {
		return err
	}
	return s.commit(wire.AppendReplace(b, r))
}

// PlaceSync sends a new order (with what is buffered) and waits for its
// ack. A refusal is a *RejectError; if the connection ends first, the
// error is the connection's (see Err).
func (s *Session) PlaceSync(ctx context.Context, o *wire.NewOrder) (wire.OrderAck, error) {
	return s.do(ctx, o.ClientOrderID, func(b []byte) []byte { return wire.AppendNewOrder(b, o) })
}

// CancelSync sends a cancel and waits for its ack, as PlaceSync.
func (s *Session) CancelSync(ctx context.Context, c *wire.Cancel) (wire.OrderAck, error) {
	return s.do(ctx, c.ClientOrderID, func(b []byte) []byte { return wire.AppendCancel(b, c) })
}

// ReplaceSync sends a replace and waits for its ack, as PlaceSync.
func (s *Session) ReplaceSync(ctx context.Context, r *wire.Replace) (wire.OrderAck, error) {
	return s.do(ctx, r.ClientOrderID, func(b []byte) []byte { return wire.AppendReplace(b, r) })
}

// do sends one request and waits for the answer with its client order id.
func (s *Session) do(ctx context.Context, id uint64, build func([]byte) []byte) (wire.OrderAck, error) {
	ch := make(chan answer, 1)
	s.mu.Lock()
	switch _, busy := s.waiters[id]; {
	case s.ended:
		s.mu.Unlock()
		return wire.OrderAck{}, s.Err()
	case busy:
		s.mu.Unlock()
		return wire.OrderAck{}, fmt.Errorf("client: a request with client order id %d is already waiting for its answer", id)
	}
	s.waiters[id] = ch
	s.mu.Unlock()

	b, err := s.buffer()
	if err == nil {
		err = s.commit(build(b))
	}
	if err == nil {
		err = s.Flush()
	}
	if err != nil {
		s.answer(id, answer{}) // unregister
		return wire.OrderAck{}, err
	}
	select {
	case a := <-ch:
		return a.ack, a.err
	case <-ctx.Done():
		s.answer(id, answer{})
		return wire.OrderAck{}, ctx.Err()
	}
}
