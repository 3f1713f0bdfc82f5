package tlsfront

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ringex/ringex/netio"
)

// Config configures a Front.
type Config struct {
	Name string      // the listener's name in logs and metrics ("order entry")
	Addr string      // the public address to listen on
	TLS  *tls.Config // Certs.Config()
	// Enroll hands a connection whose handshake succeeded to its server
	// (orderentry.Gateway.Enroll, marketdata.Notifier.Enroll), which
	// owns it from then on, raw socket included.
	Enroll func(raw net.Conn, t *netio.TLSConn) error
	// MaxHandshakes bounds the handshakes in progress (default 1,024);
	// past it a connection is closed at once.
	MaxHandshakes int
	// HandshakeTimeout bounds the TLS handshake (default 10s).
	HandshakeTimeout time.Duration
	// MaxHandshakesPerIP bounds the handshakes in progress from one
	// source IP (default 32), so that one address holding handshakes
	// open cannot take every MaxHandshakes slot.
	MaxHandshakesPerIP int
	// ProxyFrom is the proxies whose connections begin with a PROXY
	// header (netio/proxy.go), read before the handshake: the address it
	// declares counts against MaxHandshakesPerIP and is the enrolled
	// connection's Remote. Empty: none.
	ProxyFrom  netio.ProxyTrust
	Logger     *slog.Logger
	Registerer prometheus.Registerer // nil: no metrics exported
}

func (c *Config) setDefaults() {
	if c.MaxHandshakes == 0 {
		c.MaxHandshakes = 1024
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = 10 * time.Second
	}
	if c.MaxHandshakesPerIP == 0 {
		c.MaxHandshakesPerIP = 32
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Front is one TLS listener: it accepts, shakes hands and enrolls.
type Front struct {
	cfg  Config
	log  *slog.Logger
	ln   net.Listener
	slot chan struct{} // a token per handshake in progress: MaxHandshakes

	handshakes *prometheus.CounterVec
	shaking    prometheus.Gauge

	mu     sync.Mutex
	live   map[net.Conn]struct{} // sockets in their handshake, closed by Close
	byIP   map[string]int        // handshakes in progress by source IP
	closed bool
	done   chan struct{} // closed by Close
	wg     sync.WaitGroup
}

// Listen opens the front's listener.
func Listen(cfg Config) (*Front, error) {
	cfg.setDefaults()
	if cfg.TLS == nil || cfg.Enroll == nil {
		return nil, errors.New("tlsfront: no TLS configuration or no server to enroll connections in")
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
		cfg:  cfg,
		log:  cfg.Logger.With("component", "tls", "listener", cfg.Name),
		ln:   ln,
		slot: make(chan struct{}, cfg.MaxHandshakes),
		live: make(map[net.Conn]struct{}),
		byIP: make(map[string]int),
		done: make(chan struct{}),
		handshakes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ringex_tls_handshakes_total", Help: "TLS handshakes by listener and result.",
			ConstLabels: prometheus.Labels{"listener": cfg.Name},
		}, []string{"result"}),
		shaking: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ringex_tls_handshakes_in_progress", Help: "TLS handshakes in progress.",
			ConstLabels: prometheus.Labels{"listener": cfg.Name},
		}),
	}
	if cfg.Registerer != nil {
		if err := errors.Join(cfg.Registerer.Register(f.handshakes), cfg.Registerer.Register(f.shaking)); err != nil {
			ln.Close()
			return nil, fmt.Errorf("tlsfront: %s: metrics: %w", cfg.Name, err)
		}
	}
	f.log.Info("TLS listening", "addr", ln.Addr())
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
	if f.byIP[ip] >= f.cfg.MaxHandshakesPerIP {
		return false
	}
	f.byIP[ip]++
	return true
}

func (f *Front) endHandshake(ip string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.byIP[ip]--; f.byIP[ip] <= 0 {
		delete(f.byIP, ip)
	}
}

func (f *Front) untrack(c net.Conn) {
	f.mu.Lock()
	delete(f.live, c)
	f.mu.Unlock()
}

// Close stops accepting, closes the connections still in their handshake
// and waits for their goroutines to end. Enrolled connections belong to
// their servers, which close them.
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

// serve is one client connection's handshake, then its hand-over to its
// server.
func (f *Front) serve(raw net.Conn) {
	defer f.wg.Done()
	defer func() { <-f.slot }()
	f.shaking.Inc()
	defer f.shaking.Dec()
	if tc, ok := raw.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	remote := raw.RemoteAddr().String()
	var declared string
	if f.cfg.ProxyFrom.Trusts(raw.RemoteAddr()) {
		raw.SetReadDeadline(time.Now().Add(min(netio.ProxyTimeout, f.cfg.HandshakeTimeout)))
		src, err := netio.ReadProxyHeader(raw)
		raw.SetReadDeadline(time.Time{})
		if err != nil {
			f.untrack(raw)
			raw.Close()
			f.handshakes.WithLabelValues("bad_proxy_header").Inc()
			f.log.Warn("bad or missing PROXY header: closing", "remote", remote, "err", err)
			return
		}
		if src.IsValid() {
			remote, declared = src.String(), src.String()
		}
	}
	ip, _, _ := net.SplitHostPort(remote)
	if !f.startHandshake(ip) {
		f.untrack(raw)
		raw.Close()
		f.handshakes.WithLabelValues("refused").Inc()
		f.log.Debug("TLS handshake refused: too many in progress from the address", "remote", remote)
		return
	}
	t := netio.NewTLS(raw, f.cfg.TLS)
	t.Remote = declared
	ctx, cancel := context.WithTimeout(context.Background(), f.cfg.HandshakeTimeout)
	err := t.Handshake(ctx)
	cancel()
	f.endHandshake(ip)
	f.untrack(raw)
	if err != nil {
		raw.Close()
		f.handshakes.WithLabelValues("failed").Inc()
		f.log.Info("TLS handshake failed", "remote", remote, "err", err)
		return
	}
	f.handshakes.WithLabelValues("ok").Inc()
	t.Detach()
	st := t.ConnectionState()
	f.log.Debug("TLS connection", "remote", remote, "version", tls.VersionName(st.Version),
		"cipher", tls.CipherSuiteName(st.CipherSuite), "client_cert", len(st.PeerCertificates) > 0)
	if err := f.cfg.Enroll(raw, t); err != nil {
		f.log.Warn("TLS connection not taken by its server", "remote", remote, "err", err)
	}
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
