// Package netio is ringex's network edge: the order-entry gateway, where
// traders log in and send orders, and the market data notifier, where
// subscribers are told what happened. Both are gnet event-loop servers that
// speak the protocol of docs/protocol.md (codec in netio/wire).
//
// The gateway's invariants:
//
//   - A frame is decoded in place in the event loop; a malformed one is
//     answered with a Reject carrying a reason (or, if its length cannot be
//     valid, a Logout and a close) and never affects another session.
//   - Everything that can be checked without the book (asset, enums, tick,
//     lot, bands, login, in-flight limit) is checked before the ring, so the
//     journal holds only commands the matcher can judge.
//   - An OrderAck is written only from the pipeline's ack stage, after the
//     order's journal batch committed. Acks are gathered per connection for
//     each journal batch and written with one write per connection, by the
//     ack goroutine itself when the connection's outbox is idle (no wake-up
//     of any other thread), else queued behind its bytes (outbox.go).
//
// Both servers:
//
//   - Every byte a connection sends goes through its Outbox (outbox.go):
//     one queue with a cap, under one mutex, with one state and one
//     flusher at a time, so frames are never split or reordered. A client
//     that does not read is logged out with a reason once its queue passes
//     the cap (order entry: Logout 7, market data: Logout 3), and a global
//     budget bounds all queues together.
//   - The gnet shell (start, readiness, address, stop) and the login are
//     one code for both (server.go).
//   - A session sees acks and rejects of its own orders only; ownership of
//     cancels and replaces is enforced again by the engine.
package netio
