package tlsfront

import (
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/ringex/ringex/client"
	"github.com/ringex/ringex/netio"
	"github.com/ringex/ringex/netio/internal/nettest"
)

// enrolled is what a front handed to its server.
type enrolled struct {
	remote string
	state  tls.ConnectionState
}

// recorder stands for the server: it records each connection a front
// enrolls and closes it (the record layer after the handshake is tested
// with the servers, in netio and netio/orderentry).
type recorder chan enrolled

func (r recorder) enroll(raw net.Conn, t *netio.TLSConn) error {
	remote := raw.RemoteAddr().String()
	if t.Remote != "" {
		remote = t.Remote // as netio.Conn.Open takes it
	}
	r <- enrolled{remote, t.ConnectionState()}
	return raw.Close()
}

// next waits for the next enrolled connection.
func (r recorder) next(t *testing.T) enrolled {
	t.Helper()
	select {
	case e := <-r:
		return e
	case <-time.After(5 * time.Second):
		t.Fatal("no connection enrolled")
		return enrolled{}
	}
}

// none checks that no connection was enrolled.
func (r recorder) none(t *testing.T) {
	t.Helper()
	select {
	case e := <-r:
		t.Fatalf("connection from %s enrolled", e.remote)
	default:
	}
}

// testCerts writes a fresh CA and server certificate and loads them with
// cc (a non-empty ClientCAFile stands for the test CA).
func testCerts(t *testing.T, cc CertConfig) (TestCerts, *Certs) {
	t.Helper()
	tc, err := WriteTestCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cc.CertFile, cc.KeyFile = tc.Cert, tc.Key
	if cc.ClientCAFile != "" {
		cc.ClientCAFile = tc.CA
	}
	certs, err := LoadCerts(cc)
	if err != nil {
		t.Fatal(err)
	}
	return tc, certs
}

// startFront serves a front on 127.0.0.1 enrolling into a recorder, with
// cfg's limits (HandshakeTimeout 2s if unset), until the test ends; Close
// and Serve must then succeed.
func startFront(t *testing.T, cc CertConfig, cfg Config) (*Front, TestCerts, recorder, *Certs) {
	t.Helper()
	tc, certs := testCerts(t, cc)
	rec := make(recorder, 16)
	cfg.Name, cfg.Addr, cfg.Enroll, cfg.TLS = "test", "127.0.0.1:0", rec.enroll, certs.Config()
	cfg.Logger = slog.New(slog.DiscardHandler)
	if cfg.HandshakeTimeout == 0 {
		cfg.HandshakeTimeout = 2 * time.Second
	}
	f, err := Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- f.Serve() }()
	t.Cleanup(func() {
		if err := f.Close(); err != nil {
			t.Error(err)
		}
		if err := <-served; err != nil {
			t.Error(err)
		}
	})
	return f, tc, rec, certs
}

func dialTLS(t *testing.T, f *Front, cfg *tls.Config) (*tls.Conn, error) {
	t.Helper()
	d := &net.Dialer{Timeout: 2 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", f.Addr().String(), cfg)
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

// TestFrontEnrolls: a handshake that succeeds hands the client's own
// socket (its address is the client's) to the server.
func TestFrontEnrolls(t *testing.T) {
	f, tc, rec, _ := startFront(t, CertConfig{}, Config{})
	cfg, err := client.TLSConfig(tc.CA, "", "")
	if err != nil {
		t.Fatal(err)
	}
	c, err := dialTLS(t, f, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if v := c.ConnectionState().Version; v != tls.VersionTLS13 {
		t.Fatalf("version %s", tls.VersionName(v))
	}
	e := rec.next(t)
	if e.remote != c.LocalAddr().String() || !strings.HasPrefix(e.remote, "127.0.0.1:") {
		t.Fatalf("enrolled %s, want the client's %s", e.remote, c.LocalAddr())
	}
	if !e.state.HandshakeComplete || e.state.Version != tls.VersionTLS13 {
		t.Fatalf("enrolled state %+v", e.state)
	}
}

func TestFrontRefuses(t *testing.T) {
	f, tc, rec, _ := startFront(t, CertConfig{}, Config{})
	// An untrusted server certificate (no CA given, the system roots).
	if _, err := dialTLS(t, f, &tls.Config{}); err == nil {
		t.Fatal("handshake with an unknown CA succeeded")
	}
	// TLS 1.2 against a 1.3-only listener.
	cfg, _ := client.TLSConfig(tc.CA, "", "")
	cfg.MaxVersion = tls.VersionTLS12
	if _, err := dialTLS(t, f, cfg); err == nil {
		t.Fatal("TLS 1.2 handshake accepted by default")
	}
	// Plain bytes: the handshake fails, the server never sees them.
	c, err := net.Dial("tcp", f.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "hello\n")
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	io.ReadAll(c) // until the front closes it
	rec.none(t)
}

func TestFrontTLS12ByFlag(t *testing.T) {
	f, tc, rec, _ := startFront(t, CertConfig{MinVersion: tls.VersionTLS12}, Config{})
	cfg, _ := client.TLSConfig(tc.CA, "", "")
	cfg.MaxVersion = tls.VersionTLS12
	c, err := dialTLS(t, f, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if v := c.ConnectionState().Version; v != tls.VersionTLS12 {
		t.Fatalf("version %s", tls.VersionName(v))
	}
	if e := rec.next(t); e.state.Version != tls.VersionTLS12 {
		t.Fatalf("enrolled with %s", tls.VersionName(e.state.Version))
	}
}

func TestFrontMutualTLS(t *testing.T) {
	f, tc, rec, _ := startFront(t, CertConfig{ClientCAFile: "set"}, Config{})
	cfg, _ := client.TLSConfig(tc.CA, "", "")
	// TLS 1.3: the server's refusal of a missing certificate comes after
	// the client's handshake returns, on the first read.
	if c, err := dialTLS(t, f, cfg); err == nil {
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil || !strings.Contains(err.Error(), "certificate required") {
			t.Fatalf("without a client certificate: %v, want the server's alert", err)
		}
	}
	rec.none(t)
	cfg, err := client.TLSConfig(tc.CA, tc.ClientCert, tc.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dialTLS(t, f, cfg); err != nil {
		t.Fatal(err)
	}
	if e := rec.next(t); len(e.state.PeerCertificates) == 0 {
		t.Fatal("enrolled without the client's certificate")
	}
}

// TestCertsReload: new handshakes get the reloaded certificate; a bad file
// keeps the old one.
func TestCertsReload(t *testing.T) {
	f, tc, _, certs := startFront(t, CertConfig{}, Config{})
	next, err := WriteTestCerts(t.TempDir()) // another CA
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range [][2]string{{next.Cert, tc.Cert}, {next.Key, tc.Key}} {
		b, _ := os.ReadFile(p[0])
		os.WriteFile(p[1], b, 0o600)
	}
	if err := certs.Reload(); err != nil {
		t.Fatal(err)
	}
	oldCA, _ := client.TLSConfig(tc.CA, "", "")
	if _, err := dialTLS(t, f, oldCA); err == nil {
		t.Fatal("old CA still accepted after the reload")
	}
	newCA, _ := client.TLSConfig(next.CA, "", "")
	if _, err := dialTLS(t, f, newCA); err != nil {
		t.Fatalf("new certificate: %v", err)
	}
	os.WriteFile(tc.Cert, []byte("garbage"), 0o600)
	if err := certs.Reload(); err == nil {
		t.Fatal("reload of a bad file succeeded")
	}
	if _, err := dialTLS(t, f, newCA); err != nil {
		t.Fatalf("after a failed reload: %v", err)
	}
}

// TestFrontHandshakeTimeout: a connection that never completes its
// handshake is dropped after HandshakeTimeout, and its slot is freed.
func TestFrontHandshakeTimeout(t *testing.T) {
	f, tc, rec, _ := startFront(t, CertConfig{}, Config{MaxHandshakes: 1, HandshakeTimeout: 200 * time.Millisecond})
	silent, err := net.Dial("tcp", f.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	start := time.Now()
	silent.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(silent); err != nil {
		t.Fatalf("silent connection not closed by the front: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("closed after %v", d)
	}
	// The only slot is free again: a real client gets through (the slot
	// is released just after the close, hence the retries).
	cfg, _ := client.TLSConfig(tc.CA, "", "")
	deadline := time.Now().Add(3 * time.Second)
	for {
		_, err := dialTLS(t, f, cfg)
		if err == nil {
			rec.next(t)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slot not freed: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// failingListener fails its first accepts with EMFILE.
type failingListener struct {
	net.Listener
	fails int
}

func (l *failingListener) Accept() (net.Conn, error) {
	if l.fails > 0 {
		l.fails--
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

// TestFrontAcceptShortage: running out of descriptors pauses the listener,
// it does not stop it.
func TestFrontAcceptShortage(t *testing.T) {
	tc, certs := testCerts(t, CertConfig{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rec := make(recorder, 1)
	cfg := Config{Name: "test", Enroll: rec.enroll, TLS: certs.Config(), Logger: slog.New(slog.DiscardHandler)}
	cfg.setDefaults()
	f, err := newFront(cfg, &failingListener{Listener: ln, fails: 3})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- f.Serve() }()
	ccfg, _ := client.TLSConfig(tc.CA, "", "")
	if _, err := dialTLS(t, f, ccfg); err != nil {
		t.Fatalf("after three failed accepts: %v", err)
	}
	rec.next(t)
	f.Close()
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

// viaProxy trusts the tests' own address as a PROXY protocol proxy: the
// client addresses the tests need (documentation addresses) are declared
// in PROXY headers from 127.0.0.1, never dialed.
var viaProxy = netio.ProxyTrust{netip.MustParsePrefix("127.0.0.1/32")}

// dialAs is a TLS session of a client at src through a proxy on
// 127.0.0.1: the PROXY header (v1 or v2), then the handshake.
func dialAs(t *testing.T, f *Front, cfg *tls.Config, header []byte) (*tls.Conn, error) {
	t.Helper()
	raw := nettest.DialProxied(t, f.Addr().String(), header)
	raw.SetDeadline(time.Now().Add(5 * time.Second))
	cfg = cfg.Clone()
	cfg.ServerName = "127.0.0.1"
	c := tls.Client(raw, cfg)
	err := c.Handshake()
	raw.SetDeadline(time.Time{})
	return c, err
}

// TestFrontProxyHeader: behind a trusted proxy, the address of the PROXY
// header before the handshake is the enrolled connection's; a bad header
// closes the connection before any handshake, counted; an untrusted
// source is plain.
func TestFrontProxyHeader(t *testing.T) {
	f, tc, rec, _ := startFront(t, CertConfig{}, Config{ProxyFrom: viaProxy})
	cfg, _ := client.TLSConfig(tc.CA, "", "")
	for _, h := range []struct {
		hdr  []byte
		want string
	}{
		{nettest.ProxyV1(netip.MustParseAddrPort("192.0.2.7:40007")), "192.0.2.7:40007"},
		{nettest.ProxyV2(netip.MustParseAddrPort("[2001:db8::7]:40008")), "[2001:db8::7]:40008"},
	} {
		if _, err := dialAs(t, f, cfg, h.hdr); err != nil {
			t.Fatal(err)
		}
		if e := rec.next(t); e.remote != h.want {
			t.Fatalf("enrolled %s, want %s", e.remote, h.want)
		}
	}
	if _, err := dialAs(t, f, cfg, []byte("PROXY TCP4 192.0.2.7 nowhere 1 2\r\n")); err == nil {
		t.Fatal("handshake after a bad PROXY header")
	}
	if _, err := dialTLS(t, f, cfg); err == nil { // no header at all
		t.Fatal("handshake without a PROXY header")
	}
	rec.none(t)
	if n := counted(t, f.handshakes.WithLabelValues("bad_proxy_header")); n != 2 {
		t.Fatalf("%v bad headers counted, want 2", n)
	}

	plain, tc2, rec2, _ := startFront(t, CertConfig{}, Config{ProxyFrom: netio.ProxyTrust{netip.MustParsePrefix("192.0.2.0/24")}})
	cfg2, _ := client.TLSConfig(tc2.CA, "", "")
	c, err := dialTLS(t, plain, cfg2)
	if err != nil {
		t.Fatalf("untrusted source, no header: %v", err)
	}
	if e := rec2.next(t); e.remote != c.LocalAddr().String() {
		t.Fatalf("untrusted source enrolled as %s, want its own %s", e.remote, c.LocalAddr())
	}
}

// counted is a counter's value.
func counted(t *testing.T, c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// TestFrontHandshakesPerIP: an address holding handshakes open gets no
// more than MaxHandshakesPerIP of them; another address still gets in.
// The addresses are the clients' that a trusted proxy declares.
func TestFrontHandshakesPerIP(t *testing.T) {
	f, tc, rec, _ := startFront(t, CertConfig{}, Config{MaxHandshakesPerIP: 2, HandshakeTimeout: 5 * time.Second, ProxyFrom: viaProxy})
	port := uint16(40000)
	silent := func(ip string) net.Conn {
		port++
		return nettest.DialProxied(t, f.Addr().String(), nettest.ProxyV1(netip.AddrPortFrom(netip.MustParseAddr(ip), port)))
	}
	// Three silent handshakes from one address: whichever is counted
	// third is closed at once, the other two wait for their timeout.
	closed := make(chan bool, 3)
	for i := 0; i < 3; i++ {
		c := silent("192.0.2.8")
		go func() {
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			_, err := io.ReadAll(c)
			closed <- err == nil
		}()
	}
	n := 0
	for i := 0; i < 3; i++ {
		if <-closed {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d of 3 silent handshakes from one address closed before the timeout, want 1", n)
	}
	cfg, _ := client.TLSConfig(tc.CA, "", "")
	if _, err := dialAs(t, f, cfg, nettest.ProxyV1(netip.MustParseAddrPort("192.0.2.7:40007"))); err != nil {
		t.Fatalf("another address: %v", err)
	}
	rec.next(t)
}
