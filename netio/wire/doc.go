// Package wire is the codec of the ringex protocol, version 1
// (docs/protocol.md): the order-entry messages (orderentry.go), the
// market-data messages (marketdata.go), their reason codes (reasons.go) and
// the SoupBinTCP-style framing they share (frame.go).
//
// Every frame is a 2-byte big-endian length, counting the bytes after it,
// then a 1-byte message type, then the type's fixed body. All integers are
// big-endian; prices and quantities are signed 64-bit integers in the
// asset's units; symbols are 8 ASCII bytes padded with spaces on the right.
// Every message but BookSnapshot has one fixed body length, so a frame's
// length alone tells whether it can be the type it claims.
//
// A reader splits its input with NextFrame, which never copies and says
// when a frame is still incomplete, then switches on Type(frame) and calls
// the type's DecodeX. A DecodeX reads the frame in place into a
// caller-owned struct and returns ErrBadLength if the frame's length is not
// the type's, ErrWrongType if the frame is of another type, and
// ErrBadValue for a field the format forbids (a post-only flag other than 0
// or 1). A writer calls AppendX(dst, &m), which appends one whole frame.
//
// Nothing here allocates once the caller's buffers have grown (the
// benchmarks report 0 allocs/op), so the gateway can decode in its event
// loop and the notifier can encode each event once for all its
// subscribers. The codec checks the format, not the business rules: a
// decoded NewOrder may still name an unknown asset or a side of 7; that is
// the gateway's to refuse, with the reason codes of reasons.go.
package wire
