// Package orderentry is ringex's order-entry server (the gateway): traders
// log in and send new orders, cancels and replaces; the gateway admits and
// validates them, publishes them to their asset's input ring and writes an
// OrderAck once the journal holds them. It is the pipeline's AckSink. The
// connection layer under it (gnet shell, login, frame loop, ticker,
// outbox) is package netio's, shared with market data (netio/marketdata).
//
// Invariants:
//
//   - Everything that can be checked without the book (asset, enums, tick,
//     lot, bands, login, in-flight limit, the user's rate) is checked before
//     the ring, with the matcher's own rules (engine.AssetConfig.Check), so
//     the journal holds only commands the matcher can judge.
//   - An OrderAck is written only from the pipeline's ack stage, after the
//     order's journal batch committed. Acks are gathered per connection for
//     each journal batch and written with one write per connection, by the
//     ack goroutine itself when the connection's outbox is idle (no wake-up
//     of any other thread), else queued behind its bytes (netio.Outbox).
//   - A session sees acks and rejects of its own orders only; ownership of
//     cancels and replaces is enforced again by the engine.
//   - A session that does not read its answers is logged out with Logout 7
//     (unread replies) once they pass MaxQueuedBytes; the others keep
//     their latency.
package orderentry
