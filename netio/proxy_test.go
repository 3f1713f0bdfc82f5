package netio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
)

// proxyV2 is a v2 header: command cmd (0 LOCAL, 1 PROXY), family fam, body.
func proxyV2(cmd, fam byte, body []byte) []byte {
	b := append([]byte{}, proxyV2Sig...)
	b = append(b, 0x20|cmd, fam)
	b = binary.BigEndian.AppendUint16(b, uint16(len(body)))
	return append(b, body...)
}

// ProxyV2TCP4 is the v2 header declaring src (IPv4) connecting to
// 127.0.0.1:1, plus tlv bytes after the addresses.
func proxyV2TCP4(src netip.AddrPort, tlv []byte) []byte {
	a := src.Addr().As4()
	body := append(a[:], 127, 0, 0, 1)
	body = binary.BigEndian.AppendUint16(body, src.Port())
	body = binary.BigEndian.AppendUint16(body, 1)
	return proxyV2(1, 0x11, append(body, tlv...))
}

func proxyV2TCP6(src netip.AddrPort) []byte {
	a := src.Addr().As16()
	d := netip.IPv6Loopback().As16()
	body := append(a[:], d[:]...)
	body = binary.BigEndian.AppendUint16(body, src.Port())
	body = binary.BigEndian.AppendUint16(body, 1)
	return proxyV2(1, 0x21, body)
}

var proxyValid = []struct {
	name string
	hdr  []byte
	src  string // "": the socket's address is kept
}{
	{"v1 tcp4", []byte("PROXY TCP4 192.0.2.10 127.0.0.1 40001 9000\r\n"), "192.0.2.10:40001"},
	{"v1 tcp6", []byte("PROXY TCP6 2001:db8::7 ::1 65535 9000\r\n"), "[2001:db8::7]:65535"},
	{"v1 unknown", []byte("PROXY UNKNOWN\r\n"), ""},
	{"v1 unknown with addresses", []byte("PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"), ""},
	{"v1 longest tcp6", []byte("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"), "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"},
	{"v2 tcp4", proxyV2TCP4(netip.MustParseAddrPort("198.51.100.4:5000"), nil), "198.51.100.4:5000"},
	{"v2 tcp4 tlv", proxyV2TCP4(netip.MustParseAddrPort("198.51.100.4:5000"), []byte{0x04, 0, 3, 'a', 'b', 'c'}), "198.51.100.4:5000"},
	{"v2 tcp6", proxyV2TCP6(netip.MustParseAddrPort("[2001:db8::1]:443")), "[2001:db8::1]:443"},
	{"v2 local", proxyV2(0, 0x00, nil), ""},
	{"v2 local with addresses", proxyV2(0, 0x11, make([]byte, 12)), ""},
	{"v2 unspec", proxyV2(1, 0x00, []byte{1, 2, 3}), ""},
}

// TestProxyHeaderValid: each valid header, followed by a frame, is read
// whole and alone, and every proper prefix of it asks for more.
func TestProxyHeaderValid(t *testing.T) {
	if n := len(proxyValid[3].hdr); n != maxProxyV1 {
		t.Fatalf("the spec's longest v1 header is %d bytes, want %d", n, maxProxyV1)
	}
	for _, tc := range proxyValid {
		t.Run(tc.name, func(t *testing.T) {
			buf := append(append([]byte{}, tc.hdr...), 0, 3, 'H', 0) // a frame after it
			n, src, err := ParseProxyHeader(buf)
			if err != nil || n != len(tc.hdr) {
				t.Fatalf("n %d err %v, want %d", n, err, len(tc.hdr))
			}
			if got := addrString(src); got != tc.src {
				t.Fatalf("source %q, want %q", got, tc.src)
			}
			// Split at every byte: a partial header is no error and no header.
			for i := 0; i < len(tc.hdr); i++ {
				if n, _, err := ParseProxyHeader(tc.hdr[:i]); n != 0 || err != nil {
					t.Fatalf("first %d bytes: n %d err %v, want more", i, n, err)
				}
			}
			// Read from a stream, not a byte past the header.
			r := bytes.NewReader(buf)
			src, err = ReadProxyHeader(r)
			if err != nil || addrString(src) != tc.src || r.Len() != len(buf)-len(tc.hdr) {
				t.Fatalf("ReadProxyHeader: %q %v, %d bytes left, want %q and %d", addrString(src), err, r.Len(), tc.src, len(buf)-len(tc.hdr))
			}
		})
	}
}

func addrString(a netip.AddrPort) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// TestProxyHeaderMalformed: a header that cannot be valid is an error as
// soon as that shows, past the bound at the latest, never a wait.
func TestProxyHeaderMalformed(t *testing.T) {
	long := proxyV2(1, 0x11, make([]byte, maxProxyV2Body+1))
	for _, b := range [][]byte{
		{0, 12, 'L'}, // a frame: no header
		[]byte("GET / HTTP/1.1\r\n"),
		[]byte("PROXY\r\n"),
		[]byte("PROXY TCP4 192.0.2.1 127.0.0.1 1 2\n"),             // no CR
		[]byte("PROXY TCP4 192.0.2.1 127.0.0.1 1\r\n"),             // a field short
		[]byte("PROXY TCP4 192.0.2.1 127.0.0.1 1 2 3\r\n"),         // one too many
		[]byte("PROXY TCP4 192.0.2.1  127.0.0.1 1 2\r\n"),          // two spaces
		[]byte("PROXY TCP4 2001:db8::1 127.0.0.1 1 2\r\n"),         // family
		[]byte("PROXY TCP6 192.0.2.1 ::1 1 2\r\n"),                 // family
		[]byte("PROXY TCP4 192.0.2.1 127.0.0.1 65536 2\r\n"),       // port
		[]byte("PROXY TCP4 192.0.2.1 127.0.0.1 01 2\r\n"),          // leading zero
		[]byte("PROXY TCP4 192.0.2.1 127.0.0.1 -1 2\r\n"),          // sign
		[]byte("PROXY TCP4 192.0.2.999 127.0.0.1 1 2\r\n"),         // address
		[]byte("PROXY UDP4 192.0.2.1 127.0.0.1 1 2\r\n"),           // protocol
		[]byte("PROXY TCP4 " + strings.Repeat("1", 200) + "\r\n"),  // too long
		[]byte("PROXY " + strings.Repeat("x", maxProxyV1)),         // no CRLF within the bound
		proxyV2(2, 0x11, make([]byte, 12)),                         // command
		proxyV2(1, 0x12, make([]byte, 12)),                         // UDP
		proxyV2(1, 0x31, make([]byte, 216)),                        // unix
		proxyV2(1, 0x11, make([]byte, 11)),                         // short addresses
		proxyV2(1, 0x21, make([]byte, 35)),                         // short addresses
		append(append([]byte{}, proxyV2Sig...), 0x11, 0x11, 0, 12), // version 1 in a v2 header
		long[:16], // length past the bound: known from the fixed part
	} {
		n, _, err := ParseProxyHeader(b)
		if !errors.Is(err, ErrProxyHeader) || n != 0 {
			t.Errorf("%q: n %d err %v, want ErrProxyHeader", b, n, err)
		}
		if _, err := ReadProxyHeader(bytes.NewReader(b)); err == nil {
			t.Errorf("ReadProxyHeader %q: no error", b)
		}
	}
}

// TestProxyHeaderShortStream: a stream that ends inside a header is an
// error of the read.
func TestProxyHeaderShortStream(t *testing.T) {
	h := proxyV2TCP4(netip.MustParseAddrPort("198.51.100.4:5000"), nil)
	if _, err := ReadProxyHeader(bytes.NewReader(h[:20])); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err %v, want unexpected EOF", err)
	}
}

func TestProxyTrust(t *testing.T) {
	tr, err := ParseProxyTrust(" 127.0.0.1, 10.1.0.0/16,::1 ")
	if err != nil || len(tr) != 3 {
		t.Fatalf("%v %v", tr, err)
	}
	for addr, want := range map[string]bool{
		"127.0.0.1:5": true, "127.0.0.2:5": false, "10.1.200.3:1": true, "10.2.0.1:1": false,
		"[::1]:7": true, "[::ffff:127.0.0.1]:9": true, "[2001:db8::1]:1": false,
	} {
		if got := tr.Trusts(net.TCPAddrFromAddrPort(netip.MustParseAddrPort(addr))); got != want {
			t.Errorf("%s: trusted %v, want %v", addr, got, want)
		}
	}
	if ProxyTrust(nil).Trusts(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}) {
		t.Error("empty trust takes headers")
	}
	for _, bad := range []string{"127.0.0.1:80", "10.0.0.0/33", "host"} {
		if _, err := ParseProxyTrust(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// FuzzProxyHeader: no input crashes the parser; what it accepts is within
// the bounds and is accepted whole by the stream reader, which leaves the
// rest unread; a prefix of an accepted header asks for more.
func FuzzProxyHeader(f *testing.F) {
	for _, tc := range proxyValid {
		f.Add(tc.hdr)
	}
	f.Add([]byte("PROXY TCP4 192.0.2.1 127.0.0.1 1 2\n"))
	f.Add(proxyV2(1, 0x11, make([]byte, 11)))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, src, err := ParseProxyHeader(b)
		if err != nil {
			if n != 0 || src.IsValid() {
				t.Fatalf("error with n %d src %v", n, src)
			}
			return
		}
		if n == 0 {
			return
		}
		if n > len(b) || n > MaxProxyHeader || (b[0] == 'P' && n > maxProxyV1) {
			t.Fatalf("n %d of %d bytes", n, len(b))
		}
		r := bytes.NewReader(b)
		src2, err := ReadProxyHeader(r)
		if err != nil || src2 != src || r.Len() != len(b)-n {
			t.Fatalf("ReadProxyHeader: %v %v, %d left; parse %v %d", src2, err, r.Len(), src, n)
		}
		if m, _, err := ParseProxyHeader(b[:n-1]); m != 0 || err != nil {
			t.Fatalf("prefix: %d %v", m, err)
		}
	})
}
