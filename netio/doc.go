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
//     ack goroutine itself when the socket takes it (no event-loop wake-up
//     at all), else handed to the loop in order (session_writer.go).
//   - A session sees acks and rejects of its own orders only; ownership of
//     cancels and replaces is enforced again by the engine.
package netio
