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

// MaxFrame is the longest frame the server sends (a book snapshot).
const MaxFrame = 65535

// Framing errors.
var (
	ErrFrameTooLong  = errors.New("wire: frame length over the maximum")
	ErrFrameTooShort = errors.New("wire: frame length too short for a message type")
	ErrBadLength     = errors.New("wire: wrong length for the message type")
	ErrUnknownType   = errors.New("wire: unknown message type")
	ErrBadValue      = errors.New("wire: field value out of range")
)

// NextFrame splits the first frame off buf. It returns the frame (length
// prefix included) and its size n; n == 0 means buf holds only part of a
// frame. A length that cannot be valid (zero, or over max) is an error: the
// stream cannot be resynchronized and the session must end.
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

// Type returns a complete frame's message type.
func Type(frame []byte) byte { return frame[2] }

// body checks a frame's body length against the type's and returns it.
func body(frame []byte, want int) ([]byte, error) {
	if len(frame) != HeaderLen+want {
		return nil, ErrBadLength
	}
	return frame[HeaderLen:], nil
}

// begin appends a frame header for a body of n bytes and returns the
// buffer and the offset of the body.
func begin(dst []byte, typ byte, n int) ([]byte, int) {
	dst = append(dst, byte((n+1)>>8), byte(n+1), typ)
	at := len(dst)
	dst = append(dst, make([]byte, n)...) // the compiler turns this into a grow, not an allocation
	return dst, at
}

// Symbol is an asset symbol as it travels: 8 ASCII bytes, space padded.
type Symbol [8]byte

// MakeSymbol pads s (at most 8 bytes; longer is cut) into a Symbol.
func MakeSymbol(s string) Symbol {
	var sym Symbol
	n := copy(sym[:], s)
	for i := n; i < len(sym); i++ {
		sym[i] = ' '
	}
	return sym
}

// String returns the symbol without its padding.
func (s Symbol) String() string {
	n := len(s)
	for n > 0 && (s[n-1] == ' ' || s[n-1] == 0) {
		n--
	}
	return string(s[:n])
}

// fixed text fields: ASCII, padded with spaces.
func putText(dst []byte, s string) {
	n := copy(dst, s)
	for i := n; i < len(dst); i++ {
		dst[i] = ' '
	}
}

func trimText(b []byte) []byte {
	n := len(b)
	for n > 0 && (b[n-1] == ' ' || b[n-1] == 0) {
		n--
	}
	return b[:n]
}

var be = binary.BigEndian

func putI64(b []byte, v int64) { be.PutUint64(b, uint64(v)) }
func getI64(b []byte) int64    { return int64(be.Uint64(b)) }
