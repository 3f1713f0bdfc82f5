package netio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"strconv"
	"time"
)

// PROXY protocol (HAProxy's proxy-protocol.txt, versions 1 and 2): a proxy
// in front of ringexd (HAProxy, stunnel, a load balancer) that opens one
// TCP connection per client begins it with a header declaring the client's
// address. A server that takes such headers (ProxyTrust non-empty) expects
// one at the start of every connection from a trusted source address and
// uses the declared source as the connection's Remote: the login throttle,
// the audit lines and the logs then see the client, not the proxy.
//
// Connections from any other source are served plainly, with their socket
// address: a client cannot declare an address of its choosing, and what it
// sends first is read as frames (a PROXY header there is a bad frame
// length: Logout 6).
//
// A trusted connection that sends a malformed header, or no complete
// header within ProxyTimeout, is closed with a log line and counted
// (ConnMetrics.ProxyErrors); nothing before the header is read as a frame.
// A header with the LOCAL command (v2) or UNKNOWN protocol (v1), which a
// proxy sends for its own health checks, keeps the socket address.

const (
	// MaxProxyHeader bounds a header: 107 bytes for v1 (the spec's own
	// bound), 16 plus at most 1,024 bytes of addresses and TLVs for v2.
	MaxProxyHeader = 16 + maxProxyV2Body
	maxProxyV2Body = 1024
	maxProxyV1     = 107

	// ProxyTimeout is how long a trusted connection may take to send its
	// header: the proxy sends it with the connect.
	ProxyTimeout = 3 * time.Second
)

var (
	proxyV1Sig = []byte("PROXY ")
	proxyV2Sig = []byte("\r\n\r\n\x00\r\nQUIT\n")

	// ErrProxyHeader is a malformed or missing PROXY header.
	ErrProxyHeader = errors.New("malformed PROXY protocol header")
)

// ProxyTrust is the set of source addresses a server takes PROXY headers
// from; empty, it takes none and every connection is plain.
type ProxyTrust []netip.Prefix

// ParseProxyTrust parses a comma-separated list of addresses and CIDR
// prefixes ("10.0.0.5,192.168.0.0/24"); an empty string is an empty set.
func ParseProxyTrust(s string) (ProxyTrust, error) {
	var t ProxyTrust
	for _, f := range bytes.Split([]byte(s), []byte(",")) {
		f = bytes.TrimSpace(f)
		if len(f) == 0 {
			continue
		}
		if bytes.IndexByte(f, '/') >= 0 {
			p, err := netip.ParsePrefix(string(f))
			if err != nil {
				return nil, err
			}
			t = append(t, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(string(f))
		if err != nil {
			return nil, err
		}
		t = append(t, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return t, nil
}

// Trusts reports whether a connection from addr (a net.Addr of the
// socket) is to begin with a PROXY header.
func (t ProxyTrust) Trusts(addr net.Addr) bool {
	if len(t) == 0 || addr == nil {
		return false
	}
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		return false
	}
	ip := ap.Addr().Unmap()
	for _, p := range t {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// ParseProxyHeader parses the PROXY header (v1 or v2) at the front of buf.
// It returns the header's length n and the client's address it declares
// (invalid for a LOCAL or UNKNOWN header: keep the socket's), n == 0 with
// no error if buf holds only the beginning of a header, or ErrProxyHeader
// if buf cannot begin with a valid one (another signature, a bad field, a
// header past its bound).
func ParseProxyHeader(buf []byte) (n int, src netip.AddrPort, err error) {
	switch {
	case hasPrefixOf(buf, proxyV1Sig):
		return parseProxyV1(buf)
	case hasPrefixOf(buf, proxyV2Sig):
		return parseProxyV2(buf)
	}
	return 0, src, ErrProxyHeader
}

// hasPrefixOf reports whether buf and sig agree on their common length.
func hasPrefixOf(buf, sig []byte) bool {
	m := min(len(buf), len(sig))
	return bytes.Equal(buf[:m], sig[:m])
}

// parseProxyV1: "PROXY TCP4 src dst sport dport\r\n" (TCP6 alike), or
// "PROXY UNKNOWN ...\r\n", at most 107 bytes with the CRLF.
func parseProxyV1(buf []byte) (int, netip.AddrPort, error) {
	var src netip.AddrPort
	end := bytes.IndexByte(buf[:min(len(buf), maxProxyV1)], '\n')
	if end < 0 {
		if len(buf) >= maxProxyV1 {
			return 0, src, ErrProxyHeader
		}
		return 0, src, nil
	}
	if end == 0 || buf[end-1] != '\r' {
		return 0, src, ErrProxyHeader
	}
	f := bytes.Split(buf[len(proxyV1Sig):end-1], []byte(" "))
	switch string(f[0]) {
	case "UNKNOWN":
		return end + 1, src, nil
	case "TCP4", "TCP6":
	default:
		return 0, src, ErrProxyHeader
	}
	if len(f) != 5 {
		return 0, src, ErrProxyHeader
	}
	ip, err1 := netip.ParseAddr(string(f[1]))
	dst, err2 := netip.ParseAddr(string(f[2]))
	port, err3 := parsePort(f[3])
	_, err4 := parsePort(f[4])
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return 0, src, ErrProxyHeader
	}
	if ip.Is4() != (string(f[0]) == "TCP4") || dst.Is4() != ip.Is4() || ip.Zone() != "" {
		return 0, src, ErrProxyHeader
	}
	return end + 1, netip.AddrPortFrom(ip, port), nil
}

// parsePort is a decimal port without sign or leading zeros.
func parsePort(b []byte) (uint16, error) {
	if len(b) == 0 || len(b) > 5 || (b[0] == '0' && len(b) > 1) {
		return 0, ErrProxyHeader
	}
	p, err := strconv.ParseUint(string(b), 10, 16)
	return uint16(p), err
}

// parseProxyV2: the 12-byte signature, version and command, family and
// transport, the length of what follows, the addresses, then TLVs (skipped).
func parseProxyV2(buf []byte) (int, netip.AddrPort, error) {
	var src netip.AddrPort
	if len(buf) < 16 {
		return 0, src, nil
	}
	verCmd, fam := buf[12], buf[13]
	size := int(binary.BigEndian.Uint16(buf[14:16]))
	if verCmd>>4 != 2 || size > maxProxyV2Body {
		return 0, src, ErrProxyHeader
	}
	if len(buf) < 16+size {
		return 0, src, nil
	}
	body := buf[16 : 16+size]
	switch verCmd & 0xf {
	case 0: // LOCAL: the proxy's own connection; the addresses are ignored
		return 16 + size, src, nil
	case 1: // PROXY
	default:
		return 0, src, ErrProxyHeader
	}
	switch fam {
	case 0x11: // TCP over IPv4: src, dst, sport, dport
		if size < 12 {
			return 0, src, ErrProxyHeader
		}
		ip := netip.AddrFrom4([4]byte(body[0:4]))
		src = netip.AddrPortFrom(ip, binary.BigEndian.Uint16(body[8:10]))
	case 0x21: // TCP over IPv6
		if size < 36 {
			return 0, src, ErrProxyHeader
		}
		ip := netip.AddrFrom16([16]byte(body[0:16]))
		src = netip.AddrPortFrom(ip, binary.BigEndian.Uint16(body[32:34]))
	case 0x00: // UNSPEC: keep the socket's address
	default: // UDP, unix sockets: not a TCP client
		return 0, src, ErrProxyHeader
	}
	return 16 + size, src, nil
}

// ReadProxyHeader reads one PROXY header from r and not a byte past it (a
// TLS handshake follows it: netio/tlsfront), with the bounds of
// ParseProxyHeader. The caller sets r's deadline.
func ReadProxyHeader(r io.Reader) (netip.AddrPort, error) {
	var buf [MaxProxyHeader]byte
	// The shortest v1 header ("PROXY UNKNOWN\r\n") is 15 bytes and a v2
	// one at least 16: 15 bytes belong to the header either way.
	have, want := 0, 15
	for {
		if _, err := io.ReadFull(r, buf[have:want]); err != nil {
			return netip.AddrPort{}, err
		}
		have = want
		n, src, err := ParseProxyHeader(buf[:have])
		if err != nil || n > 0 {
			return src, err
		}
		switch {
		case buf[0] == 'P': // v1: a byte at a time up to its CRLF
			want = have + 1
		case have < 16:
			want = 16
		default: // v2: the rest is its declared length
			want = 16 + int(binary.BigEndian.Uint16(buf[14:16]))
		}
	}
}
