package marketdata

import (
	"bufio"
	"bytes"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/ringex/ringex/auth"
	"github.com/ringex/ringex/netio"
	"github.com/ringex/ringex/netio/internal/nettest"
	"github.com/ringex/ringex/netio/wire"
)

// lockedBuffer is a log destination the server's goroutines may share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestNotifierProxyHeader: on the market-data listener too, a trusted
// proxy's connection is its declared client's (the audit line), and a
// bad header is Logout 6, counted. The test connects from 127.0.0.1
// only; the client addresses are data in the headers.
func TestNotifierProxyHeader(t *testing.T) {
	var logs lockedBuffer
	guard := auth.New(auth.Config{Users: nettest.Users(t), Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	h := startFeed(t, "", NotifierConfig{Guard: guard, ProxyFrom: netio.ProxyTrust{netip.MustParsePrefix("127.0.0.1/32")}})
	dial := func(hdr []byte) *testFeed {
		c := nettest.DialProxied(t, h.addr, hdr)
		c.SetDeadline(time.Now().Add(10 * time.Second))
		return &testFeed{c: c.(*net.TCPConn), r: bufio.NewReaderSize(c, 64<<10)}
	}
	for _, hdr := range [][]byte{
		nettest.ProxyV1(netip.MustParseAddrPort("192.0.2.51:40051")),
		nettest.ProxyV2(netip.MustParseAddrPort("[2001:db8::52]:40052")),
	} {
		if err := dial(hdr).login(nettest.Alice); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{`service="market data" user=alice user_id=1 remote=192.0.2.51:40051 `,
		`service="market data" user=alice user_id=1 remote=[2001:db8::52]:40052 `} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("audit log lacks %q:\n%s", want, logs.String())
		}
	}
	bad := dial([]byte("PROXY TCP4 192.0.2.53 127.0.0.1 40053\r\n"))
	if m, err := bad.waitFor(mLogout); err != nil || m.reason != wire.LogoutBadFrame {
		t.Fatalf("bad header: %+v %v, want Logout 6", m, err)
	}
	var m dto.Metric
	h.n.m.conn.ProxyErrors.Write(&m)
	if n := m.GetCounter().GetValue(); n != 1 {
		t.Fatalf("%v header errors counted, want 1", n)
	}
}
