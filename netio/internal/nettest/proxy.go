package nettest

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"
)

// The tests connect from 127.0.0.1 only. A test that needs clients at
// distinct addresses (the login throttle counts by address) trusts
// 127.0.0.1 as a proxy and declares each client's address in a PROXY
// header: documentation addresses (192.0.2.0/24, 198.51.100.0/24,
// 2001:db8::/32) are data inside the header, never dialed.

// ProxyV1 is the PROXY protocol v1 header declaring a client at src
// connected to 127.0.0.1:9000 (or [::1]:9000).
func ProxyV1(src netip.AddrPort) []byte {
	if src.Addr().Is4() {
		return fmt.Appendf(nil, "PROXY TCP4 %s 127.0.0.1 %d 9000\r\n", src.Addr(), src.Port())
	}
	return fmt.Appendf(nil, "PROXY TCP6 %s ::1 %d 9000\r\n", src.Addr(), src.Port())
}

// ProxyV2 is the PROXY protocol v2 header declaring the same.
func ProxyV2(src netip.AddrPort) []byte {
	b := []byte("\r\n\r\n\x00\r\nQUIT\n\x21")
	var addrs []byte
	if src.Addr().Is4() {
		a, d := src.Addr().As4(), [4]byte{127, 0, 0, 1}
		b = append(b, 0x11)
		addrs = append(a[:], d[:]...)
	} else {
		a, d := src.Addr().As16(), netip.IPv6Loopback().As16()
		b = append(b, 0x21)
		addrs = append(a[:], d[:]...)
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(addrs)+4))
	b = append(b, addrs...)
	b = binary.BigEndian.AppendUint16(b, src.Port())
	return binary.BigEndian.AppendUint16(b, 9000)
}

// DialProxied connects to addr from 127.0.0.1 and sends header (ProxyV1
// or ProxyV2; nil: nothing) first, as a proxy would for its client.
func DialProxied(t testing.TB, addr string, header []byte) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Write(header); len(header) > 0 && err != nil {
		t.Fatal(err)
	}
	return c
}
