// Package client is a Go client for ringex: Session speaks the order-entry
// protocol and Feed the market-data protocol (docs/protocol.md). The CLI
// (cmd/ringex) and the load generator (cmd/ringex-load) are built on it.
//
// A Session pipelines: NewOrder, Cancel and Replace only buffer the
// request, Flush sends what is buffered, and a reader goroutine hands every
// answer to the Handler. The *Sync variants wait for the answer of one
// request instead, for interactive use.
package client

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/ringex/ringex/netio/wire"
)

// Handler receives a Session's answers, on the session's reader goroutine.
type Handler interface {
	OnAck(ack *wire.OrderAck)
	OnReject(rej *wire.Reject)
}

// RejectError is a request refused by the exchange.
type RejectError struct {
	Code uint16
	Text string
}

func (e *RejectError) Error() string { return fmt.Sprintf("rejected: %s (code %d)", e.Text, e.Code) }

// LoginError is a refused login.
type LoginError struct{ Code uint16 }

func (e *LoginError) Error() string {
	return fmt.Sprintf("login rejected: %s (code %d)", wire.LoginText(e.Code), e.Code)
}

// LogoutError ends a session the server logged out.
type LogoutError struct{ Code uint16 }

func (e *LogoutError) Error() string {
	return fmt.Sprintf("logged out by server: %s (code %d)", wire.LogoutText(e.Code), e.Code)
}

// ErrClosed is returned by calls on a closed session.
var ErrClosed = errors.New("client: session closed")

// Options tune a connection.
type Options struct {
	// Heartbeat is how often the client sends a heartbeat (default 5s; the
	// server logs out a session silent for its idle timeout).
	Heartbeat time.Duration
	// WriteBuffer is the size of the send buffer (default 64 KiB).
	WriteBuffer int
}

func (o *Options) defaults() {
	if o.Heartbeat == 0 {
		o.Heartbeat = 5 * time.Second
	}
	if o.WriteBuffer == 0 {
		o.WriteBuffer = 64 << 10
	}
}

// conn is what Session and Feed share: a framed connection with a
// heartbeat and a login.
type conn struct {
	c       net.Conn
	r       *bufio.Reader
	wmu     sync.Mutex
	w       *bufio.Writer
	closed  chan struct{}
	once    sync.Once
	scratch []byte // guarded by wmu
	errMu   sync.Mutex
	err     error
	UserID  uint32
}

func dialConn(ctx context.Context, addr, user, key string, given []Options) (*conn, error) {
	var opts Options
	if len(given) > 0 {
		opts = given[0]
	}
	opts.defaults()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	c := &conn{c: nc, r: bufio.NewReaderSize(nc, 64<<10), w: bufio.NewWriterSize(nc, opts.WriteBuffer), closed: make(chan struct{})}
	if user != "" {
		if err := c.login(ctx, user, key); err != nil {
			nc.Close()
			return nil, err
		}
	}
	go c.heartbeat(opts.Heartbeat)
	return c, nil
}

func (c *conn) login(ctx context.Context, user, key string) error {
	if dl, ok := ctx.Deadline(); ok {
		c.c.SetDeadline(dl)
		defer c.c.SetDeadline(time.Time{})
	}
	var m wire.Login
	m.Version = wire.Version
	m.SetUser(user)
	m.SetKey(key)
	if _, err := c.c.Write(wire.AppendLogin(nil, &m)); err != nil {
		return err
	}
	for {
		f, err := c.readFrame()
		if err != nil {
			return fmt.Errorf("client: login: %w", err)
		}
		switch wire.Type(f) {
		case wire.TypeLoginAccepted:
			var la wire.LoginAccepted
			if err := wire.DecodeLoginAccepted(f, &la); err != nil {
				return err
			}
			c.UserID = la.UserID
			return nil
		case wire.TypeLoginRejected:
			code, _ := wire.DecodeLoginRejected(f)
			return &LoginError{Code: code}
		case wire.TypeLogout:
			code, _ := wire.DecodeLogout(f)
			return &LogoutError{Code: code}
		}
	}
}

// readFrame reads one frame; the slice is valid until the next call.
func (c *conn) readFrame() ([]byte, error) {
	hdr, err := c.r.Peek(2)
	if err != nil {
		return nil, err
	}
	n := 2 + (int(hdr[0])<<8 | int(hdr[1]))
	if n < wire.HeaderLen {
		return nil, fmt.Errorf("client: bad frame length %d from server", n)
	}
	f, err := c.r.Peek(n)
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			buf := make([]byte, n)
			_, err = io.ReadFull(c.r, buf)
			return buf, err
		}
		return nil, err
	}
	c.r.Discard(n)
	return f, nil
}

func (c *conn) heartbeat(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.closed:
			return
		case <-t.C:
			c.wmu.Lock()
			c.w.Write(wire.AppendHeartbeat(nil))
			err := c.w.Flush()
			c.wmu.Unlock()
			if err != nil {
				return
			}
		}
	}
}

// write appends a frame to the send buffer.
func (c *conn) write(frame []byte) error {
	select {
	case <-c.closed:
		return c.failure()
	default:
	}
	c.wmu.Lock()
	_, err := c.w.Write(frame)
	c.wmu.Unlock()
	return err
}

// encode appends one frame, built in a reused scratch buffer, to the send
// buffer.
func (c *conn) encode(build func([]byte) []byte) error {
	select {
	case <-c.closed:
		return c.failure()
	default:
	}
	c.wmu.Lock()
	c.scratch = build(c.scratch[:0])
	_, err := c.w.Write(c.scratch)
	c.wmu.Unlock()
	return err
}

// Flush sends everything buffered.
func (c *conn) Flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.w.Flush()
}

func (c *conn) fail(err error) {
	c.errMu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.errMu.Unlock()
	c.once.Do(func() { close(c.closed) })
	c.c.Close()
}

func (c *conn) failure() error {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	if c.err == nil {
		return ErrClosed
	}
	return c.err
}

// Done is closed when the connection ends; Err then says why.
func (c *conn) Done() <-chan struct{} { return c.closed }

// Err is why the connection ended (ErrClosed after Close).
func (c *conn) Err() error { return c.failure() }

// Close logs out and closes the connection.
func (c *conn) Close() error {
	c.wmu.Lock()
	c.w.Write(wire.AppendLogout(nil, 0))
	c.w.Flush()
	c.wmu.Unlock()
	c.fail(ErrClosed)
	return nil
}

// Session is an order-entry session.
type Session struct {
	*conn
	h Handler

	mu      sync.Mutex
	waiters map[uint64]chan answer
}

type answer struct {
	ack wire.OrderAck
	err error
}

// Dial connects to a ringexd order-entry address and logs in. h receives
// the answers of pipelined requests; it may be nil if only the *Sync calls
// are used.
func Dial(ctx context.Context, addr, user, apiKey string, h Handler, opts ...Options) (*Session, error) {
	c, err := dialConn(ctx, addr, user, apiKey, opts)
	if err != nil {
		return nil, err
	}
	s := &Session{conn: c, h: h, waiters: make(map[uint64]chan answer)}
	go s.readLoop()
	return s, nil
}

func (s *Session) readLoop() {
	var ack wire.OrderAck
	var rej wire.Reject
	for {
		f, err := s.readFrame()
		if err != nil {
			s.fail(err)
			s.failWaiters()
			return
		}
		switch wire.Type(f) {
		case wire.TypeOrderAck:
			if wire.DecodeOrderAck(f, &ack) == nil && !s.answer(ack.ClientOrderID, answer{ack: ack}) && s.h != nil {
				s.h.OnAck(&ack)
			}
		case wire.TypeReject:
			if wire.DecodeReject(f, &rej) == nil {
				e := &RejectError{Code: rej.Reason, Text: rej.TextString()}
				if !s.answer(rej.ClientOrderID, answer{err: e}) && s.h != nil {
					s.h.OnReject(&rej)
				}
			}
		case wire.TypeLogout:
			code, _ := wire.DecodeLogout(f)
			s.fail(&LogoutError{Code: code})
			s.failWaiters()
			return
		}
	}
}

func (s *Session) answer(id uint64, a answer) bool {
	s.mu.Lock()
	ch, ok := s.waiters[id]
	if ok {
		delete(s.waiters, id)
	}
	s.mu.Unlock()
	if ok {
		ch <- a
	}
	return ok
}

func (s *Session) failWaiters() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, ch := range s.waiters {
		ch <- answer{err: s.failure()}
		delete(s.waiters, id)
	}
}

// NewOrder buffers a new order; Flush sends it. It does not allocate.
func (s *Session) NewOrder(o *wire.NewOrder) error {
	return s.encode(func(b []byte) []byte { return wire.AppendNewOrder(b, o) })
}

// Cancel buffers a cancel.
func (s *Session) Cancel(c *wire.Cancel) error {
	return s.encode(func(b []byte) []byte { return wire.AppendCancel(b, c) })
}

// Replace buffers a replace.
func (s *Session) Replace(r *wire.Replace) error {
	return s.encode(func(b []byte) []byte { return wire.AppendReplace(b, r) })
}

// do sends one request and waits for its answer.
func (s *Session) do(ctx context.Context, clientID uint64, frame []byte) (wire.OrderAck, error) {
	ch := make(chan answer, 1)
	s.mu.Lock()
	s.waiters[clientID] = ch
	s.mu.Unlock()
	err := s.write(frame)
	if err == nil {
		err = s.Flush()
	}
	if err != nil {
		s.mu.Lock()
		delete(s.waiters, clientID)
		s.mu.Unlock()
		return wire.OrderAck{}, err
	}
	select {
	case a := <-ch:
		return a.ack, a.err
	case <-ctx.Done():
		s.mu.Lock()
		delete(s.waiters, clientID)
		s.mu.Unlock()
		return wire.OrderAck{}, ctx.Err()
	}
}

// PlaceSync sends a new order and waits for its ack (or *RejectError).
func (s *Session) PlaceSync(ctx context.Context, o *wire.NewOrder) (wire.OrderAck, error) {
	return s.do(ctx, o.ClientOrderID, wire.AppendNewOrder(nil, o))
}

// CancelSync sends a cancel and waits for its ack.
func (s *Session) CancelSync(ctx context.Context, c *wire.Cancel) (wire.OrderAck, error) {
	return s.do(ctx, c.ClientOrderID, wire.AppendCancel(nil, c))
}

// ReplaceSync sends a replace and waits for its ack.
func (s *Session) ReplaceSync(ctx context.Context, r *wire.Replace) (wire.OrderAck, error) {
	return s.do(ctx, r.ClientOrderID, wire.AppendReplace(nil, r))
}
