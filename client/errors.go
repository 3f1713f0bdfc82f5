package client

import (
	"errors"
	"fmt"

	"github.com/ringex/ringex/netio/wire"
)

// ErrClosed is the error of a session closed by its own side (Close or
// Logout), and of calls made after that.
var ErrClosed = errors.New("client: session closed")

// ErrIdleTimeout ends a connection on which the server sent nothing, not
// even a heartbeat, for Options.IdleTimeout.
var ErrIdleTimeout = errors.New("client: server silent for the idle timeout")

// RejectError is a request refused by the exchange: Code is the reject
// reason (wire.ReasonXxx) and Text the server's short text for it.
type RejectError struct {
	ClientOrderID uint64
	Code          uint16
	Text          string
}

func (e *RejectError) Error() string {
	return fmt.Sprintf("rejected: %s (code %d)", e.Text, e.Code)
}

// Retryable reports whether the same request may succeed if sent again
// later unchanged: the server was busy, the session had too many requests
// in flight, or its rate was limited.
func (e *RejectError) Retryable() bool {
	switch e.Code {
	case wire.ReasonBusy, wire.ReasonTooManyInFlight, wire.ReasonRateLimited:
		return true
	}
	return false
}

// LoginError is a refused login; Code is a wire.LoginXxx reason.
type LoginError struct{ Code uint16 }

func (e *LoginError) Error() string {
	return fmt.Sprintf("login rejected: %s (code %d)", wire.LoginText(e.Code), e.Code)
}

// LogoutError ends a connection the server logged out; Code is a
// wire.LogoutXxx reason.
type LogoutError struct{ Code uint16 }

func (e *LogoutError) Error() string {
	return fmt.Sprintf("logged out by server: %s (code %d)", wire.LogoutText(e.Code), e.Code)
}
