package netio

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"time"
)

// TLS inside the connection. A TLS connection is accepted and its
// handshake run by netio/tlsfront on an ordinary Go socket (crypto/tls's
// handshake blocks, and is not resumable after a would-block error); then
// the socket is handed to the server's gnet engine (Server.Enroll) with its
// TLSConn, and from there on its records are made and read with no hop:
//
//   - Reading, in the event loop (Server.Traffic): the ciphertext gnet
//     read is handed to the tls.Conn through a transport whose Read returns
//     a temporary net.Error when it has nothing more. crypto/tls keeps a
//     partial record in its own input buffer and does not make a temporary
//     error sticky (readRecordOrCCS), so the next OnTraffic goes on where
//     this one stopped. The plaintext goes to a per-connection buffer
//     (TLSConn.plain) and frames are decoded from it in place, as from
//     gnet's buffer on a plain connection.
//   - Writing, from any goroutine, under the Outbox's mutex: a write is
//     sealed into TLS records (one record per 16 KiB of it, so an ack batch
//     or a gathered market-data write is one record), and the records go
//     to the socket or the queue as a plain write's bytes do. The cap and
//     the budget count the queued ciphertext.
//   - What crypto/tls writes on its own while reading (the answer to a
//     client's KeyUpdate, an alert on a bad record) is appended to the same
//     ciphertext buffer under the tls.Conn's write lock, in record order;
//     the event loop hands it to the Outbox after the read (or the next
//     seal takes it first). So a record sealed with the new keys never
//     reaches the socket before the KeyUpdate that announced them.
//
// Lock order: Outbox.mu, then the tls.Conn's write lock, then tlsPipe.mu.
// The event loop's reads take the tls.Conn's read lock, then (for a
// KeyUpdate or an alert) its write lock and tlsPipe.mu; never Outbox.mu
// while it holds either.
type TLSConn struct {
	// Remote, if set before Enroll, is the client's address a PROXY
	// header declared before the handshake (netio/tlsfront): the
	// connection's Remote instead of the socket's.
	Remote string

	tc    *tls.Conn
	pipe  *tlsPipe
	plain []byte // event loop: decrypted bytes not yet decoded (a partial frame)
}

// NewTLS makes the server side of a TLS connection over raw. The handshake
// (Handshake) reads and writes raw; Detach then turns the connection over
// to an event loop.
func NewTLS(raw net.Conn, cfg *tls.Config) *TLSConn {
	p := &tlsPipe{raw: raw, local: raw.LocalAddr(), remote: raw.RemoteAddr()}
	return &TLSConn{tc: tls.Server(p, cfg), pipe: p}
}

// Handshake runs the TLS handshake on the raw socket.
func (t *TLSConn) Handshake(ctx context.Context) error { return t.tc.HandshakeContext(ctx) }

// ConnectionState is the handshake's outcome.
func (t *TLSConn) ConnectionState() tls.ConnectionState { return t.tc.ConnectionState() }

// Detach ends the use of the raw socket, after a successful handshake:
// from now on the record layer reads what Server.Traffic gives it and
// writes to its ciphertext buffer. Bytes crypto/tls read ahead during the
// handshake (a client's first records, sent behind its Finished) stay in
// its input buffer and are decrypted by the first Traffic, which OnOpen
// asks for (gnet's Wake) so that they are not left waiting for more input.
func (t *TLSConn) Detach() { t.pipe.raw = nil }

// errWouldBlock is what the pipe's Read returns when the event loop has
// given it nothing more: a temporary net.Error, which crypto/tls returns
// to its caller without recording it (conn.go, readRecordOrCCS).
var errWouldBlock error = wouldBlock{}

type wouldBlock struct{}

func (wouldBlock) Error() string   { return "netio: TLS input would block" }
func (wouldBlock) Timeout() bool   { return false }
func (wouldBlock) Temporary() bool { return true }

// tlsPipe is the tls.Conn's transport: the raw socket during the
// handshake, then the event loop's ciphertext (src) for reading and a
// buffer (out) for writing.
type tlsPipe struct {
	raw           net.Conn // until Detach; only the handshake's goroutine uses it
	local, remote net.Addr

	src []byte // event loop: ciphertext not yet read by crypto/tls

	mu    sync.Mutex
	out   []byte // records crypto/tls wrote, not yet handed to the Outbox
	spare []byte // the other buffer: out and spare alternate (takeOut, recycle)
}

func (p *tlsPipe) Read(b []byte) (int, error) {
	if p.raw != nil {
		return p.raw.Read(b)
	}
	if len(p.src) == 0 {
		return 0, errWouldBlock
	}
	n := copy(b, p.src)
	p.src = p.src[n:]
	return n, nil
}

// Write is called by crypto/tls with its write lock held, so records are
// appended in the order they were sealed.
func (p *tlsPipe) Write(b []byte) (int, error) {
	if p.raw != nil {
		return p.raw.Write(b)
	}
	p.mu.Lock()
	p.out = append(p.out, b...)
	p.mu.Unlock()
	return len(b), nil
}

// Close is called by crypto/tls when a handshake's context ends: it closes
// the raw socket, which ends the handshake's blocked read. After Detach
// the socket belongs to gnet and Close does nothing.
func (p *tlsPipe) Close() error {
	if p.raw != nil {
		return p.raw.Close()
	}
	return nil
}

func (p *tlsPipe) LocalAddr() net.Addr  { return p.local }
func (p *tlsPipe) RemoteAddr() net.Addr { return p.remote }

func (p *tlsPipe) SetDeadline(d time.Time) error {
	if p.raw != nil {
		return p.raw.SetDeadline(d)
	}
	return nil
}

func (p *tlsPipe) SetReadDeadline(d time.Time) error {
	if p.raw != nil {
		return p.raw.SetReadDeadline(d)
	}
	return nil
}

func (p *tlsPipe) SetWriteDeadline(d time.Time) error {
	if p.raw != nil {
		return p.raw.SetWriteDeadline(d)
	}
	return nil
}

// keptSealBuf is the largest ciphertext buffer a connection keeps between
// writes.
const keptSealBuf = 32 << 10

// takeOut returns the records written so far and gives the pipe the spare
// buffer. Only a holder of the Outbox's mutex calls it, and gives the
// buffer back with recycle before it lets the mutex go.
func (p *tlsPipe) takeOut() []byte {
	p.mu.Lock()
	b := p.out
	p.out, p.spare = p.spare[:0], nil
	p.mu.Unlock()
	return b
}

func (p *tlsPipe) recycle(b []byte) {
	if cap(b) > keptSealBuf {
		return
	}
	p.mu.Lock()
	if p.spare == nil {
		p.spare = b[:0]
	}
	p.mu.Unlock()
}

// pending reports whether crypto/tls wrote records that no seal has taken
// (a KeyUpdate's answer, an alert).
func (p *tlsPipe) pending() bool {
	p.mu.Lock()
	n := len(p.out)
	p.mu.Unlock()
	return n > 0
}

// seal encrypts b into records and returns them, with close_notify behind
// them if final. The caller holds the Outbox's mutex and recycles the
// result.
func (t *TLSConn) seal(b []byte, final bool) ([]byte, error) {
	if len(b) > 0 {
		if _, err := t.tc.Write(b); err != nil {
			return nil, err
		}
	}
	if final {
		// close_notify: the client reads the end of the stream as an
		// orderly one. An error here (the connection's write side
		// failed before) leaves the records sealed so far.
		_ = t.tc.CloseWrite()
	}
	return t.pipe.takeOut(), nil
}

// SealFinal seals b and a close_notify for a connection that has no
// Outbox (refused in OnOpen: gnet writes the bytes it returns).
func (t *TLSConn) SealFinal(b []byte) []byte {
	out, err := t.seal(b, true)
	if err != nil {
		return nil
	}
	return out
}

// sealedMax bounds the ciphertext of n bytes of plaintext: a record per
// 16 KiB, each with at most 64 bytes of header, nonce, MAC and padding (the
// worst is TLS 1.2's CBC suites: 5 + 16 + 20 + 16).
func sealedMax(n int) int { return n + (n/(16<<10)+1)*64 }

// Minimum free room in the plaintext buffer before a read: well above a
// whole frame (wire.MaxInboundFrame), so a partial frame always fits.
const (
	plainMinRoom = 1 << 10
	plainSize    = 4 << 10
	plainKept    = 64 << 10
)

// readPlain decrypts into t.plain what the records given so far hold, up to
// its free room, and reports how many plaintext bytes it added. err is nil
// when crypto/tls needs more input (the ciphertext given is all consumed or
// held as a partial record), io.EOF on the client's close_notify, and the
// record layer's error otherwise (an alert to the client may be pending:
// flushTLS). Event loop only.
func (t *TLSConn) readPlain() (int, error) {
	if cap(t.plain)-len(t.plain) < plainMinRoom {
		grown := make([]byte, len(t.plain), max(plainSize, 2*cap(t.plain)))
		copy(grown, t.plain)
		t.plain = grown
	}
	n, err := t.tc.Read(t.plain[len(t.plain):cap(t.plain)])
	t.plain = t.plain[:len(t.plain)+n]
	if errors.Is(err, errWouldBlock) {
		err = nil
	}
	return n, err
}

// consumePlain drops the first n plaintext bytes (whole frames decoded).
func (t *TLSConn) consumePlain(n int) {
	if n == 0 {
		return
	}
	k := copy(t.plain, t.plain[n:])
	t.plain = t.plain[:k]
	if k == 0 && cap(t.plain) > plainKept {
		t.plain = nil
	}
}
