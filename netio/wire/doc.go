// Package wire is the codec of the ringex protocol (docs/protocol.md): the
// order-entry messages and the market-data messages, with SoupBinTCP-style
// framing.
//
// Every frame is a 2-byte big-endian length, counting the bytes after it,
// then a 1-byte message type, then the type's fixed body. All integers are
// big-endian; prices and quantities are signed 64-bit integers in the
// asset's units; symbols are 8 ASCII bytes padded with spaces on the right.
//
// Encoders append to a caller's buffer (AppendX) and decoders read a frame
// in place (DecodeX): neither allocates, so the gateway can decode in its
// event loop and the notifier can encode once per event.
package wire
