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
// that would trade (RejectPostOnlyTake); a FOK order that cannot fill
// (RejectFOKUnfillable). Then it matches. What is left:
//
//   - market order (any time in force): EvCanceled, CancelMarketNoFill;
//     market orders never rest and ignore Price and PostOnly;
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
//     an EvCanceled for the maker then one for the taker, each with Qty = d
//     and Remaining = what is left. An EvCanceled with Remaining > 0 is such
//     a partial cancel: the order lives on. Whichever reaches zero is gone;
//     if the taker is left, matching goes on.
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
// The hot path allocates nothing in steady state. Orders and price levels
// live in slabs addressed by int32 index, with free lists (pool.go); each
// level holds an intrusive doubly linked FIFO of its orders; an
// open-addressing hash table maps order ids to slots (idmap.go), so cancel
// is O(1); each side keeps its levels in a slice sorted with the best price
// last (ladder.go), so the best price is one load and the levels that change
// most are the cheapest to insert and remove. Events and level changes are
// written into buffers the book reuses.
//
// Changes lists each price level a command touched once, with its state
// after the command, so that market data can publish incremental L2 without
// diffing the book.
//
// Snapshot writes the configuration, the sequences and every resting order
// in priority order; the format is versioned, checksummed and canonical (the
// same book state always encodes to the same bytes). Restore rebuilds an
// identical book.
package engine
