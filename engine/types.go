package engine

// This file holds the value types that cross the engine's boundary: the
// commands that come in (already journaled, with their time and ids) and the
// events that go out. Both are fixed-size structs with no pointers so that a
// ring slot can hold one in place and a journal record can encode one without
// reflection.

// Side is the side of an order.
type Side uint8

const (
	Buy  Side = 1
	Sell Side = 2
)

// OrderType says whether an order has a limit price.
type OrderType uint8

const (
	Limit  OrderType = 1
	Market OrderType = 2
)

// TimeInForce says how long an order may rest.
type TimeInForce uint8

const (
	GTC TimeInForce = 1 // good till canceled: the remainder rests
	IOC TimeInForce = 2 // immediate or cancel: the remainder is canceled
	FOK TimeInForce = 3 // fill or kill: fills completely at once or not at all
)

// STPMode is the self-trade-prevention mode. The taker's mode governs.
type STPMode uint8

const (
	STPNone            STPMode = 0 // users may trade with themselves
	STPCancelNewest    STPMode = 1 // cancel the taker's remainder
	STPCancelOldest    STPMode = 2 // cancel the resting (maker) order and go on matching
	STPCancelBoth      STPMode = 3 // cancel both
	STPDecrementCancel STPMode = 4 // reduce both by the smaller quantity; cancel what reaches zero
	numSTPModes                = 5
)

// CommandKind selects what a Command does.
type CommandKind uint8

const (
	CmdNew     CommandKind = 1
	CmdCancel  CommandKind = 2
	CmdReplace CommandKind = 3
)

// Command is one instruction to the matcher. Everything that varies between
// runs (Time, OrderID, Seq) is assigned before the command is journaled, so
// replaying the journal gives the same events bit for bit.
type Command struct {
	Seq           uint64 // input journal sequence of this command (per asset, from 1)
	Time          int64  // gateway receive time, Unix nanoseconds
	OrderID       uint64 // New: the new order's exchange id; Cancel/Replace: the target order
	ClientOrderID uint64 // the sender's own id, echoed in events
	UserID        uint32
	Kind          CommandKind
	Side          Side
	Type          OrderType
	TIF           TimeInForce
	STP           STPMode
	PostOnly      bool
	Price         int64 // price units; a multiple of the asset's tick size (ignored for Market)
	Qty           int64 // quantity units; a multiple of the asset's lot size
}

// EventKind says what happened.
type EventKind uint8

const (
	EvAccepted EventKind = 1 // a New order rested on the book (after any fills)
	EvTrade    EventKind = 2 // a taker matched a resting maker
	EvCanceled EventKind = 3 // an order left the book (or never rested) for Reason
	EvReplaced EventKind = 4 // an order's price and/or quantity changed
	EvRejected EventKind = 5 // a command was refused for Reason; the book is unchanged
	EvDone     EventKind = 6 // an order is fully filled and gone
	// EvReduced: self-trade prevention (STPDecrementCancel) took Qty off
	// an order that lives on with Remaining > 0, resting or still
	// matching. Reason is CancelSelfTrade. An order that reaches zero
	// gets EvCanceled instead, so EvCanceled always means the order is
	// gone.
	EvReduced EventKind = 7
)

// CancelReason says why an order was canceled (EvCanceled.Reason).
type CancelReason uint8

const (
	CancelUser         CancelReason = 1
	CancelIOCRemainder CancelReason = 2
	CancelSelfTrade    CancelReason = 3
	CancelMarketNoFill CancelReason = 4 // a market order's unfilled remainder
)

// RejectReason says why a command was refused (EvRejected.Reason). The same
// numbers are used on the wire; the gateway adds its own codes from 100 up.
type RejectReason uint8

const (
	RejectBadPrice      RejectReason = 1  // zero, negative, or outside the asset's band
	RejectOffTick       RejectReason = 2  // not a multiple of the tick size
	RejectBadQuantity   RejectReason = 3  // zero, negative, or above the maximum
	RejectOffLot        RejectReason = 4  // not a multiple of the lot size
	RejectUnknownOrder  RejectReason = 5  // no resting order with that id
	RejectNotOwner      RejectReason = 6  // the order belongs to another user
	RejectFOKUnfillable RejectReason = 7  // a FOK order could not fill completely
	RejectPostOnlyTake  RejectReason = 8  // a post-only order would have taken liquidity
	RejectDuplicateID   RejectReason = 9  // an order with that id is already resting
	RejectBadCommand    RejectReason = 10 // unknown kind, side, type, TIF or STP mode
)

// Event is one output of the matcher. Seq is the asset's event sequence,
// dense and increasing from 1; CmdSeq ties the event to the command that
// caused it. Fields not meaningful for a Kind are zero.
type Event struct {
	Seq           uint64 // per-asset event sequence
	CmdSeq        uint64 // the input sequence of the causing command
	Time          int64  // the causing command's Time
	OrderID       uint64 // the order concerned; for EvTrade, the taker
	ClientOrderID uint64 // the order's client id (taker's, for EvTrade)
	UserID        uint32 // the order's owner (taker's, for EvTrade)
	Kind          EventKind
	Side          Side  // the order's side; for EvTrade, the aggressor (taker) side
	Reason        uint8 // CancelReason or RejectReason
	Price         int64 // Accepted/Replaced: the order's price; Trade: the maker's price
	Qty           int64 // Trade: traded quantity; Canceled/Reduced: quantity taken off; Accepted/Replaced: resting quantity
	Remaining     int64 // the order's open quantity after this event (taker's for EvTrade)

	// Trade only: the maker side of the match.
	MakerOrderID       uint64
	MakerClientOrderID uint64
	MakerUserID        uint32
	MakerRemaining     int64
}

// AssetConfig describes one tradable asset. Prices and quantities are
// integers in the asset's own units; TickSize and LotSize are the smallest
// steps.
type AssetConfig struct {
	Symbol   string
	TickSize int64
	LotSize  int64
	MinPrice int64
	MaxPrice int64
	MaxQty   int64
}
