// Package tlsfront is the TLS side of ringex's listeners: each public TLS
// listener is a Front, a Go listener whose connections run their TLS
// handshake (crypto/tls, on the ordinary Go socket, with a deadline) and
// are then handed, socket and all, to their gnet server (Config.Enroll:
// orderentry.Gateway.Enroll, marketdata.Notifier.Enroll). From there the
// server reads and writes the connection's records itself, in its event
// loop and its Outbox (netio/tls.go): nothing is relayed, and the server
// sees the client's own address.
//
// Why the handshake is not done in the event loop: crypto/tls's handshake
// cannot resume after a would-block error, so it needs a goroutine that
// may block; on a Go socket it gets the runtime's poller and deadlines for
// free, and gnet takes the socket over only once it carries records.
//
// Its invariants:
//
//   - No connection reaches its server before the handshake succeeded (and
//     the client's certificate was verified, under mutual TLS); a handshake
//     that does not finish within HandshakeTimeout is dropped.
//   - At most MaxHandshakes handshakes are in progress, and at most
//     MaxHandshakesPerIP from one source IP; past either a connection is
//     closed at once. Completed connections count against their server's
//     own connection limit, like plain ones.
//   - Certificates (and the client CAs) are reloaded without a restart
//     (Certs.Reload); connections keep the ones they shook hands with.
package tlsfront
