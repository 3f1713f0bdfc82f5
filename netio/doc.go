// Package netio is ringex's network edge: the connection layer that the
// order-entry gateway (netio/orderentry) and the market-data notifier
// (netio/marketdata) share. Both are gnet event-loop servers that speak
// the protocol of docs/protocol.md (codec in netio/wire).
//
// The layout, and the direction of the imports (no package imports one
// that lists it):
//
//	netio/wire        the codec: frames, messages, reason codes
//	netio             the shared layer (this package): the gnet shell
//	                  (Server: Serve, Ready, Addr, Stop, Accept, Refuse),
//	                  the connection (Conn: Open, Touch, Write, WriteFinal,
//	                  Logout), the PROXY protocol header (proxy.go:
//	                  ProxyTrust, ParseProxyHeader, Server.ExpectProxy),
//	                  the frame loop (Server.Traffic, Frames), the
//	                  frames both answer alike (Conn.BaseFrame), the login
//	                  (LoginRules over package auth's Guard), the heartbeat,
//	                  idle and linger ticker (Server.Tick), the Outbox and
//	                  its global ByteBudget, and the defaults both servers
//	                  share (SetDefaults)
//	netio/orderentry  order entry: admission, validation, acks (imports netio, wire)
//	netio/marketdata  market data: depth, fan-out, resume (imports netio, wire)
//	netio/tlsfront    the TLS listeners of both: accept, handshake, hand over
//	                  (Server.Enroll); the record layer is here (tls.go)
//
// The two services never import each other; what both need lives here,
// and this package imports neither.
//
// Invariants of the shared layer:
//
//   - Every byte a connection sends goes through its Outbox (outbox.go):
//     one queue with a cap, under one mutex, with one state and one
//     flusher at a time, so frames are never split or reordered. A client
//     that does not read is logged out with the service's reason once its
//     queue passes the cap (order entry: Logout 7, market data: Logout 3),
//     and a global budget per server bounds all its queues together.
//   - A frame is decoded in place in the event loop; a malformed one is
//     answered with a Reject carrying a reason (or, if its length cannot be
//     valid, a Logout and a close) and never affects another connection. A
//     partial frame stays in gnet's inbound buffer until the rest arrives.
//   - A connection is logged in by one code on both servers
//     (LoginRules.Login): the guard throttles failures across connections,
//     checks the key, counts the user's sessions and writes the audit log;
//     a key revoked by a reload logs the connection out (Logout 8).
//   - TLS is terminated inside the connection, with no hop: netio/tlsfront
//     runs the handshake on an ordinary Go socket and hands the socket to
//     the server's gnet engine (Server.Enroll); from there the event loop
//     decrypts records as gnet reads them and decodes frames from the
//     plaintext (Traffic), and the Outbox seals each write into records
//     under its mutex, one record per write up to 16 KiB, so an ack batch
//     is one record. The cap and the budget count ciphertext; a write past
//     them is refused before it is sealed, so the stream stays decryptable
//     to the Logout of the cut. A bad record closes its connection alone.
//     The session logic is the same for both; it never knows TLS is there.
//   - A connection from a trusted proxy (Server.Proxy, proxy.go) begins
//     with a PROXY protocol header, which Traffic reads before any frame
//     (a partial one stays buffered like a partial frame) and whose
//     declared client address becomes Conn.Remote; a malformed header, or
//     none within ProxyTimeout, closes the connection alone. A TLS
//     connection's header is read before the handshake (netio/tlsfront)
//     and arrives as TLSConn.Remote. Remote is written only before any
//     other goroutine may read it (the Conn.proxy state).
//   - A connection's heartbeat and idle clocks start at its connect; the
//     ticker (Server.Tick, every TickInterval) reads only atomics and the
//     remote address, never the loop-owned login state.
package netio
