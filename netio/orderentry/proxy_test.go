package orderentry

import (
	"bufio"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/ringex/ringex/auth"
	"github.com/ringex/ringex/netio"
	"github.com/ringex/ringex/netio/internal/nettest"
	"github.com/ringex/ringex/netio/wire"
)

// The PROXY protocol on the order-entry listener (netio/proxy.go), end to
// end: the declared address is the session's, partial headers wait, a
// malformed or missing header closes the connection with a count, and an
// untrusted source cannot declare anything.

// proxiedGateway is a gateway that trusts trust, with its audit log.
func proxiedGateway(t *testing.T, trust netio.ProxyTrust) (*Gateway, *syncBuffer) {
	logs := new(syncBuffer)
	guard := auth.New(auth.Config{Users: nettest.Users(t), Logger: slog.New(slog.NewTextHandler(logs, nil))})
	g, _ := startGateway(t, GatewayConfig{Guard: guard, ProxyFrom: trust})
	return g, logs
}

// counted is a counter's value.
func counted(c prometheus.Counter) float64 {
	var m dto.Metric
	c.Write(&m)
	return m.GetCounter().GetValue()
}

// expectClosedWith reads a Logout with reason, then the end of the stream.
func (rc *rawConn) expectClosedWith(reason uint16) {
	rc.t.Helper()
	if f := rc.next(); wire.Type(f) != wire.TypeLogout || binaryReason(f) != reason {
		rc.t.Fatalf("frame %c reason %d, want Logout %d", wire.Type(f), binaryReason(f), reason)
	}
	rc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := rc.r.ReadByte(); err != io.EOF {
		rc.t.Fatalf("after the Logout: %v, want EOF", err)
	}
}

// TestGatewayProxyHeaderSplit: a header that arrives a byte at a time,
// with the Login behind it, is read whole before any frame; the session
// is the declared client's in the audit line. Header and Login in one
// write work alike.
func TestGatewayProxyHeaderSplit(t *testing.T) {
	g, logs := proxiedGateway(t, viaProxy)
	for i, hdr := range [][]byte{
		nettest.ProxyV1(netip.MustParseAddrPort("192.0.2.41:40041")),
		nettest.ProxyV2(netip.MustParseAddrPort("198.51.100.42:40042")),
	} {
		c := nettest.DialProxied(t, g.Addr().String(), nil)
		rc := &rawConn{t: t, c: c, r: bufio.NewReader(c)}
		msg := append(append([]byte{}, hdr...), loginFrame(nettest.Alice, nettest.Alice.Key)...)
		if i == 0 {
			for j := range msg {
				rc.send(msg[j : j+1])
			}
		} else {
			rc.send(msg)
		}
		if f := rc.next(); wire.Type(f) != wire.TypeLoginAccepted {
			t.Fatalf("header %d: frame %c, want LoginAccepted", i, wire.Type(f))
		}
		rc.send(wire.AppendNewOrder(nil, order(uint64(i+1), 1, 100, 10)))
		rc.expectAck(uint64(i + 1))
	}
	for _, want := range []string{"user=alice user_id=1 remote=192.0.2.41:40041 ", "user=alice user_id=1 remote=198.51.100.42:40042 "} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("audit log lacks %q:\n%s", want, logs.String())
		}
	}
	if n := counted(g.m.conn.ProxyErrors); n != 0 {
		t.Fatalf("%v header errors, want 0", n)
	}
}

// TestGatewayProxyHeaderBad: from a trusted proxy, a malformed header, a
// Login without a header, or a header past its bound is Logout 6 and a
// close, counted; the server goes on serving.
func TestGatewayProxyHeaderBad(t *testing.T) {
	g, _ := proxiedGateway(t, viaProxy)
	for i, first := range [][]byte{
		[]byte("PROXY TCP4 192.0.2.1 127.0.0.1 99999 9000\r\n"),
		loginFrame(nettest.Alice, nettest.Alice.Key),
		[]byte("PROXY TCP4 " + strings.Repeat("1", 120)),
		append(nettest.ProxyV2(netip.MustParseAddrPort("192.0.2.1:1"))[:12], 0x21, 0x11, 0xff, 0xff),
	} {
		c := nettest.DialProxied(t, g.Addr().String(), first)
		(&rawConn{t: t, c: c, r: bufio.NewReader(c)}).expectClosedWith(wire.LogoutBadFrame)
		if n := counted(g.m.conn.ProxyErrors); n != float64(i+1) {
			t.Fatalf("after bad header %d: %v counted", i, n)
		}
	}
	dialAs(t, g, "192.0.2.5").login(nettest.Bob)
}

// TestGatewayProxyHeaderTimeout: a trusted connection that sends no
// header is logged out (Logout 9, idle) after ProxyTimeout, counted.
func TestGatewayProxyHeaderTimeout(t *testing.T) {
	t.Parallel()
	g, _ := proxiedGateway(t, viaProxy)
	c := nettest.DialProxied(t, g.Addr().String(), []byte("PROXY TCP4 192.0.2.1"))
	start := time.Now()
	rc := &rawConn{t: t, c: c, r: bufio.NewReader(c)}
	rc.expectClosedWith(wire.LogoutIdle)
	if d := time.Since(start); d < netio.ProxyTimeout-100*time.Millisecond {
		t.Fatalf("closed after %v, before ProxyTimeout", d)
	}
	if n := counted(g.m.conn.ProxyErrors); n != 1 {
		t.Fatalf("%v counted, want 1", n)
	}
}

// TestGatewayProxyUntrusted: a connection from a source not in ProxyFrom
// is plain: its socket address is the session's, and a PROXY header it
// sends is no header but a bad frame length (Logout 6).
func TestGatewayProxyUntrusted(t *testing.T) {
	g, logs := proxiedGateway(t, netio.ProxyTrust{netip.MustParsePrefix("192.0.2.0/24")})
	c := nettest.DialProxied(t, g.Addr().String(), nettest.ProxyV1(netip.MustParseAddrPort("198.51.100.1:1")))
	(&rawConn{t: t, c: c, r: bufio.NewReader(c)}).expectClosedWith(wire.LogoutBadFrame)
	rc := dialRaw(t, g)
	rc.login(nettest.Alice)
	if want := "user=alice user_id=1 remote=" + rc.c.LocalAddr().String() + " "; !strings.Contains(logs.String(), want) {
		t.Fatalf("audit log lacks %q:\n%s", want, logs.String())
	}
	if strings.Contains(logs.String(), "198.51.100.1") {
		t.Fatalf("an untrusted source's header was taken:\n%s", logs.String())
	}
	if n := counted(g.m.conn.ProxyErrors); n != 0 {
		t.Fatalf("%v header errors, want 0", n)
	}
}
