// Package engine is ringex's matching engine: one order book per asset and
// the matcher that applies commands to it.
//
// A Book is driven by one goroutine (the asset's matcher stage). Each call to
// Submit applies one journaled Command and returns the Events it caused; the
// book never reads a clock, a random source or anything but the command, so
// the same command sequence always gives the same events, bit for bit. That
// is what makes the input journal a complete record: replaying it through a
// fresh (or restored) book rebuilds the book and its output exactly.
//
// # Rules
//
// Prices and quantities are int64 in the asset's units; a limit price must be
// a multiple of the tick size inside [MinPrice, MaxPrice] and a quantity a
// multiple of the lot size in (0, MaxQty]. Orders match in price-time
// priority; a trade is at the maker's price.
//
// A New command is checked in this order, the first failure rejecting it
// (EvRejected; the book is unchanged): an unknown kind, side, type, time in
// force or STP mode (RejectBadCommand); the quantity (RejectBadQuantity,
// RejectOffLot); for a limit order the price (RejectBadPrice, RejectOffTick);
// an id that is already resting (RejectDuplicateID); a post-only limit order
// that would trade, or any post-only market order, which can only take
// (RejectPostOnlyTake); a FOK order, limit or market, that cannot fill its
// whole quantity at once (RejectFOKUnfillable). Then it matches. What is
// left:
//
//   - market order, GTC or IOC (a FOK one has nothing left but through
//     self-trade prevention): EvCanceled, CancelMarketNoFill; market orders
//     never rest and ignore Price;
//   - IOC (and FOK, which can only be left with a remainder through
//     self-trade prevention): EvCanceled, CancelIOCRemainder;
//   - GTC: rests at the back of its level; EvAccepted with the resting
//     quantity.
//
// An order that fills completely gets EvDone right after its last trade (the
// maker's before the taker's when one trade fills both). Post-only + IOC is
// allowed and never trades; post-only + FOK is always rejected.
//
// FOK is checked against the liquidity at prices the order accepts, not
// counting the taker's own orders when its STP mode is not STPNone. Under
// STPCancelNewest or STPCancelBoth, meeting one of those own orders still
// cancels the FOK remainder (CancelSelfTrade): the check is about liquidity,
// and self-trade prevention then governs.
//
// Self-trade prevention applies when the taker's mode is not STPNone and the
// maker belongs to the taker's user; the taker's mode governs:
//
//   - STPCancelNewest: the taker's remainder is canceled (CancelSelfTrade)
//     and matching stops; the maker is untouched;
//   - STPCancelOldest: the maker is canceled and matching goes on;
//   - STPCancelBoth: the maker, then the taker's remainder, are canceled;
//   - STPDecrementCancel: both are reduced by the smaller open quantity d:
//     an event for the maker then one for the taker, each with Qty = d,
//     Remaining = what is left and Reason CancelSelfTrade. An order that
//     lives on (Remaining > 0) gets EvReduced; one that reaches zero gets
//     EvCanceled and is gone. If the taker is left, matching goes on.
//
// EvCanceled and EvDone always mean the order is gone; every change of a
// live order's open quantity is an event with the new quantity in
// Remaining (EvTrade, EvReduced, EvReplaced, EvAccepted), so a user who
// follows the events of their own orders knows each one's open quantity
// after every command. The reference-model test checks exactly that.
//
// Cancel rejects an unknown id (RejectUnknownOrder), then another user's
// order (RejectNotOwner), and otherwise emits EvCanceled (CancelUser) with
// the canceled quantity.
//
// Replace sets a resting order's price (0 keeps it) and its total open
// quantity. It is checked like New (RejectBadQuantity, RejectOffLot, and if
// Price != 0 RejectBadPrice, RejectOffTick), then RejectUnknownOrder,
// RejectNotOwner. At the same price, a decrease (or no change) keeps the
// order's time priority and an increase sends it to the back of its level.
// A new price always loses priority: a post-only order that would then
// trade is rejected (RejectPostOnlyTake) and left as it was; otherwise the
// order leaves the book, EvReplaced (new price and quantity) is emitted, and
// the order matches as a GTC taker under its own STP mode, resting what is
// left at the back of the new level (no further event: the trades' Remaining
// says what rests) or ending with EvDone or a self-trade cancel. The order
// keeps its id and client order id.
//
// Every command emits at least one event. Event.Time and CmdSeq are the
// command's; Seq is dense per asset. Rejects echo the command's ids, side,
// price and quantity. Events about an order carry its client order id, side
// and price (0 for a market order).
//
// # Design
//
// The hot path allocates nothing in steady state (every benchmark in
// bench_test.go reports 0 allocs/op). Orders and price levels live in slabs
// addressed by int32 index, with free lists (pool.go); each level holds an
// intrusive doubly linked FIFO of its orders, so unlinking an order is O(1).
// Three structures find things:
//
//   - idMap (idmap.go): order id -> order, an open-addressing table with
//     4-byte slots that hold only the order index (the key is the order's
//     id). Cancel and replace are O(1). A lookup costs about a quarter of
//     a Go map[uint64]int32's (BenchmarkIDLookup; figures in
//     docs/performance-engine.md).
//   - ladder (ladder.go): each side's levels in a slice sorted with the best
//     price last. The best price is one load; matching pops levels off the
//     end; creating or removing a level is a search from the top (linear for
//     8 steps, then binary) and a short copy, since new and dying levels are
//     mostly near the top.
//   - priceMap (pricemap.go): price -> level, the same kind of table as
//     idMap. Resting an order or moving it to a price that already has a
//     level (88-99% of rests and moves in the benchmark mixes; only 1-8% of
//     commands create or remove a level) does not search the ladder at all.
//
// The price-level structure was chosen by measurement
// (docs/performance-engine.md has the commands, the runs and the
// figures). Finding a level by price (BenchmarkLevelLookup) is several
// times cheaper with priceMap than by searching the ladder; on the whole
// engine, ladder plus priceMap beat the ladder alone on every mix. A dense
// array indexed by tick in place of priceMap gained nothing on small books,
// lost on the deep one (megabytes of index to keep in cache), and cannot
// cover a band of 10^11 ticks like the default assets' without a second
// structure for prices outside a window. A B-tree was not tried: none is
// among the module's dependencies, and its lookup (a binary search per node
// plus pointer chasing) is at best the ladder's search, which priceMap
// already takes off the common path, while its best-price and pop are no
// cheaper than the end of a slice.
//
// Side-dependent code is written without branches where it runs per command
// (ladders indexed by Side, sideKey's multiply): sides arrive at random, so
// such branches mispredict half the time.
//
// Events and level changes are written into buffers the book reuses; Submit
// returns them as slices owned by the book.
//
// Changes lists each price level a command touched once, with its state
// after the command and the sequence of the event that last changed it (a
// trade's for the maker's level), so that market data can publish
// incremental L2 without diffing the book, each level update with the
// sequence of the event it reports.
//
// Snapshot writes the configuration, the sequences and every resting order
// in priority order; the format is versioned, checksummed and canonical (the
// same book state always encodes to the same bytes). Restore checks every
// invariant and rebuilds an identical book.
//
// # Tests
//
// reference_test.go holds an independent reference book (sorted slices of
// orders, linear scans); TestRandomAgainstReference runs 1 M seeded random
// commands (200 k under the race detector, 5 M with RINGEX_SOAK=1) through
// both, comparing every event, the level changes (with the event each one
// names), the depth and every resting order, following quantities through
// the event stream, replaying each user's own events as their private feed
// and requiring it to hold exactly their resting orders, and restoring
// snapshots at random points and requiring the restored copy to give the same
// events. FuzzBook does the same for command sequences decoded from fuzz
// input.
package engine
