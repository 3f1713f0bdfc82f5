package wire

import (
	"encoding/binary"
	"errors"
)

// Version is the protocol version a Login must carry.
const Version uint16 = 1

// HeaderLen is the length prefix plus the type byte.
const HeaderLen = 3

// MaxInboundFrame is the longest frame a client may send (the length
// prefix's value, which counts the type byte and the body). Anything longer
// cannot be a valid message and ends the session.
const MaxInboundFrame = 128

// MaxFrame is the longest frame the server sends (a book snapshot): the
// largest value the 2-byte length prefix holds.
const MaxFrame = 65535

// Framing and decoding errors. ErrFrameTooLong and ErrFrameTooShort mean
// the byte stream cannot be resynchronized and the session must end; the
// others concern one frame, which can be skipped.
var (
	ErrFrameTooLong  = errors.New("wire: frame length over the maximum")
	ErrFrameTooShort = errors.New("wire: frame length too short for a message type")
	ErrBadLength     = errors.New("wire: wrong length for the message type")
	ErrUnknownType   = errors.New("wire: unknown message type")
	ErrWrongType     = errors.New("wire: frame is not of the decoder's message type")
	ErrBadValue      = errors.New("wire: field value out of range")
)

// NextFrame splits the first frame off buf. It returns the frame (length
// prefix included, aliasing buf) and its size n; n == 0 with a nil error
// means buf holds only part of a frame and more bytes are needed. A length
// prefix that cannot be valid (0, which leaves no room for the type, or
// over max) is an error: the stream cannot be resynchronized and the
// session must end. Servers pass MaxInboundFrame, clients MaxFrame.
func NextFrame(buf []byte, max int) (frame []byte, n int, err error) {
	if len(buf) < 2 {
		return nil, 0, nil
	}
	l := int(binary.BigEndian.Uint16(buf))
	if l < 1 {
		return nil, 0, ErrFrameTooShort
	}
	if l > max {
		return nil, 0, ErrFrameTooLong
	}
	if len(buf) < 2+l {
		return nil, 0, nil
	}
	return buf[:2+l], 2 + l, nil
}

// Type returns a complete frame's message type. The frame must come from
// NextFrame (or an encoder), which guarantees at least HeaderLen bytes.
func Type(frame []byte) byte { return frame[2] }

// BodyLen returns the body length of a message type: fixed is false for a
// BookSnapshot, whose body is SnapshotHeaderLen plus LevelLen per level,
// and ok is false for an unknown type.
func BodyLen(typ byte) (n int, fixed, ok bool) {
	switch typ {
	case TypeLogin:
		return LoginLen, true, true
	case TypeNewOrder:
		return NewOrderLen, true, true
	case TypeCancel:
		return CancelLen, true, true
	case TypeReplace:
		return ReplaceLen, true, true
	case TypeHeartbeat:
		return HeartbeatLen, true, true
	case TypeLogout:
		return LogoutLen, true, true
	case TypeLoginAccepted:
		return LoginAcceptedLen, true, true
	case TypeLoginRejected:
		return LoginRejectedLen, true, true
	case TypeOrderAck:
		return OrderAckLen, true, true
	case TypeReject:
		return RejectLen, true, true
	case TypeSubscribe:
		return SubscribeLen, true, true
	case TypeUnsubscribe:
		return UnsubscribeLen, true, true
	case TypeResume:
		return ResumeLen, true, true
	case TypeSubscribed:
		return SubscribedLen, true, true
	case TypeSubRejected:
		return SubRejectedLen, true, true
	case TypeTrade:
		return TradeLen, true, true
	case TypeBookSnapshot:
		return SnapshotHeaderLen, false, true
	case TypeBookUpdate:
		return BookUpdateLen, true, true
	case TypeBBO:
		return BBOLen, true, true
	case TypeOrderEvent:
		return OrderEventLen, true, true
	case TypeResumeDone:
		return ResumeDoneLen, true, true
	}
	return 0, false, false
}

// Check validates a complete frame's type and length without decoding it:
// ErrUnknownType for a type no one sends, ErrBadLength for a length that
// does not fit the type. A Logout with an empty body is accepted, as
// DecodeLogout accepts it.
func Check(frame []byte) error {
	if len(frame) < HeaderLen {
		return ErrFrameTooShort
	}
	typ := frame[2]
	n, fixed, ok := BodyLen(typ)
	switch {
	case !ok:
		return ErrUnknownType
	case typ == TypeLogout && len(frame) == HeaderLen:
		return nil
	case fixed && len(frame) != HeaderLen+n:
		return ErrBadLength
	case !fixed:
		return checkSnapshotLen(frame)
	}
	return nil
}

// body checks a frame's type and body length and returns the body.
func body(frame []byte, typ byte, want int) ([]byte, error) {
	if len(frame) != HeaderLen+want {
		if len(frame) >= HeaderLen && frame[2] != typ {
			return nil, ErrWrongType
		}
		return nil, ErrBadLength
	}
	if frame[2] != typ {
		return nil, ErrWrongType
	}
	return frame[HeaderLen:], nil
}

// begin appends a frame header for a body of n bytes and returns the
// buffer and the offset of the body, which is zeroed.
func begin(dst []byte, typ byte, n int) ([]byte, int) {
	dst = append(dst, byte((n+1)>>8), byte(n+1), typ)
	at := len(dst)
	// The compiler turns append of a make into a grow and a clear: no
	// allocation once dst has the capacity.
	dst = append(dst, make([]byte, n)...)
	return dst, at
}

// Fixed-width big-endian fields.

func putU16(b []byte, v uint16) { binary.BigEndian.PutUint16(b, v) }
func putU32(b []byte, v uint32) { binary.BigEndian.PutUint32(b, v) }
func putU64(b []byte, v uint64) { binary.BigEndian.PutUint64(b, v) }
func putI64(b []byte, v int64)  { binary.BigEndian.PutUint64(b, uint64(v)) }
func getU16(b []byte) uint16    { return binary.BigEndian.Uint16(b) }
func getU32(b []byte) uint32    { return binary.BigEndian.Uint32(b) }
func getU64(b []byte) uint64    { return binary.BigEndian.Uint64(b) }
func getI64(b []byte) int64     { return int64(binary.BigEndian.Uint64(b)) }

// Fixed-width text fields: ASCII, left-aligned, padded with spaces.

// putText writes s into dst, cut to dst's length, padded with spaces.
func putText(dst []byte, s string) {
	n := copy(dst, s)
	for i := n; i < len(dst); i++ {
		dst[i] = ' '
	}
}

// trimText returns b without its trailing padding (spaces, or NULs from a
// sender that zero-fills), in place.
func trimText(b []byte) []byte {
	n := len(b)
	for n > 0 && (b[n-1] == ' ' || b[n-1] == 0) {
		n--
	}
	return b[:n]
}
