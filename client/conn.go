package client

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ringex/ringex/netio/wire"
)

// Options tune a connection. The zero value gives the defaults.
type Options struct {
	// Heartbeat is how often the client sends a Heartbeat (default 5s). The
	// server logs out a session it has heard nothing from for its idle
	// timeout (30s by default), so this must be well below that.
	Heartbeat time.Duration
	// IdleTimeout ends the connection with ErrIdleTimeout when the server
	// has sent nothing for this long (default 30s; negative: never). The
	// server sends a heartbeat every 5s when it is quiet.
	IdleTimeout time.Duration
	// WriteBuffer is the size of the send buffer (default 64 KiB): the
	// most a pipelining caller can buffer before a write happens anyway.
	WriteBuffer int
	// TLS, if set, makes the connection TLS (TLSConfig builds one); the
	// server name defaults to the address's host.
	TLS *tls.Config
}

func (o *Options) defaults() {
	if o.Heartbeat <= 0 {
		o.Heartbeat = 5 * time.Second
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = 30 * time.Second
	}
	if o.WriteBuffer < 4<<10 {
		o.WriteBuffer = 64 << 10
	}
}

func firstOptions(opts []Options) Options {
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	o.defaults()
	return o
}

// LogoutHandler may be implemented by a Handler or a FeedHandler to learn
// that its connection ended: OnLogout is called once, on the reader
// goroutine after its last message, with the same error as Err.
type LogoutHandler interface {
	OnLogout(err error)
}

// conn is what Session and Feed share: a framed connection with a login,
// a send buffer, a keep-alive goroutine and the end-of-connection state.
//
// Writers (the caller's goroutines and the keep-alive) serialize on wmu;
// the reader goroutine owns r. The connection ends exactly once, in fail,
// which records the first error, closes done and the socket; every later
// write returns that error.
type conn struct {
	nc net.Conn
	r  *bufio.Reader

	// UserID is the user's numeric id from LoginAccepted (0 without a
	// login).
	UserID uint32
	// ServerTime is the server's clock at login, Unix ns.
	ServerTime int64

	wmu sync.Mutex
	w   *bufio.Writer // guarded by wmu

	frames     atomic.Uint64 // frames read: the keep-alive's sign of life
	loggingOut atomic.Bool   // a Logout was sent: the server's answer is not an error

	done  chan struct{}
	once  sync.Once
	errMu sync.Mutex
	err   error
}

func dial(ctx context.Context, addr, user, key string, o Options) (*conn, error) {
	nc, err := DialConn(ctx, addr, o.TLS)
	if err != nil {
		return nil, err
	}
	c := &conn{
		nc: nc,
		// A reader buffer of the largest frame lets every frame, a full
		// book snapshot included, be read in place.
		r:    bufio.NewReaderSize(nc, wire.MaxFrame+2),
		w:    bufio.NewWriterSize(nc, o.WriteBuffer),
		done: make(chan struct{}),
	}
	if user != "" {
		if err := c.login(ctx, user, key); err != nil {
			nc.Close()
			return nil, fmt.Errorf("client: login to %s as %q: %w", addr, user, err)
		}
	}
	go c.keepAlive(o.Heartbeat, o.IdleTimeout)
	return c, nil
}

// login logs c in (Login) and keeps what the server says of the session.
func (c *conn) login(ctx context.Context, user, key string) error {
	la, err := Login(ctx, c.nc, c.readFrame, user, key)
	if err != nil {
		return err
	}
	c.UserID, c.ServerTime = la.UserID, la.ServerTime
	return nil
}

// Login sends a Login for user on nc and reads frames with next until its
// answer: the LoginAccepted, a *LoginError or a *LogoutError. Heartbeats,
// and anything else before the answer, are skipped. The context bounds it
// (its deadline is nc's until Login returns). For callers that read nc
// their own way, as the load generator does; Dial and DialFeed log in with
// it.
func Login(ctx context.Context, nc net.Conn, next func() ([]byte, error), user, key string) (wire.LoginAccepted, error) {
	var la wire.LoginAccepted
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
		defer nc.SetDeadline(time.Time{})
	}
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	var m wire.Login
	m.Version = wire.Version
	m.SetUser(user)
	m.SetKey(key)
	if _, err := nc.Write(wire.AppendLogin(nil, &m)); err != nil {
		return la, err
	}
	for {
		f, err := next()
		if err != nil {
			if ctx.Err() != nil {
				return la, ctx.Err()
			}
			return la, err
		}
		switch wire.Type(f) {
		case wire.TypeLoginAccepted:
			err := wire.DecodeLoginAccepted(f, &la)
			return la, err
		case wire.TypeLoginRejected:
			code, err := wire.DecodeLoginRejected(f)
			if err != nil {
				return la, err
			}
			return la, &LoginError{Code: code}
		case wire.TypeLogout:
			code, _ := wire.DecodeLogout(f)
			return la, &LogoutError{Code: code}
		}
	}
}

// readFrame reads one frame. The slice aliases the read buffer and is
// valid until the next call.
func (c *conn) readFrame() ([]byte, error) {
	hdr, err := c.r.Peek(2)
	if err != nil {
		return nil, err
	}
	n := 2 + (int(hdr[0])<<8 | int(hdr[1]))
	if n < wire.HeaderLen {
		return nil, fmt.Errorf("client: frame length %d from the server: %w", n-2, wire.ErrFrameTooShort)
	}
	f, err := c.r.Peek(n)
	if err != nil {
		return nil, err
	}
	c.r.Discard(n) // does not read: f stays valid
	c.frames.Add(1)
	return f, nil
}

// keepAlive sends heartbeats and watches for a silent server. It ticks
// often enough to notice silence within a quarter of the idle timeout.
func (c *conn) keepAlive(every, idle time.Duration) {
	tick := every
	if idle > 0 && idle/4 < tick {
		tick = idle / 4
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	hb := wire.AppendHeartbeat(nil)
	lastFrames, heardAt, sentAt := c.frames.Load(), time.Now(), time.Now()
	for {
		select {
		case <-c.done:
			return
		case now := <-t.C:
			if n := c.frames.Load(); n != lastFrames {
				lastFrames, heardAt = n, now
			} else if idle > 0 && now.Sub(heardAt) >= idle {
				c.fail(ErrIdleTimeout)
				return
			}
			if now.Sub(sentAt) < every-tick/2 {
				continue
			}
			sentAt = now
			c.wmu.Lock()
			_, err := c.w.Write(hb)
			if err == nil {
				err = c.w.Flush()
			}
			c.wmu.Unlock()
			if err != nil {
				c.fail(fmt.Errorf("client: heartbeat: %w", err))
				return
			}
		}
	}
}

// buffer locks the send buffer and returns its free space, which holds
// any request frame without growing, for the caller to append one frame to
// and pass to commit.
func (c *conn) buffer() ([]byte, error) {
	select {
	case <-c.done:
		return nil, c.Err()
	default:
	}
	c.wmu.Lock()
	if c.w.Available() < wire.MaxInboundFrame+2 {
		if err := c.w.Flush(); err != nil {
			c.wmu.Unlock()
			c.fail(fmt.Errorf("client: write: %w", err))
			return nil, c.Err()
		}
	}
	return c.w.AvailableBuffer(), nil
}

// commit adds the frame appended to buffer's slice to the send buffer and
// unlocks it. Since the frame is already in the buffer's memory, bufio
// does not copy it.
func (c *conn) commit(frame []byte) error {
	_, err := c.w.Write(frame)
	c.wmu.Unlock()
	if err != nil {
		c.fail(fmt.Errorf("client: write: %w", err))
		return c.Err()
	}
	return nil
}

// Flush writes everything buffered to the connection.
func (c *conn) Flush() error {
	c.wmu.Lock()
	err := c.w.Flush()
	c.wmu.Unlock()
	if err != nil {
		c.fail(fmt.Errorf("client: write: %w", err))
		return c.Err()
	}
	return nil
}

// fail ends the connection with err, once; later calls change nothing.
func (c *conn) fail(err error) {
	c.once.Do(func() {
		c.errMu.Lock()
		c.err = err
		c.errMu.Unlock()
		close(c.done)
		c.nc.Close()
	})
}

// readFailed ends the connection after the reader's error, which after a
// Logout of our own or a close is the expected end of the stream.
func (c *conn) readFailed(err error) {
	if c.loggingOut.Load() {
		err = ErrClosed
	}
	c.fail(err)
}

// serverLogout ends the connection on the server's Logout.
func (c *conn) serverLogout(frame []byte) {
	code, _ := wire.DecodeLogout(frame)
	if c.loggingOut.Load() && code == wire.LogoutUserRequest {
		c.fail(ErrClosed)
		return
	}
	c.fail(&LogoutError{Code: code})
}

// Done is closed when the connection ends; Err then says why.
func (c *conn) Done() <-chan struct{} { return c.done }

// Err says why the connection ended: ErrClosed after Close or Logout, a
// *LogoutError if the server logged out, ErrIdleTimeout, or the network
// error. It is nil while the connection is up.
func (c *conn) Err() error {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	return c.err
}

// sendLogout buffers a Logout and writes everything buffered, waiting at
// most until deadline for a server that does not read.
func (c *conn) sendLogout(deadline time.Time) error {
	c.loggingOut.Store(true)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.nc.SetWriteDeadline(deadline)
	c.w.Write(wire.AppendLogout(nil, wire.LogoutUserRequest))
	return c.w.Flush()
}

// Logout ends the session politely: it sends what is buffered and a
// Logout, then waits (within ctx) for the server to answer and close, so
// that every answer the server sent before is delivered first.
func (c *conn) Logout(ctx context.Context) error {
	select {
	case <-c.done:
		return nil
	default:
	}
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Now().Add(5 * time.Second)
	}
	if err := c.sendLogout(dl); err != nil {
		c.fail(ErrClosed)
		return fmt.Errorf("client: logout: %w", err)
	}
	select {
	case <-c.done:
	case <-ctx.Done():
		c.fail(ErrClosed)
		return ctx.Err()
	}
	if err := c.Err(); !errors.Is(err, ErrClosed) {
		return err
	}
	return nil
}

// Close sends what is buffered and a Logout, and closes the connection
// without waiting for the server's answer. It always returns nil.
func (c *conn) Close() error {
	select {
	case <-c.done:
		return nil
	default:
	}
	c.sendLogout(time.Now().Add(time.Second))
	c.fail(ErrClosed)
	return nil
}
