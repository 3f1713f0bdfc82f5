// Package marketdata is ringex's market-data server (the notifier).
// Subscribers connect to their own port, log in (only for private order
// events) and subscribe per asset to trades, the L2 book (a snapshot, then
// level updates) and the best bid and offer, and to the events of their
// own orders. The notifier is the pipeline's
// OutputSink: each asset's notifier goroutine hands it ranges of the
// output ring. The connection layer under it (gnet shell, login, frame
// loop, ticker, outbox) is package netio's, shared with order entry
// (netio/orderentry).
//
// Invariants:
//
//   - The matcher is never slowed by a subscriber. The notifier goroutine
//     does work proportional to the events of a batch and the number of
//     event loops, not to the number of subscribers (see notifier_loop.go),
//     and never waits on a socket, an event loop or a subscription change.
//     Each connection's unsent bytes are bounded (MaxQueuedBytes, and
//     MaxQueuedTotal for all); past the bound it is sent Logout(slow
//     consumer) and closed, and no other connection notices. Each event
//     loop's undelivered output is bounded too (MaxLoopQueue): past it
//     the loop's public data is conflated (notifier_loop.go).
//   - Each public message is encoded once per asset and channel and written
//     to every subscriber from the same bytes.
//   - The book snapshot and the level updates after it come from the same
//     depth picture, changed only by the output ring's level changes under
//     the asset's lock, so snapshot plus updates is the book.
//   - A user's private events go only to connections logged in as that
//     user; an unauthenticated connection gets public channels only.
//   - A resume delivers every private event after the client's sequence
//     exactly once and in order: the journal's first, then the live ones
//     (see notifier_resume.go).
package marketdata
