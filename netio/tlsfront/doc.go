// Package tlsfront terminates TLS in front of ringex's plain gnet servers,
// in the same process. gnet does not speak TLS, so each public TLS listener
// is a Front: a crypto/tls listener on a path of its own whose connections
// are relayed, as plaintext, to the server's own listener on the loopback
// interface. The server's session logic is the same for both paths; it
// never knows TLS is there.
//
// Its invariants:
//
//   - No byte reaches the backend before the handshake succeeded (and the
//     client's certificate was verified, under mutual TLS); a handshake
//     that does not finish within HandshakeTimeout is dropped.
//   - The client's own address is recorded in Peers under the address the
//     backend sees (the front's local end of the loopback connection)
//     before the first byte is relayed, so the server's login, throttled
//     per source address, finds it (auth.PeerResolver).
//   - What the backend writes is relayed as it comes: one read of the
//     loopback socket, however many frames it holds, becomes one TLS
//     write (one record up to 16 KiB), which is how batched acks stay
//     batched under TLS.
//   - Either side closing closes the other. A client that stops reading
//     is dropped after WriteTimeout, so a relay never blocks for ever.
//   - Certificates (and the client CAs) are reloaded without a restart
//     (Certs.Reload); connections keep the ones they shook hands with.
package tlsfront
