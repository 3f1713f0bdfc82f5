// Package client is the Go client of ringex (docs/protocol.md): Session
// speaks the order-entry protocol and Feed the market-data protocol. The
// CLI (cmd/ringex) and the load generator (cmd/ringex-load) are built on
// it.
//
// A Session pipelines. NewOrder, Cancel and Replace only append the request
// to a send buffer, Flush writes what is buffered in one write, and a
// reader goroutine hands every answer to the Handler, in the order the
// server sent them. Nothing on that path allocates, so a load generator can
// keep thousands of requests in flight from one goroutine. PlaceSync,
// CancelSync and ReplaceSync send one request and wait for its answer
// instead, for interactive use; a refusal comes back as a *RejectError.
//
// A Feed subscribes to an asset's public channels (trades, book, best bid
// and offer) and, after a login, to the user's own order events, and hands
// each message to a FeedHandler on its reader goroutine.
//
// Both keep their connection alive on their own: they send a Heartbeat
// every Options.Heartbeat and end the connection with ErrIdleTimeout if the
// server (which also sends heartbeats when it has nothing to say) is silent
// for Options.IdleTimeout. When a connection ends, for any reason, Done is
// closed, Err says why (a *LogoutError if the server logged out), pending
// synchronous calls fail with that error, and a handler that implements
// LogoutHandler is told once.
package client
