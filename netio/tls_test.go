package netio

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/ringex/ringex/netio/wire"
)

// testTLS is a self-signed certificate for 127.0.0.1 and the server and
// client configurations that use it; certFile is its PEM (for openssl).
type testTLS struct {
	srv, cli *tls.Config
	certFile string
}

func newTestTLS(t *testing.T) testTLS {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	file := filepath.Join(t.TempDir(), "cert.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return testTLS{
		// No session tickets: the records after the handshake are the
		// test's own.
		srv: &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
			MinVersion: tls.VersionTLS13, DynamicRecordSizingDisabled: true, SessionTicketsDisabled: true},
		cli:      &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"},
		certFile: file,
	}
}

// tapConn is a client's socket whose writes go to buf instead while
// tapping, so a test can cut the records the client makes where it likes;
// it logs what it reads (the server's records, as they came).
type tapConn struct {
	net.Conn
	tapping  bool
	buf      []byte
	holdFrom int // > 0: the holdFrom-th write and those after it are tapped
	writes   int
	mu       sync.Mutex
	read     []byte
}

func (c *tapConn) Write(b []byte) (int, error) {
	if c.writes++; c.holdFrom > 0 && c.writes >= c.holdFrom {
		c.tapping = true
	}
	if c.tapping {
		c.buf = append(c.buf, b...)
		return len(b), nil
	}
	return c.Conn.Write(b)
}

func (c *tapConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.mu.Lock()
	c.read = append(c.read, b[:n]...)
	c.mu.Unlock()
	return n, err
}

// tlsPair is a TLS connection over loopback TCP after its handshake: the
// client's end, and the server's detached TLSConn over raw, as
// Server.Enroll takes it.
type tlsPair struct {
	cli *tls.Conn
	tap *tapConn
	raw net.Conn
	srv *TLSConn
}

// acceptTLS accepts one connection on ln and runs the server's handshake.
func acceptTLS(t *testing.T, ln net.Listener, cfg *tls.Config) (net.Conn, *TLSConn) {
	t.Helper()
	raw, srv, err := handshakeTLS(t, ln, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return raw, srv
}

// handshakeTLS is acceptTLS for any goroutine.
func handshakeTLS(t *testing.T, ln net.Listener, cfg *tls.Config) (net.Conn, *TLSConn, error) {
	raw, err := ln.Accept()
	if err != nil {
		return nil, nil, err
	}
	t.Cleanup(func() { raw.Close() })
	srv := NewTLS(raw, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Handshake(ctx); err != nil {
		return nil, nil, fmt.Errorf("server handshake: %w", err)
	}
	srv.Detach()
	return raw, srv, nil
}

func newTLSPair(t *testing.T, tt testTLS) *tlsPair {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	craw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { craw.Close() })
	p := &tlsPair{tap: &tapConn{Conn: craw}}
	p.cli = tls.Client(p.tap, tt.cli)
	errc := make(chan error, 1)
	go func() { errc <- p.cli.Handshake() }()
	p.raw, p.srv = acceptTLS(t, ln, tt.srv)
	if err := <-errc; err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	p.tap.mu.Lock()
	p.tap.read = nil // the handshake's
	p.tap.mu.Unlock()
	return p
}

// records returns the records the client makes of writes, one record
// each, without sending them.
func (p *tlsPair) records(writes ...[]byte) []byte {
	p.tap.tapping, p.tap.buf = true, nil
	for _, w := range writes {
		p.cli.Write(w)
	}
	p.tap.tapping = false
	return p.tap.buf
}

// testConn is a Conn on the server's side of p, its outbox writing to a dup
// of the server's socket with a cap of max bytes; closes counts the
// closes it requested.
func testConn(t *testing.T, gc *fakeConn, raw net.Conn, max int, cut func()) (*Conn, chan struct{}) {
	t.Helper()
	rc, err := raw.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	fd := -1
	rc.Control(func(s uintptr) { fd, err = unix.Dup(int(s)) })
	if err != nil {
		t.Fatal(err)
	}
	closes := make(chan struct{}, 8)
	c := &Conn{}
	gc.fd = fd
	c.Open(gc, max, nil, wire.LogoutSlowConsumer, &OutboxHooks{
		Close: func() { closes <- struct{}{} },
		Cut:   func(int, bool) { cut() },
	})
	t.Cleanup(func() {
		c.Out.Release() // as OnClose does, before the descriptor is closed
		unix.Close(fd)
	})
	return c, closes
}

func testServer() *Server {
	s := &Server{}
	s.Init("test", slog.New(slog.DiscardHandler), NewConnMetrics("test", "test connections", "connections"))
	return s
}

// TestTLSRecordsSplitAtEveryByte: the ciphertext of two records, the
// second frame cut across them, reaches Traffic cut at every byte (and one
// byte per call): every frame is decoded once, whole, in order, and
// nothing is left over.
func TestTLSRecordsSplitAtEveryByte(t *testing.T) {
	p := newTLSPair(t, newTestTLS(t))
	s := testServer()
	gc := &fakeConn{ctx: p.srv}
	c, _ := testConn(t, gc, p.raw, 1<<20, func() {})
	var got [][]byte
	handle := func(frame []byte) gnet.Action {
		got = append(got, bytes.Clone(frame))
		return gnet.None
	}
	f1 := wire.AppendHeartbeat(nil)
	f2 := wire.AppendReject(nil, 42, wire.ReasonMalformed)
	f3 := wire.AppendLogout(nil, wire.LogoutIdle)
	want := [][]byte{f1, f2, f3}
	check := func(what string) {
		t.Helper()
		if len(got) != 3 || !bytes.Equal(got[0], f1) || !bytes.Equal(got[1], f2) || !bytes.Equal(got[2], f3) || len(gc.in) != 0 {
			t.Fatalf("%s: frames %x, left %d bytes; want %x", what, got, len(gc.in), want)
		}
		if !c.Out.Open() {
			t.Fatalf("%s: connection ended", what)
		}
		got = got[:0]
	}
	split := len(f2) / 2
	rec := func() []byte {
		return p.records(append(bytes.Clone(f1), f2[:split]...), append(bytes.Clone(f2[split:]), f3...))
	}
	gc.in = rec()
	n := len(gc.in)
	s.Traffic(gc, c, handle)
	check("whole")
	for k := 1; k < n; k++ {
		all := rec()
		gc.in = append(gc.in, all[:k]...)
		if a := s.Traffic(gc, c, handle); a != gnet.None {
			t.Fatalf("cut at %d: action %v", k, a)
		}
		gc.in = append(gc.in, all[k:]...)
		s.Traffic(gc, c, handle)
		check(fmt.Sprintf("cut at %d of %d", k, n))
	}
	for _, b := range rec() {
		gc.in = append(gc.in, b)
		s.Traffic(gc, c, handle)
	}
	check("one byte per read")
}

// TestTLSFramesShareRecord: the frames of one write go out as one record
// (an ack batch costs one seal), and the client decrypts them.
func TestTLSFramesShareRecord(t *testing.T) {
	p := newTLSPair(t, newTestTLS(t))
	c, _ := testConn(t, &fakeConn{ctx: p.srv}, p.raw, 1<<20, func() {})
	var batch []byte
	for i := range 20 {
		batch = wire.AppendReject(batch, uint64(i), wire.ReasonMalformed)
	}
	if !c.Write(batch) {
		t.Fatal("write refused")
	}
	got := make([]byte, len(batch))
	p.cli.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(p.cli, got); err != nil || !bytes.Equal(got, batch) {
		t.Fatalf("client read %x, %v; want %x", got, err, batch)
	}
	p.tap.mu.Lock()
	raw := p.tap.read
	p.tap.mu.Unlock()
	// TLS 1.3: a 5-byte header, the plaintext, its content type and a
	// 16-byte tag.
	if want := 5 + len(batch) + 1 + 16; len(raw) != want || raw[0] != 23 {
		t.Fatalf("%d frames in %d bytes on the wire, want one record of %d", 20, len(raw), want)
	}
}

// TestTLSAllocs: after the handshake, sealing and writing a batch of frames
// allocates nothing, and an OnTraffic of TLS records allocates what
// crypto/tls allocates per read of its transport (readFromUntil passes a
// 24-byte atLeastReader to bytes.Buffer.ReadFrom as an interface): twice,
// once for the records and once to learn there is no more. So the cost is
// per read of the socket, not per frame.
func TestTLSAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector drops sync.Pool items at random (crypto/tls pools its record buffers)")
	}
	p := newTLSPair(t, newTestTLS(t))
	s := testServer()
	gc := &fakeConn{ctx: p.srv}
	c, _ := testConn(t, gc, p.raw, 1<<20, func() {})
	go io.Copy(io.Discard, p.cli) // the client reads what the server writes
	batch := wire.AppendReject(wire.AppendReject(nil, 1, 1), 2, 1)
	c.Write(batch) // warm the buffers
	if n := testing.AllocsPerRun(200, func() { c.Write(batch) }); n != 0 {
		t.Errorf("seal and write: %.1f allocs per write, want 0", n)
	}
	const runs = 200
	recs := make([][]byte, runs+1)
	for i := range recs {
		recs[i] = p.records(batch)
	}
	frames := 0
	handle := func([]byte) gnet.Action { frames++; return gnet.None }
	i := 0
	n := testing.AllocsPerRun(runs, func() {
		gc.in = append(gc.in[:0], recs[i]...)
		i++
		s.Traffic(gc, c, handle)
	})
	if frames != 2*(runs+1) {
		t.Fatalf("%d frames decoded, want %d", frames, 2*(runs+1))
	}
	if n > 2 {
		t.Errorf("read: %.1f allocs per OnTraffic, want at most 2", n)
	}
}

// serveTLS is a stand-in for an event loop over p's server side: it reads
// the socket, hands the bytes to Traffic as gnet would, and answers each
// frame with itself (an echo), through the outbox. It returns when the
// socket closes or Traffic says to close.
func serveTLS(t *testing.T, s *Server, c *Conn, gc *fakeConn, raw net.Conn) <-chan gnet.Action {
	done := make(chan gnet.Action, 1)
	echo := func(frame []byte) gnet.Action {
		c.Reply = append(c.Reply, frame...)
		return gnet.None
	}
	go func() {
		buf := make([]byte, 4096)
		a := s.Traffic(gc, c, echo) // as Conn.Open's Wake asks: what crypto/tls read ahead
		for a == gnet.None {
			if len(c.Reply) > 0 {
				c.Write(c.Reply)
				c.Reply = c.Reply[:0]
			}
			n, err := raw.Read(buf)
			if err != nil {
				break
			}
			gc.in = append(gc.in, buf[:n]...)
			a = s.Traffic(gc, c, echo)
		}
		done <- a
	}()
	return done
}

// TestTLSReadAhead: a client's first record that comes in the same segment
// as its Finished is read by crypto/tls during the handshake, before gnet
// has the socket, and no more input may follow it (the client waits for
// the answer). Conn.Open asks for a first Traffic (gnet's Wake), which
// decrypts it.
func TestTLSReadAhead(t *testing.T) {
	tt := newTestTLS(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	craw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer craw.Close()
	type accepted struct {
		raw net.Conn
		srv *TLSConn
		err error
	}
	acc := make(chan accepted, 1)
	go func() {
		raw, srv, err := handshakeTLS(t, ln, tt.srv)
		acc <- accepted{raw, srv, err}
	}()
	// The ClientHello goes; the Finished and the first record are held
	// and sent together.
	tap := &tapConn{Conn: craw, holdFrom: 2}
	cli := tls.Client(tap, tt.cli)
	if err := cli.Handshake(); err != nil {
		t.Fatal(err)
	}
	f := wire.AppendReject(nil, 7, wire.ReasonMalformed)
	cli.Write(f)
	craw.Write(tap.buf)
	a := <-acc
	if a.err != nil {
		t.Fatal(a.err)
	}
	gc := &fakeConn{ctx: a.srv}
	c, _ := testConn(t, gc, a.raw, 1<<20, func() {})
	if gc.wakes != 1 {
		t.Fatalf("Open asked for %d first reads, want 1", gc.wakes)
	}
	serveTLS(t, testServer(), c, gc, a.raw)
	got := make([]byte, len(f))
	cli.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(cli, got); err != nil || !bytes.Equal(got, f) {
		t.Fatalf("echo of the read-ahead record: %x, %v; want %x", got, err, f)
	}
}

// TestTLSKeyUpdate: openssl s_client sends a KeyUpdate that asks for one
// back (its "K" command; Go's client cannot send one): the server answers
// it and seals what follows with its new keys, and the client reads the
// echo of a frame sent before and of one sent after.
func TestTLSKeyUpdate(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("no openssl on PATH")
	}
	tt := newTestTLS(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// -quiet, but commands on (-no_ign_eof): a line "K" sends a KeyUpdate
	// with update_requested.
	cmd := exec.Command(openssl, "s_client", "-connect", ln.Addr().String(), "-CAfile", tt.certFile,
		"-tls1_3", "-quiet", "-no_ign_eof")
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	timer := time.AfterFunc(20*time.Second, func() { cmd.Process.Kill() })
	defer timer.Stop()
	raw, srv := acceptTLS(t, ln, tt.srv)
	gc := &fakeConn{ctx: srv}
	c, _ := testConn(t, gc, raw, 1<<20, func() {})
	serveTLS(t, testServer(), c, gc, raw)

	r := bufio.NewReader(out)
	expect := func(frame []byte) {
		t.Helper()
		got := make([]byte, len(frame))
		if _, err := io.ReadFull(r, got); err != nil || !bytes.Equal(got, frame) {
			t.Fatalf("echo: %x, %v; want %x", got, err, frame)
		}
	}
	before := wire.AppendReject(nil, 1111, wire.ReasonMalformed)
	after := wire.AppendReject(nil, 2222, wire.ReasonMalformed)
	in.Write(before)
	expect(before)
	in.Write([]byte("K\n"))
	// openssl says KEYUPDATE on stderr once it has sent it; only then may
	// the next frame go (a read holding "K\n" and the frame is all taken
	// as the command).
	er := bufio.NewScanner(stderr)
	for er.Scan() && !strings.Contains(er.Text(), "KEYUPDATE") {
	}
	go io.Copy(io.Discard, stderr)
	in.Write(after)
	expect(after)
}

// TestTLSSlowReaderCut: a TLS client that does not read is cut at the
// outbox's cap, like a plain one: the write past it is refused before it
// is sealed, and the client, once it reads, gets every record it was sent,
// then the Logout, then close_notify: the stream stayed whole.
func TestTLSSlowReaderCut(t *testing.T) {
	p := newTLSPair(t, newTestTLS(t))
	for _, fd := range []net.Conn{p.raw, p.tap.Conn} {
		fd.(*net.TCPConn).SetReadBuffer(4096)
		fd.(*net.TCPConn).SetWriteBuffer(4096)
	}
	cuts := make(chan struct{}, 4)
	c, closes := testConn(t, &fakeConn{ctx: p.srv}, p.raw, 64<<10, func() { cuts <- struct{}{} })
	chunk := bytes.Repeat([]byte{'x'}, 1000)
	var sent []byte
	for i := 0; ; i++ {
		f := wire.AppendReject(nil, uint64(i), wire.ReasonMalformed)
		f = append(f, chunk...) // not a valid frame: the client here reads bytes
		if !c.Write(f) {
			break
		}
		sent = append(sent, f...)
		if i > 100000 {
			t.Fatal("never cut")
		}
	}
	select {
	case <-cuts:
	default:
		t.Fatal("write refused without a cut")
	}
	if st, queued, _, _, _ := c.Out.Stats(); st != outEnding || queued > 64<<10+2*sealedMax(len(chunk)+64) {
		t.Fatalf("after the cut: %v with %d bytes queued", st, queued)
	}
	p.cli.SetReadDeadline(time.Now().Add(10 * time.Second))
	all, err := io.ReadAll(p.cli) // to close_notify: EOF, no error
	if err != nil {
		t.Fatalf("client read %d bytes, then %v", len(all), err)
	}
	logout := wire.AppendLogout(nil, wire.LogoutSlowConsumer)
	if !bytes.Equal(all, append(sent, logout...)) {
		t.Fatalf("client read %d bytes, want the %d sent and the Logout", len(all), len(sent))
	}
	select {
	case <-closes:
	case <-time.After(5 * time.Second):
		t.Fatal("the close was not requested once the Logout was out")
	}
}

// TestTLSBadRecordCloses: a record that does not decrypt ends its own
// connection (an alert, then the close), and no other: a second connection
// on the same server goes on.
func TestTLSBadRecordCloses(t *testing.T) {
	tt := newTestTLS(t)
	s := testServer()
	bad, good := newTLSPair(t, tt), newTLSPair(t, tt)
	var done [2]<-chan gnet.Action
	for i, p := range []*tlsPair{bad, good} {
		gc := &fakeConn{ctx: p.srv}
		c, _ := testConn(t, gc, p.raw, 1<<20, func() {})
		done[i] = serveTLS(t, s, c, gc, p.raw)
	}
	rec := bad.records(wire.AppendHeartbeat(nil))
	rec[len(rec)-1] ^= 1 // the tag
	bad.tap.Conn.Write(rec)
	select {
	case a := <-done[0]:
		if a != gnet.Close {
			t.Fatalf("bad record: action %v, want Close", a)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("bad record did not close the connection")
	}
	bad.cli.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := bad.cli.Read(make([]byte, 1)); err == nil || !strings.Contains(err.Error(), "bad record MAC") {
		t.Fatalf("client of the bad record: %v, want the server's bad_record_mac alert", err)
	}
	f := wire.AppendReject(nil, 9, wire.ReasonMalformed)
	good.cli.Write(f)
	got := make([]byte, len(f))
	good.cli.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(good.cli, got); err != nil || !bytes.Equal(got, f) {
		t.Fatalf("the other connection: %x, %v", got, err)
	}
}
