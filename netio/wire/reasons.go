package wire

// Reject reason codes (Reject.Reason). 1-10 are the matching engine's
// (engine.RejectReason, same numbers); the gateway checks 1-4 itself before
// journaling and the matcher decides 5-10. From 100 up they are the
// gateway's own.
const (
	ReasonBadPrice      uint16 = 1  // zero, negative or outside the band
	ReasonOffTick       uint16 = 2  // not a multiple of the tick size
	ReasonBadQuantity   uint16 = 3  // zero, negative or above the maximum
	ReasonOffLot        uint16 = 4  // not a multiple of the lot size
	ReasonUnknownOrder  uint16 = 5  // no resting order with that id
	ReasonNotOwner      uint16 = 6  // the order belongs to another user
	ReasonFOKUnfillable uint16 = 7  // a FOK order could not fill completely
	ReasonPostOnlyTake  uint16 = 8  // a post-only order would have taken
	ReasonDuplicateID   uint16 = 9  // an order with that id is resting
	ReasonBadCommand    uint16 = 10 // unknown kind, side, type, TIF or STP

	ReasonUnknownAsset    uint16 = 100 // no asset with that symbol
	ReasonBadSide         uint16 = 101 // side not 1 or 2
	ReasonBadType         uint16 = 102 // order type not 1 or 2
	ReasonBadTIF          uint16 = 103 // time in force not 1, 2 or 3
	ReasonBadSTP          uint16 = 104 // self-trade prevention mode above 4
	ReasonNotLoggedIn     uint16 = 105 // a request before a successful Login
	ReasonUnknownType     uint16 = 106 // a message type clients do not send
	ReasonBadLength       uint16 = 107 // frame length wrong for its type
	ReasonBusy            uint16 = 108 // the asset's input ring stayed full
	ReasonUnavailable     uint16 = 109 // the asset's journal failed
	ReasonTooManyInFlight uint16 = 110 // the session's unacknowledged limit
	ReasonShuttingDown    uint16 = 111 // the server is draining
	ReasonMalformed       uint16 = 112 // a field value the format forbids
	ReasonRateLimited     uint16 = 113 // the user's request rate limit (all its sessions together)
)

// RejectReasons lists every reject reason code, in increasing order.
func RejectReasons() []uint16 {
	return []uint16{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112, 113}
}

// ReasonText is the short text of a reject reason code, at most
// RejectTextLen bytes: the text a Reject carries.
func ReasonText(code uint16) string {
	switch code {
	case ReasonBadPrice:
		return "bad price"
	case ReasonOffTick:
		return "price off tick"
	case ReasonBadQuantity:
		return "bad quantity"
	case ReasonOffLot:
		return "quantity off lot"
	case ReasonUnknownOrder:
		return "unknown order"
	case ReasonNotOwner:
		return "not owner"
	case ReasonFOKUnfillable:
		return "FOK unfillable"
	case ReasonPostOnlyTake:
		return "post-only would take"
	case ReasonDuplicateID:
		return "duplicate order id"
	case ReasonBadCommand:
		return "bad command"
	case ReasonUnknownAsset:
		return "unknown asset"
	case ReasonBadSide:
		return "bad side"
	case ReasonBadType:
		return "bad order type"
	case ReasonBadTIF:
		return "bad time in force"
	case ReasonBadSTP:
		return "bad self-trade prevention mode"
	case ReasonNotLoggedIn:
		return "not logged in"
	case ReasonUnknownType:
		return "unknown message type"
	case ReasonBadLength:
		return "wrong length for message type"
	case ReasonBusy:
		return "busy: try again"
	case ReasonUnavailable:
		return "unavailable: journal failed"
	case ReasonTooManyInFlight:
		return "too many orders in flight"
	case ReasonShuttingDown:
		return "server shutting down"
	case ReasonMalformed:
		return "malformed field"
	case ReasonRateLimited:
		return "rate limited"
	}
	return "unknown reason"
}

// Login reject reasons (LoginRejected).
const (
	LoginBadCredentials  uint16 = 1 // no such user, or a wrong API key
	LoginBadVersion      uint16 = 2 // the protocol version is not Version
	LoginAlready         uint16 = 3 // the session is already logged in
	LoginRateLimited     uint16 = 4 // too many failed logins: the server closes
	LoginTooManySessions uint16 = 5 // the user holds its maximum of order-entry sessions
)

// LoginReasons lists every login reject reason, in increasing order.
func LoginReasons() []uint16 { return []uint16{1, 2, 3, 4, 5} }

// LoginText is the meaning of a login reject reason.
func LoginText(code uint16) string {
	switch code {
	case LoginBadCredentials:
		return "bad user or API key"
	case LoginBadVersion:
		return "unsupported protocol version"
	case LoginAlready:
		return "already logged in"
	case LoginRateLimited:
		return "too many failed logins"
	case LoginTooManySessions:
		return "too many sessions"
	}
	return "unknown reason"
}

// Logout reasons (Logout from the server; a client sends 0).
const (
	LogoutUserRequest   uint16 = 0 // the client asked (the server's answer)
	LogoutBadFrame      uint16 = 1 // a frame length that cannot be valid
	LogoutIdle          uint16 = 2 // nothing received for the idle timeout
	LogoutSlowConsumer  uint16 = 3 // the outbound queue passed its limit
	LogoutShutdown      uint16 = 4 // the server is shutting down
	LogoutTooManyConns  uint16 = 5 // the server's connection limit
	LogoutLoginFailures uint16 = 6 // too many failed logins
	LogoutUnreadReplies uint16 = 7 // order entry: the client does not read its acks and rejects
	LogoutKeyRevoked    uint16 = 8 // the session's API key (or its user) was revoked
)

// LogoutReasons lists every logout reason, in increasing order.
func LogoutReasons() []uint16 { return []uint16{0, 1, 2, 3, 4, 5, 6, 7, 8} }

// LogoutText is the meaning of a logout reason.
func LogoutText(code uint16) string {
	switch code {
	case LogoutUserRequest:
		return "user request"
	case LogoutBadFrame:
		return "bad frame length"
	case LogoutIdle:
		return "idle timeout"
	case LogoutSlowConsumer:
		return "slow consumer"
	case LogoutShutdown:
		return "server shutdown"
	case LogoutTooManyConns:
		return "too many connections"
	case LogoutLoginFailures:
		return "too many failed logins"
	case LogoutUnreadReplies:
		return "unread replies"
	case LogoutKeyRevoked:
		return "key revoked"
	}
	return "unknown reason"
}

// Subscription reject reasons (SubRejected).
const (
	SubUnknownAsset uint16 = 1 // no asset with that symbol
	SubNotLoggedIn  uint16 = 2 // a private channel, or Resume, without a login
	SubBadChannels  uint16 = 3 // no channel bit, or an undefined one
	SubUnavailable  uint16 = 4 // resume: the journal cannot be read now
	SubResumeTooOld uint16 = 5 // resume: the events were pruned
)

// SubReasons lists every subscription reject reason, in increasing order.
func SubReasons() []uint16 { return []uint16{1, 2, 3, 4, 5} }

// SubText is the meaning of a subscription reject reason.
func SubText(code uint16) string {
	switch code {
	case SubUnknownAsset:
		return "unknown asset"
	case SubNotLoggedIn:
		return "not logged in"
	case SubBadChannels:
		return "bad channels"
	case SubUnavailable:
		return "unavailable"
	case SubResumeTooOld:
		return "events no longer in the journal"
	}
	return "unknown reason"
}

// Cancel reasons in order events of kind OrderCanceled: engine.CancelReason.
const (
	CancelUser         uint8 = 1 // a Cancel request
	CancelIOCRemainder uint8 = 2 // the unfilled rest of an IOC order
	CancelSelfTrade    uint8 = 3 // self-trade prevention
	CancelMarketNoFill uint8 = 4 // the unfilled rest of a market order
)

// CancelReasons lists every cancel reason, in increasing order.
func CancelReasons() []uint8 { return []uint8{1, 2, 3, 4} }

// CancelText is the meaning of a cancel reason.
func CancelText(code uint8) string {
	switch code {
	case CancelUser:
		return "user request"
	case CancelIOCRemainder:
		return "IOC remainder"
	case CancelSelfTrade:
		return "self-trade prevention"
	case CancelMarketNoFill:
		return "market order remainder"
	}
	return "unknown reason"
}

// Order event kinds (OrderEvent.Kind): engine.EventKind.
const (
	OrderAccepted uint8 = 1 // rested on the book
	OrderFilled   uint8 = 2 // a fill (partial unless Remaining is 0)
	OrderCanceled uint8 = 3 // left the book or never rested; Reason says why
	OrderReplaced uint8 = 4 // price and/or quantity changed
	OrderRejected uint8 = 5 // refused by the matcher; Reason is a reject code
	OrderDone     uint8 = 6 // fully filled and gone
	OrderReduced  uint8 = 7 // open quantity reduced (self-trade prevention); still live
)

// OrderKinds lists every order event kind, in increasing order.
func OrderKinds() []uint8 { return []uint8{1, 2, 3, 4, 5, 6, 7} }

// OrderKindText is the name of an order event kind.
func OrderKindText(kind uint8) string {
	switch kind {
	case OrderAccepted:
		return "accepted"
	case OrderFilled:
		return "filled"
	case OrderCanceled:
		return "canceled"
	case OrderReplaced:
		return "replaced"
	case OrderRejected:
		return "rejected"
	case OrderDone:
		return "done"
	case OrderReduced:
		return "reduced"
	}
	return "unknown kind"
}
