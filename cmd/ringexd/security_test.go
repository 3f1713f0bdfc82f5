package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ringex/ringex/auth"
	"github.com/ringex/ringex/client"
	"github.com/ringex/ringex/netio/tlsfront"
	"github.com/ringex/ringex/netio/wire"
)

// tlsServer starts ringexd with TLS on both services, on test
// certificates; it returns the server, the TLS addresses and the certs.
func tlsServer(t *testing.T, extra ...string) (*server, string, string, tlsfront.TestCerts) {
	t.Helper()
	certs, err := tlsfront.WriteTestCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tlsAddr, mdTLS := freePort(t), freePort(t)
	s := startServer(t, t.TempDir(), append([]string{"-tls-listen", tlsAddr, "-md-tls-listen", mdTLS,
		"-tls-cert", certs.Cert, "-tls-key", certs.Key}, extra...)...)
	// The fronts open once the plain servers listen, which startServer
	// waited for; wait for the TLS port too.
	deadline := time.Now().Add(10 * time.Second)
	for _, addr := range []string{tlsAddr, mdTLS} {
		for {
			c, err := net.Dial("tcp", addr)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no TLS listener at %s: %v", addr, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return s, tlsAddr, mdTLS, certs
}

// TestTLSRoundTrip: the Go client places an order through the TLS front
// and gets its ack and its private order event through the market-data
// TLS front.
func TestTLSRoundTrip(t *testing.T) {
	_, tlsAddr, mdTLS, certs := tlsServer(t)
	cfg, err := client.TLSConfig(certs.CA, "", "")
	if err != nil {
		t.Fatal(err)
	}
	opts := client.Options{TLS: cfg}
	events := make(chan *wire.OrderEvent, 16)
	feed, err := client.DialFeed(ctx5(), mdTLS, "alice", "alice-demo-key", orderEvents(events), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer feed.Close()
	if err := feed.Subscribe("BTC-USD", wire.ChanOrders, 0); err != nil {
		t.Fatal(err)
	}
	sess, err := client.Dial(ctx5(), tlsAddr, "alice", "alice-demo-key", nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	// The private channel confirms its subscription asynchronously: retry
	// the order id until its event is seen, at most a few times.
	ack, err := sess.PlaceSync(ctx5(), limit(1, 2, 9_000_000, 5))
	if err != nil {
		t.Fatal(err)
	}
	if ack.OrderID == 0 || ack.Seq == 0 {
		t.Fatalf("ack %+v", ack)
	}
	select {
	case ev := <-events:
		if ev.ClientOrderID != 1 {
			t.Fatalf("event %+v", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no order event over the market-data TLS front")
	}
	// A plaintext client on the TLS port gets nothing.
	if _, err := client.Dial(ctx5(), tlsAddr, "alice", "alice-demo-key", nil); err == nil {
		t.Fatal("plain login on the TLS port succeeded")
	}
}

type orderEvents chan *wire.OrderEvent

func (orderEvents) OnSubscribed(*wire.Subscribed)     {}
func (orderEvents) OnSubRejected(*wire.SubRejected)   {}
func (orderEvents) OnTrade(*wire.Trade)               {}
func (orderEvents) OnBookSnapshot(*wire.BookSnapshot) {}
func (orderEvents) OnBookUpdate(*wire.BookUpdate)     {}
func (orderEvents) OnBBO(*wire.BBO)                   {}
func (orderEvents) OnResumeDone(*wire.ResumeDone)     {}
func (c orderEvents) OnOrderEvent(e *wire.OrderEvent) {
	ev := *e
	select {
	case c <- &ev:
	default:
	}
}

// TestTLSOpenSSL: Debian's openssl s_client, a TLS client that is not
// ours, logs in and places an order through the front.
func TestTLSOpenSSL(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("no openssl on PATH")
	}
	_, tlsAddr, _, certs := tlsServer(t)
	cmd := exec.Command(openssl, "s_client", "-connect", tlsAddr, "-CAfile", certs.CA,
		"-verify_return_error", "-quiet", "-tls1_3")
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var login wire.Login
	login.Version = wire.Version
	login.SetUser("bob")
	login.SetKey("bob-demo-key")
	req := wire.AppendLogin(nil, &login)
	req = wire.AppendNewOrder(req, limit(77, 1, 50, 3))
	if _, err := in.Write(req); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(out)
	read := func() []byte {
		var hdr [2]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			t.Fatalf("read from openssl: %v\n%s", err, stderr.String())
		}
		f := make([]byte, 2+int(binary.BigEndian.Uint16(hdr[:])))
		copy(f, hdr[:])
		if _, err := io.ReadFull(r, f[2:]); err != nil {
			t.Fatalf("read from openssl: %v", err)
		}
		return f
	}
	timer := time.AfterFunc(10*time.Second, func() { cmd.Process.Kill() })
	defer timer.Stop()
	var la wire.LoginAccepted
	if f := read(); wire.Type(f) != wire.TypeLoginAccepted || wire.DecodeLoginAccepted(f, &la) != nil || la.UserID == 0 {
		t.Fatalf("first frame through openssl: %c", wire.Type(f))
	}
	f := read()
	for wire.Type(f) == wire.TypeHeartbeat {
		f = read()
	}
	var ack wire.OrderAck
	if wire.Type(f) != wire.TypeOrderAck || wire.DecodeOrderAck(f, &ack) != nil || ack.ClientOrderID != 77 {
		t.Fatalf("want the ack of 77 through openssl, got %c", wire.Type(f))
	}
	in.Write(wire.AppendLogout(nil, 0))
	if f := read(); wire.Type(f) != wire.TypeLogout {
		t.Fatalf("want Logout, got %c", wire.Type(f))
	}
	in.Close()
	cmd.Wait()
}

// writeUsers writes a users file of name:key[,key] entries; a user's id
// is fixed by its name.
func writeUsers(t *testing.T, file string, entries ...string) {
	t.Helper()
	var b strings.Builder
	ids := map[string]int{"alice": 1, "bob": 2, "carol": 3}
	for _, e := range entries {
		name, keys, _ := strings.Cut(e, ":")
		var hs []string
		for _, k := range strings.Split(keys, ",") {
			hs = append(hs, auth.HashKey(k))
		}
		fmt.Fprintf(&b, "%d %s %s\n", ids[name], name, strings.Join(hs, ","))
	}
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

// logoutReason waits for a connection's end and returns its Logout reason.
func logoutReason(t *testing.T, s interface {
	Done() <-chan struct{}
	Err() error
}) uint16 {
	t.Helper()
	select {
	case <-s.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("session not logged out")
	}
	var le *client.LogoutError
	if !errors.As(s.Err(), &le) {
		t.Fatalf("session ended with %v, not a Logout", s.Err())
	}
	return le.Code
}

// TestKeyRotationReload: SIGHUP and POST /users/reload reload the users
// file; a session whose key is gone is logged out with reason 7, during a
// rotation both keys work.
func TestKeyRotationReload(t *testing.T) {
	users := filepath.Join(t.TempDir(), "users")
	writeUsers(t, users, "alice:a-old", "bob:b-key", "carol:c-key")
	s := startServer(t, t.TempDir(), "-users", users)

	old := s.session("alice", "a-old", nil)
	bob := s.session("bob", "b-key", nil)
	oldFeed, err := client.DialFeed(ctx5(), s.md, "alice", "a-old", client.NopFeedHandler{})
	if err != nil {
		t.Fatal(err)
	}
	defer oldFeed.Close()

	// Rotation, step 1: alice holds both keys (SIGHUP).
	writeUsers(t, users, "alice:a-old,a-new", "bob:b-key", "carol:c-key")
	s.cmd.Process.Signal(syscall.SIGHUP)
	var fresh *client.Session
	deadline := time.Now().Add(10 * time.Second)
	for {
		f, err := client.Dial(ctx5(), s.addr, "alice", "a-new", nil)
		if err == nil {
			fresh = f
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("new key never accepted: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	defer fresh.Close()
	if _, err := old.PlaceSync(ctx5(), limit(1, 2, 9_000_000, 1)); err != nil {
		t.Fatalf("old key during the rotation: %v", err)
	}

	// Step 2: the old key goes (SIGHUP): its session is logged out.
	writeUsers(t, users, "alice:a-new", "bob:b-key", "carol:c-key")
	s.cmd.Process.Signal(syscall.SIGHUP)
	if code := logoutReason(t, old); code != wire.LogoutKeyRevoked {
		t.Fatalf("old-key session logged out with %d, want 7 (key revoked)", code)
	}
	if code := logoutReason(t, oldFeed); code != wire.LogoutKeyRevoked {
		t.Fatalf("old-key market-data login logged out with %d, want 7", code)
	}
	if _, err := fresh.PlaceSync(ctx5(), limit(2, 2, 9_000_000, 1)); err != nil {
		t.Fatalf("new key after the rotation: %v", err)
	}

	// Bob is removed through the admin endpoint.
	writeUsers(t, users, "alice:a-new", "carol:c-key")
	resp, err := http.Post("http://"+s.admin+"/users/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var res reloadResult
	json.NewDecoder(resp.Body).Decode(&res)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || res.Users == nil || res.Users.Removed != 1 || res.Users.Revoked != 1 {
		t.Fatalf("POST /users/reload: %s %+v %+v", resp.Status, res, res.Users)
	}
	if code := logoutReason(t, bob); code != wire.LogoutKeyRevoked {
		t.Fatalf("bob logged out with %d, want 7", code)
	}
	// A bad file keeps the users in force.
	os.WriteFile(users, []byte("garbage\n"), 0o600)
	resp, err = http.Post("http://"+s.admin+"/users/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("bad users file: %s", resp.Status)
	}
	if _, err := fresh.PlaceSync(ctx5(), limit(3, 2, 9_000_000, 1)); err != nil {
		t.Fatalf("after a failed reload: %v", err)
	}
	// The audit counters are on /metrics.
	resp, err = http.Get("http://" + s.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`ringex_auth_revoked_sessions_total 3`, `ringex_auth_reloads_total{result="error"} 1`,
		`ringex_auth_key_changes_total{change="key_removed"} 1`, `ringex_auth_logins_total{service="order entry"}`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestSecurityFlags: the security flags are validated by parseConfig.
func TestSecurityFlags(t *testing.T) {
	bad := [][]string{
		{"-user-rate", "-1"},
		{"-user-burst", "-1"},
		{"-max-sessions-per-user", "-1"},
		{"-login-addr-failures", "0"},
		{"-login-window", "0s"},
		{"-login-backoff", "2s", "-login-max-backoff", "1s"},
		{"-tls-min-version", "1.1"},
		{"-tls-cert", "c.pem", "-tls-key", "k.pem"},    // no TLS listener
		{"-tls-listen", ":7443"},                       // no certificate
		{"-tls-listen", ":7443", "-tls-cert", "c.pem"}, // no key
		{"-md-tls-listen", ":7444", "-tls-client-ca", "ca.pem", "-tls-cert", "c", "-tls-key", "k"}, // mTLS is order entry's
		{"-md-tls-listen", ":7444", "-md-tls-cert", "c"},                                           // half a pair
		{"-tls-listen", "7443", "-tls-cert", "c", "-tls-key", "k"},                                 // not host:port
		{"-tls-listen", "127.0.0.1:7001", "-tls-cert", "c", "-tls-key", "k"},                       // the plain port
		{"-tls-listen", ":7443", "-md-tls-listen", ":7443", "-tls-cert", "c", "-tls-key", "k"},     // twice
		{"-listen", "0.0.0.0:7001", "-tls-listen", ":7443", "-tls-cert", "c", "-tls-key", "k"},     // public plain port
		{"-proxy-protocol", "10.0.0.0/33"},
		{"-proxy-protocol", "proxy.example"},
		{"-proxy-protocol", "10.0.0.5:443"},
	}
	for _, args := range bad {
		if _, err := parseConfig(args, io.Discard); err == nil {
			t.Errorf("%q: accepted", args)
		}
	}
	c, err := parseConfig([]string{"-tls-listen", ":7443", "-tls-cert", "c", "-tls-key", "k"}, io.Discard)
	if err != nil || c.sec.tlsListen != ":7443" {
		t.Fatalf("good TLS flags: %v", err)
	}
	c, err = parseConfig([]string{"-user-rate", "5000"}, io.Discard)
	if err != nil || c.sec.userBurst != 500 {
		t.Fatalf("default burst: %v %v", c, err)
	}
	c, err = parseConfig([]string{"-proxy-protocol", "10.0.0.5, 10.0.1.0/24"}, io.Discard)
	if err != nil || fmt.Sprint(c.sec.proxy) != "[10.0.0.5/32 10.0.1.0/24]" {
		t.Fatalf("-proxy-protocol: %v %v", c.sec.proxy, err)
	}
	c, _ = parseConfig(nil, io.Discard)
	if c.sec.proxy != nil {
		t.Fatalf("PROXY protocol on by default: %v", c.sec.proxy)
	}
	if c.sec.throttle != auth.DefaultThrottle() {
		t.Fatalf("throttle defaults %+v differ from the package's", c.sec.throttle)
	}
}
