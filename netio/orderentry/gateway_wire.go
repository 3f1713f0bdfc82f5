package orderentry

import (
	"time"

	"github.com/ringex/ringex/engine"
	"github.com/ringex/ringex/netio/wire"
)

// The gateway's reason codes are the protocol's (netio/wire).
const (
	ReasonNotLoggedIn     = wire.ReasonNotLoggedIn
	ReasonUnknownType     = wire.ReasonUnknownType
	ReasonBadLength       = wire.ReasonBadLength
	ReasonMalformed       = wire.ReasonMalformed
	ReasonUnknownAsset    = wire.ReasonUnknownAsset
	ReasonBadSide         = wire.ReasonBadSide
	ReasonBadType         = wire.ReasonBadType
	ReasonBadTIF          = wire.ReasonBadTIF
	ReasonBadSTP          = wire.ReasonBadSTP
	ReasonBusy            = wire.ReasonBusy
	ReasonUnavailable     = wire.ReasonUnavailable
	ReasonTooManyInFlight = wire.ReasonTooManyInFlight
	ReasonShuttingDown    = wire.ReasonShuttingDown

	ReasonLoginBadCredentials = wire.LoginBadCredentials
	ReasonLoginVersion        = wire.LoginBadVersion
	ReasonLoginAlready        = wire.LoginAlready
	ReasonLoginRateLimited    = wire.LoginRateLimited

	ReasonLogoutUser          = wire.LogoutUserRequest
	ReasonLogoutBadFrame      = wire.LogoutBadFrame
	ReasonLogoutIdle          = wire.LogoutIdle
	ReasonLogoutShutdown      = wire.LogoutShutdown
	ReasonLogoutTooManyConns  = wire.LogoutTooManyConns
	ReasonLogoutLoginFailures = wire.LogoutLoginFailures
)

func allReasons() []uint16 { return wire.RejectReasons() }

func appendReject(dst []byte, clientID uint64, code uint16) []byte {
	return wire.AppendReject(dst, clientID, code)
}

func appendLogout(dst []byte, reason uint16) []byte { return wire.AppendLogout(dst, reason) }

func appendHeartbeat(dst []byte) []byte { return wire.AppendHeartbeat(dst) }

func appendLoginRejected(dst []byte, reason uint16) []byte {
	return wire.AppendLoginRejected(dst, reason)
}

func appendLoginAccepted(dst []byte, userID uint32) []byte {
	return wire.AppendLoginAccepted(dst, &wire.LoginAccepted{UserID: userID, ServerTime: time.Now().UnixNano()})
}

// appendAck encodes the ack of a journaled command. For a cancel or replace
// the exchange order id is the target's.
func appendAck(dst []byte, c *engine.Command) []byte {
	return wire.AppendOrderAck(dst, &wire.OrderAck{
		ClientOrderID: c.ClientOrderID, OrderID: c.OrderID, Seq: c.Seq, RecvTime: c.Time,
	})
}
