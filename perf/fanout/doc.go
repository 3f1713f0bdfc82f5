// Package fanout measures market-data fan-out: N subscribers of one
// asset's trades channel, a fixed pace of trades, and the delivery latency
// of every trade to every subscriber, from the trade's time (ringexd: the
// taker's gateway receive time; a floor: the trade's generation time) to
// the read that brought it.
//
// A Floor is what ringexd's notifier is compared with: a server of the
// same market-data protocol, in its own process, with nothing behind it,
// that makes passes over its connections on two goroutines and writes
// each one's pending bytes in one write, either as soon as anything is
// pending (Naive) or waiting a window between passes (Coalesce).
//
// # What a run checks
//
// Each subscriber keeps a Check: its trades' count, a running hash of
// their sequences, and the trades that went back (out of order) or, on a
// floor whose trades are numbered without gaps, the sequences skipped.
// After the run every subscriber must have received exactly the trades
// made, each above the previous one, and the same sequence of trades as
// the first subscriber; ringexd's trades channel skips the sequences of
// other events, so there the count, the order and the hash are the check.
//
// # Cheap readers
//
// The subscribers share the machine with the server, so a reader must
// cost far less per delivery than the server does. Each subscriber is one
// goroutine blocked in Read on its socket (Go's netpoller is the epoll
// loop: a goroutine per connection costs a parked goroutine, 8 KiB of
// stack and its read buffer, and wakes only when bytes arrive); one read
// takes everything the socket holds, one clock reading stamps all its
// trades, and their latencies go to one of a few shared recorders under
// one lock per read. A run reports the readers' CPU per delivery next to
// the server's.
package fanout
