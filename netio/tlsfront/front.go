package tlsfront

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Config configures a Front.
type Config struct {
	Name    string      // the listener's name in logs and metrics ("order entry")
	Addr    string      // the public address to listen on
	Backend string      // the plain server's address, on loopback
	TLS     *tls.Config // Certs.Config()
	Peers   *Peers      // where client addresses are recorded; nil: not recorded
	// MaxConns bounds the connections, handshakes included (default
	// 10,000); past it a connection is closed at once.
	MaxConns int
	// HandshakeTimeout bounds the TLS handshake (default 10s).
	HandshakeTimeout time.Duration
	// MaxHandshakesPerIP bounds the handshakes in progress from one
	// source IP (default 32), so that one address holding handshakes
	// open cannot take every MaxConns slot.
	MaxHandshakesPerIP int
	// WriteTimeout drops a client that takes no bytes for this long
	// (default 30s).
	WriteTimeout time.Duration
	Logger       *slog.Logger
	Registerer   prometheus.Registerer // nil: no metrics exported
}

func (c *Config) setDefaults() {
	if c.MaxConns == 0 {
		c.MaxConns = 10000
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = 10 * time.Second
	}
	if c.MaxHandshakesPerIP == 0 {
		c.MaxHandshakesPerIP = 32
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Front is one TLS listener relaying to a plain backend.
type Front struct {
	cfg  Config
	log  *slog.Logger
	ln   net.Listener
	slot chan struct{} // a token per connection: MaxConns

	handshakes *prometheus.CounterVec
	conns      prometheus.Gauge

	mu      sync.Mutex
	live    map[net.Conn]struct{} // client sockets, closed by Close
	shaking map[string]int        // handshakes in progress by source IP
	closed  bool
	done    chan struct{} // closed by Close
	wg      sync.WaitGroup
}

// Listen opens the front's listener.
func Listen(cfg Config) (*Front, error) {
	cfg.setDefaults()
	if cfg.TLS == nil {
		return nil, errors.New("tlsfront: no TLS configuration")
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("tlsfront: %s: %w", cfg.Name, err)
	}
	return newFront(cfg, ln)
}

// newFront makes the front of an open listener (cfg has its defaults).
func newFront(cfg Config, ln net.Listener) (*Front, error) {
	f := &Front{
		cfg:     cfg,
		log:     cfg.Logger.With("component", "tls", "listener", cfg.Name),
		ln:      ln,
		slot:    make(chan struct{}, cfg.MaxConns),
		live:    make(map[net.Conn]struct{}),
		shaking: make(map[string]int),
		done:    make(chan struct{}),
		handshakes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ringex_tls_handshakes_total", Help: "TLS handshakes by listener and result.",
			ConstLabels: prometheus.Labels{"listener": cfg.Name},
		}, []string{"result"}),
		conns: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ringex_tls_connections", Help: "Open TLS connections (handshakes included).",
			ConstLabels: prometheus.Labels{"listener": cfg.Name},
		}),
	}
	if cfg.Registerer != nil {
		if err := errors.Join(cfg.Registerer.Register(f.handshakes), cfg.Registerer.Register(f.conns)); err != nil {
			ln.Close()
			return nil, fmt.Errorf("tlsfront: %s: metrics: %w", cfg.Name, err)
		}
	}
	f.log.Info("TLS listening", "addr", ln.Addr(), "backend", cfg.Backend)
	return f, nil
}

// Addr is the address the front listens on.
func (f *Front) Addr() net.Addr { return f.ln.Addr() }

// Serve accepts connections until Close. It returns nil after Close. An
// accept that fails for want of resources (file descriptors, memory) is
// retried after a pause that doubles up to a second, as net/http does,
// instead of stopping the listener; any other accept error is returned.
func (f *Front) Serve() error {
	var pause time.Duration
	for {
		raw, err := f.ln.Accept()
		if err != nil {
			f.mu.Lock()
			closed := f.closed
			f.mu.Unlock()
			if closed {
				return nil
			}
			if !retryable(err) {
				return fmt.Errorf("tlsfront: %s: accept: %w", f.cfg.Name, err)
			}
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			f.log.Warn("TLS accept failed: retrying", "err", err, "pause", pause)
			select {
			case <-time.After(pause):
			case <-f.done:
				return nil
			}
			continue
		}
		pause = 0
		select {
		case f.slot <- struct{}{}:
		default:
			f.handshakes.WithLabelValues("refused").Inc()
			raw.Close()
			continue
		}
		if !f.track(raw) {
			<-f.slot
			raw.Close()
			return nil
		}
		f.wg.Add(1)
		go f.serve(raw)
	}
}

// track registers a live client socket; false once the front is closed.
func (f *Front) track(c net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	f.live[c] = struct{}{}
	return true
}

// startHandshake counts a handshake from ip, unless ip has
// MaxHandshakesPerIP in progress already.
func (f *Front) startHandshake(ip string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.shaking[ip] >= f.cfg.MaxHandshakesPerIP {
		return false
	}
	f.shaking[ip]++
	return true
}

func (f *Front) endHandshake(ip string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.shaking[ip]--; f.shaking[ip] <= 0 {
		delete(f.shaking, ip)
	}
}

func (f *Front) untrack(c net.Conn) {
	f.mu.Lock()
	delete(f.live, c)
	f.mu.Unlock()
}

// Close stops accepting, closes every connection and waits for their
// relays to end.
func (f *Front) Close() error {
	f.mu.Lock()
	if !f.closed {
		close(f.done)
	}
	f.closed = true
	for c := range f.live {
		c.Close()
	}
	f.mu.Unlock()
	err := f.ln.Close()
	f.wg.Wait()
	return err
}

// serve is one client connection: the handshake, the backend connection,
// then the two relays.
func (f *Front) serve(raw net.Conn) {
	defer f.wg.Done()
	defer func() { <-f.slot }()
	defer f.untrack(raw)
	defer raw.Close()
	f.conns.Inc()
	defer f.conns.Dec()
	if tc, ok := raw.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	remote := raw.RemoteAddr().String()
	ip, _, _ := net.SplitHostPort(remote)
	if !f.startHandshake(ip) {
		f.handshakes.WithLabelValues("refused").Inc()
		f.log.Debug("TLS handshake refused: too many in progress from the address", "remote", remote)
		return
	}
	tc := tls.Server(raw, f.cfg.TLS)
	ctx, cancel := context.WithTimeout(context.Background(), f.cfg.HandshakeTimeout)
	err := tc.HandshakeContext(ctx)
	cancel()
	f.endHandshake(ip)
	if err != nil {
		f.handshakes.WithLabelValues("failed").Inc()
		f.log.Info("TLS handshake failed", "remote", remote, "err", err)
		return
	}
	f.handshakes.WithLabelValues("ok").Inc()

	d := net.Dialer{Timeout: 5 * time.Second}
	back, err := d.Dial("tcp", f.cfg.Backend)
	if err != nil {
		f.log.Error("TLS front: backend unreachable", "backend", f.cfg.Backend, "err", err)
		return
	}
	defer back.Close()
	if bc, ok := back.(*net.TCPConn); ok {
		bc.SetNoDelay(true)
	}
	if f.cfg.Peers != nil {
		key := back.LocalAddr().String()
		f.cfg.Peers.add(key, remote)
		defer f.cfg.Peers.remove(key)
	}
	st := tc.ConnectionState()
	f.log.Debug("TLS connection", "remote", remote, "version", tls.VersionName(st.Version),
		"cipher", tls.CipherSuiteName(st.CipherSuite), "client_cert", len(st.PeerCertificates) > 0)

	// Client to backend: requests. On the client's EOF the backend is
	// half-closed, so its last answers still come back.
	up := make(chan struct{})
	go func() {
		defer close(up)
		buf := make([]byte, 16<<10) // a whole TLS record: one backend write per record
		if _, err := io.CopyBuffer(onlyWriter{back}, onlyReader{tc}, buf); err == nil {
			if bc, ok := back.(*net.TCPConn); ok {
				bc.CloseWrite()
				return
			}
		}
		back.Close()
	}()
	// Backend to client: whatever one read returns is one TLS write.
	buf := make([]byte, 16<<10)
	for {
		n, err := back.Read(buf)
		if n > 0 {
			tc.SetWriteDeadline(time.Now().Add(f.cfg.WriteTimeout))
			if _, werr := tc.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	// The backend closed (or the client is gone): say close_notify when
	// the client can take it, then close both sides.
	tc.SetWriteDeadline(time.Now().Add(time.Second))
	tc.Close()
	back.Close()
	<-up
}

// retryable reports whether an accept error is a shortage that passes
// (out of file descriptors or memory, a connection aborted before accept).
func retryable(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM) || errors.Is(err, syscall.ECONNABORTED)
}

// onlyReader and onlyWriter hide a tls.Conn's WriteTo and a TCPConn's
// ReadFrom, so that io.CopyBuffer uses our buffer: with either one left
// visible it would hand the copy to it, and TCPConn.ReadFrom, which cannot
// splice from a TLS stream, falls back to io.Copy with a 32 KiB buffer of
// its own per connection.
type (
	onlyReader struct{ io.Reader }
	onlyWriter struct{ io.Writer }
)
