package wire

// Reject reason codes. 1-10 are the matching engine's (engine.RejectReason,
// same numbers); from 100 up they are the gateway's.
const (
	ReasonBadPrice      uint16 = 1
	ReasonOffTick       uint16 = 2
	ReasonBadQuantity   uint16 = 3
	ReasonOffLot        uint16 = 4
	ReasonUnknownOrder  uint16 = 5
	ReasonNotOwner      uint16 = 6
	ReasonFOKUnfillable uint16 = 7
	ReasonPostOnlyTake  uint16 = 8
	ReasonDuplicateID   uint16 = 9
	ReasonBadCommand    uint16 = 10

	ReasonUnknownAsset    uint16 = 100
	ReasonBadSide         uint16 = 101
	ReasonBadType         uint16 = 102
	ReasonBadTIF          uint16 = 103
	ReasonBadSTP          uint16 = 104
	ReasonNotLoggedIn     uint16 = 105
	ReasonUnknownType     uint16 = 106
	ReasonBadLength       uint16 = 107
	ReasonBusy            uint16 = 108
	ReasonUnavailable     uint16 = 109
	ReasonTooManyInFlight uint16 = 110
	ReasonShuttingDown    uint16 = 111
	ReasonMalformed       uint16 = 112
)

// Login reject reasons (LoginRejected).
const (
	LoginBadCredentials uint16 = 1
	LoginBadVersion     uint16 = 2
	LoginAlready        uint16 = 3
	LoginRateLimited    uint16 = 4
)

// Logout reasons (server to client).
const (
	LogoutUserRequest   uint16 = 0
	LogoutBadFrame      uint16 = 1
	LogoutIdle          uint16 = 2
	LogoutSlowConsumer  uint16 = 3
	LogoutShutdown      uint16 = 4
	LogoutTooManyConns  uint16 = 5
	LogoutLoginFailures uint16 = 6
)

// Cancel reasons in order events: engine.CancelReason.
const (
	CancelUser         uint8 = 1
	CancelIOCRemainder uint8 = 2
	CancelSelfTrade    uint8 = 3
	CancelMarketNoFill uint8 = 4
)

var reasonTexts = map[uint16]string{
	ReasonBadPrice:        "bad price",
	ReasonOffTick:         "price off tick",
	ReasonBadQuantity:     "bad quantity",
	ReasonOffLot:          "quantity off lot",
	ReasonUnknownOrder:    "unknown order",
	ReasonNotOwner:        "not owner",
	ReasonFOKUnfillable:   "FOK unfillable",
	ReasonPostOnlyTake:    "post-only would take",
	ReasonDuplicateID:     "duplicate order id",
	ReasonBadCommand:      "bad command",
	ReasonUnknownAsset:    "unknown asset",
	ReasonBadSide:         "bad side",
	ReasonBadType:         "bad order type",
	ReasonBadTIF:          "bad time in force",
	ReasonBadSTP:          "bad self-trade prevention mode",
	ReasonNotLoggedIn:     "not logged in",
	ReasonUnknownType:     "unknown message type",
	ReasonBadLength:       "wrong length for message type",
	ReasonBusy:            "busy: try again",
	ReasonUnavailable:     "unavailable: journal failed",
	ReasonTooManyInFlight: "too many orders in flight",
	ReasonShuttingDown:    "server shutting down",
	ReasonMalformed:       "malformed field",
}

// ReasonText is the short text of a reject reason code.
func ReasonText(code uint16) string { return textOf(reasonTexts, code) }

// RejectReasons lists every reject reason code, in order.
func RejectReasons() []uint16 {
	return []uint16{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112}
}

var logoutTexts = map[uint16]string{
	LogoutUserRequest:   "user request",
	LogoutBadFrame:      "bad frame length",
	LogoutIdle:          "idle timeout",
	LogoutSlowConsumer:  "slow consumer",
	LogoutShutdown:      "server shutdown",
	LogoutTooManyConns:  "too many connections",
	LogoutLoginFailures: "too many failed logins",
}

// LogoutText is the meaning of a logout reason.
func LogoutText(code uint16) string { return textOf(logoutTexts, code) }

var loginTexts = map[uint16]string{
	LoginBadCredentials: "bad user or API key",
	LoginBadVersion:     "unsupported protocol version",
	LoginAlready:        "already logged in",
	LoginRateLimited:    "too many failed logins",
}

// LoginText is the meaning of a login reject reason.
func LoginText(code uint16) string { return textOf(loginTexts, code) }

func textOf(texts map[uint16]string, code uint16) string {
	if s, ok := texts[code]; ok {
		return s
	}
	return "unknown reason"
}
