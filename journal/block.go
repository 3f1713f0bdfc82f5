package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"slices"

	"github.com/ringex/ringex/engine"
)

// Command and event blocks of record version 2: one header and one CRC32C
// per Pebble value, and records encoded as the fields that differ from the
// previous record of the block, each as a zigzag varint of the difference.
// The layout is documented in the package comment; the version 1 form (a
// block of fixed-length records, each with its own checksum) is in
// record.go, and readers take either, value by value, by its first byte.

const (
	blockVersion = 2
	// blockHead is the fixed part of a block's header: version, type and
	// the value's length.
	blockHead = 6
	// minBlockLen is the shortest well-formed block: the fixed header, an
	// asset, a first sequence and a count of one byte each, one record of
	// one byte and the checksum.
	minBlockLen = blockHead + 3 + 1 + crcLen
)

var errVarint = errors.New("malformed varint")

// Bits of a command record's field mask: which fields differ from the
// previous record's. The fields follow the mask in this order.
const (
	cmFlags         = 1 << iota // Side, Kind, Type, TIF, STP, PostOnly: uvarint of the XOR of their packed bytes
	cmTime                      // zigzag varints of the difference
	cmOrderID                   //
	cmClientOrderID             //
	cmPrice                     //
	cmQty                       //
	cmUserID                    //
	cmReserved      = ^byte(1<<7 - 1)
)

// Bits of an event record's field mask, a uvarint. The fields follow it in
// this order. The maker's four fields are one bit: set when any of them is
// not zero (a trade), then each is the difference from the last maker
// fields of the block (not from the previous record, which is usually not
// a trade and has zeros there).
const (
	emFlags         = 1 << iota // Kind, Side, Reason: uvarint of the XOR of their packed bytes
	emTime                      // zigzag varints of the difference
	emOrderID                   //
	emClientOrderID             //
	emQty                       //
	emRemaining                 //
	emPrice                     //
	emCmdSeq                    //
	emUserID                    //
	emMaker                     //
	emReserved      = ^uint64(1<<10 - 1)
)

func zig(d int64) uint64   { return uint64(d<<1) ^ uint64(d>>63) }
func unzig(u uint64) int64 { return int64(u>>1) ^ -int64(u&1) }

// packCommandFlags packs the command's one-byte fields, the one that
// changes most often in the lowest byte, so that the XOR of two packings
// is a short varint.
func packCommandFlags(c *engine.Command) uint64 {
	post := uint64(0)
	if c.PostOnly {
		post = 1
	}
	return uint64(c.Side) | uint64(c.Kind)<<8 | uint64(c.Type)<<16 | uint64(c.TIF)<<24 | uint64(c.STP)<<32 | post<<40
}

func packEventFlags(e *engine.Event) uint64 {
	return uint64(e.Kind) | uint64(e.Side)<<8 | uint64(e.Reason)<<16
}

// appendBlockHead appends the header of a block of n records of type typ
// whose first record has sequence first; finishBlock fills in the length
// and appends the checksum.
func appendBlockHead(dst []byte, typ byte, asset uint32, first uint64, n int) []byte {
	dst = append(dst, blockVersion, typ, 0, 0, 0, 0)
	dst = binary.AppendUvarint(dst, uint64(asset))
	dst = binary.AppendUvarint(dst, first)
	return binary.AppendUvarint(dst, uint64(n))
}

// finishBlock completes the block that starts at dst[start:].
func finishBlock(dst []byte, start int) []byte {
	le.PutUint32(dst[start+2:], uint32(len(dst)-start+crcLen))
	return le.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
}

// appendCommandBlock appends the block of cmds (at least one, with dense
// sequences) for asset to dst.
func appendCommandBlock(dst []byte, asset uint32, cmds []engine.Command) []byte {
	start := len(dst)
	dst = appendBlockHead(dst, recCommand, asset, cmds[0].Seq, len(cmds))
	var prev engine.Command
	for i := range cmds {
		dst = appendCommand(dst, &prev, &cmds[i])
		prev = cmds[i]
	}
	return finishBlock(dst, start)
}

// maxCommandRecord bounds a command record: its mask byte and 7 fields,
// each a varint of at most 10 bytes.
const maxCommandRecord = 1 + 7*binary.MaxVarintLen64

// appendCommand appends c's record, as the difference from prev, written
// in place as eventState.append writes events. Both are unrolled field by
// field on purpose: one loop over an array of the deltas, shared by the
// two (mask from the nonzero ones, then those), took 2,553-2,588 ns per
// BenchmarkBlockEncode op against 1,651-1,701 for this (3 interleaved runs).
func appendCommand(dst []byte, prev, c *engine.Command) []byte {
	pf, cf := packCommandFlags(prev), packCommandFlags(c)
	var m byte
	if pf != cf {
		m |= cmFlags
	}
	if c.Time != prev.Time {
		m |= cmTime
	}
	if c.OrderID != prev.OrderID {
		m |= cmOrderID
	}
	if c.ClientOrderID != prev.ClientOrderID {
		m |= cmClientOrderID
	}
	if c.Price != prev.Price {
		m |= cmPrice
	}
	if c.Qty != prev.Qty {
		m |= cmQty
	}
	if c.UserID != prev.UserID {
		m |= cmUserID
	}
	dst = slices.Grow(dst, maxCommandRecord)
	b, n := dst[:cap(dst)], len(dst)
	b[n] = m
	n++
	if m&cmFlags != 0 {
		n = putUvarint(b, n, pf^cf)
	}
	if m&cmTime != 0 {
		n = putUvarint(b, n, zig(c.Time-prev.Time))
	}
	if m&cmOrderID != 0 {
		n = putUvarint(b, n, zig(int64(c.OrderID-prev.OrderID)))
	}
	if m&cmClientOrderID != 0 {
		n = putUvarint(b, n, zig(int64(c.ClientOrderID-prev.ClientOrderID)))
	}
	if m&cmPrice != 0 {
		n = putUvarint(b, n, zig(c.Price-prev.Price))
	}
	if m&cmQty != 0 {
		n = putUvarint(b, n, zig(c.Qty-prev.Qty))
	}
	if m&cmUserID != 0 {
		n = putUvarint(b, n, zig(int64(int32(c.UserID-prev.UserID))))
	}
	return dst[:n]
}

// eventState is what an event record is encoded against: the previous
// record of the block and the last maker fields.
type eventState struct {
	prev         engine.Event
	makerOrderID uint64
	makerClient  uint64
	makerUserID  uint32
	makerRemain  int64
}

func hasMaker(e *engine.Event) bool {
	return e.MakerOrderID|e.MakerClientOrderID|uint64(e.MakerUserID)|uint64(e.MakerRemaining) != 0
}

// appendEventBlock appends the block of evs (at least one, with dense
// sequences) for asset to dst.
func appendEventBlock(dst []byte, asset uint32, evs []engine.Event) []byte {
	start := len(dst)
	dst = appendBlockHead(dst, recEvent, asset, evs[0].Seq, len(evs))
	var st eventState
	for i := range evs {
		dst = st.append(dst, &evs[i])
	}
	return finishBlock(dst, start)
}

// maxEventRecord bounds an event record: its mask and 13 fields, each a
// varint of at most 10 bytes.
const maxEventRecord = 14 * binary.MaxVarintLen64

// append appends e's record and makes e the previous record. It grows dst
// once per record and writes the varints in place (putUvarint), which
// halves the cost of appending them one at a time (BenchmarkBlockEncode).
func (st *eventState) append(dst []byte, e *engine.Event) []byte {
	p := &st.prev
	pf, ef := packEventFlags(p), packEventFlags(e)
	var m uint64
	if pf != ef {
		m |= emFlags
	}
	if e.Time != p.Time {
		m |= emTime
	}
	if e.OrderID != p.OrderID {
		m |= emOrderID
	}
	if e.ClientOrderID != p.ClientOrderID {
		m |= emClientOrderID
	}
	if e.Qty != p.Qty {
		m |= emQty
	}
	if e.Remaining != p.Remaining {
		m |= emRemaining
	}
	if e.Price != p.Price {
		m |= emPrice
	}
	if e.CmdSeq != p.CmdSeq {
		m |= emCmdSeq
	}
	if e.UserID != p.UserID {
		m |= emUserID
	}
	maker := hasMaker(e)
	if maker {
		m |= emMaker
	}
	dst = slices.Grow(dst, maxEventRecord)
	b, n := dst[:cap(dst)], len(dst)
	n = putUvarint(b, n, m)
	if m&emFlags != 0 {
		n = putUvarint(b, n, pf^ef)
	}
	if m&emTime != 0 {
		n = putUvarint(b, n, zig(e.Time-p.Time))
	}
	if m&emOrderID != 0 {
		n = putUvarint(b, n, zig(int64(e.OrderID-p.OrderID)))
	}
	if m&emClientOrderID != 0 {
		n = putUvarint(b, n, zig(int64(e.ClientOrderID-p.ClientOrderID)))
	}
	if m&emQty != 0 {
		n = putUvarint(b, n, zig(e.Qty-p.Qty))
	}
	if m&emRemaining != 0 {
		n = putUvarint(b, n, zig(e.Remaining-p.Remaining))
	}
	if m&emPrice != 0 {
		n = putUvarint(b, n, zig(e.Price-p.Price))
	}
	if m&emCmdSeq != 0 {
		n = putUvarint(b, n, zig(int64(e.CmdSeq-p.CmdSeq)))
	}
	if m&emUserID != 0 {
		n = putUvarint(b, n, zig(int64(int32(e.UserID-p.UserID))))
	}
	if maker {
		n = putUvarint(b, n, zig(int64(e.MakerOrderID-st.makerOrderID)))
		n = putUvarint(b, n, zig(int64(e.MakerClientOrderID-st.makerClient)))
		n = putUvarint(b, n, zig(int64(int32(e.MakerUserID-st.makerUserID))))
		n = putUvarint(b, n, zig(e.MakerRemaining-st.makerRemain))
		st.makerOrderID, st.makerClient = e.MakerOrderID, e.MakerClientOrderID
		st.makerUserID, st.makerRemain = e.MakerUserID, e.MakerRemaining
	}
	*p = *e
	return dst[:n]
}

// putUvarint writes x as a uvarint at b[n:], which has room for it, and
// returns the offset after it. Most fields are one byte.
func putUvarint(b []byte, n int, x uint64) int {
	for x >= 0x80 {
		b[n] = byte(x) | 0x80
		x >>= 7
		n++
	}
	b[n] = byte(x)
	return n + 1
}

// blockHeader is the header of a version 2 block.
type blockHeader struct {
	asset uint32
	first uint64 // the first record's sequence
	n     int    // records
	recs  []byte // the records, aliasing the value
}

// parseBlock checks a version 2 block of records of type typ: in order,
// its length (at least minBlockLen bytes, then the length its header
// states), the version, the checksum, the type, and that the header's
// fields are well-formed, the count at least one and at most one record
// per remaining byte, and the sequences within range. The caller checks
// the asset and the first sequence against the key.
func parseBlock(v []byte, typ byte) (h blockHeader, err error) {
	if len(v) < minBlockLen {
		return h, fmt.Errorf("%w: a block of %d bytes", errTruncated, len(v))
	}
	if v[0] != blockVersion {
		return h, fmt.Errorf("%w %d", errVersion, v[0])
	}
	size := int64(le.Uint32(v[2:]))
	switch {
	case size < minBlockLen:
		return h, fmt.Errorf("%w: header states a block of %d bytes", errLength, size)
	case int64(len(v)) < size:
		return h, fmt.Errorf("%w: a block of %d of %d bytes", errTruncated, len(v), size)
	case int64(len(v)) > size:
		return h, fmt.Errorf("%w: a block of %d bytes, header states %d", errLength, len(v), size)
	}
	body := v[:len(v)-crcLen]
	if got, want := crc32.Checksum(body, castagnoli), le.Uint32(v[len(body):]); got != want {
		return h, fmt.Errorf("%w: computed %08x, stored %08x", errChecksum, got, want)
	}
	if v[1] != typ {
		return h, fmt.Errorf("%w %d, want %d", errRecordType, v[1], typ)
	}
	r := varintReader{b: body[blockHead:]}
	asset, first, n := r.uvarint(), r.uvarint(), r.uvarint()
	rest := r.b[r.off:]
	switch {
	case r.err != nil:
		return h, fmt.Errorf("block header: %w", r.err)
	case asset > math.MaxUint32:
		return h, fmt.Errorf("%w %d", errWrongAsset, asset)
	case n == 0 || n > uint64(len(rest)):
		return h, fmt.Errorf("%w: a block of %d records in %d bytes", errLength, n, len(rest))
	case first == 0 || first > maxSeq-(n-1):
		return h, fmt.Errorf("%w: records %d+%d out of range", errWrongSeq, first, n)
	}
	return blockHeader{asset: uint32(asset), first: first, n: int(n), recs: rest}, nil
}

// varintReader reads varints from b, recording the first failure in err
// (after which it reads zeros), so that a record's fields are read
// unchecked and the error tested once.
type varintReader struct {
	b   []byte
	off int
	err error
}

func (r *varintReader) uvarint() uint64 {
	if r.off < len(r.b) && r.b[r.off] < 0x80 { // one byte: most fields
		x := uint64(r.b[r.off])
		r.off++
		return x
	}
	x, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		if r.err == nil {
			r.err = errTruncated
			if n < 0 {
				r.err = errVarint
			}
		}
		r.off = len(r.b)
		return 0
	}
	r.off += n
	return x
}

// delta32 reads the zigzag difference of a 32-bit field.
func (r *varintReader) delta32() uint32 {
	d := unzig(r.uvarint())
	if d != int64(int32(d)) && r.err == nil {
		r.err = fmt.Errorf("%w: 32-bit difference %d", errVarint, d)
	}
	return uint32(int32(d))
}

func (r *varintReader) delta() uint64 { return uint64(unzig(r.uvarint())) }

// command decodes the next command record into c, which holds the
// previous record of the block (zero before the first). It does not set
// c.Seq. On error c is unspecified.
func (r *varintReader) command(c *engine.Command) error {
	if r.off >= len(r.b) {
		return errTruncated
	}
	m := r.b[r.off]
	r.off++
	if m&cmReserved != 0 {
		return fmt.Errorf("%w: field mask %#x", errReserved, m)
	}
	if m&cmFlags != 0 {
		f := packCommandFlags(c) ^ r.uvarint()
		if f>>48 != 0 {
			return fmt.Errorf("%w: flags %#x", errReserved, f)
		}
		if f>>40 > 1 {
			return errBadBool
		}
		c.Side, c.Kind, c.Type = engine.Side(f), engine.CommandKind(f>>8), engine.OrderType(f>>16)
		c.TIF, c.STP, c.PostOnly = engine.TimeInForce(f>>24), engine.STPMode(f>>32), f>>40 == 1
	}
	if m&cmTime != 0 {
		c.Time += int64(r.delta())
	}
	if m&cmOrderID != 0 {
		c.OrderID += r.delta()
	}
	if m&cmClientOrderID != 0 {
		c.ClientOrderID += r.delta()
	}
	if m&cmPrice != 0 {
		c.Price += int64(r.delta())
	}
	if m&cmQty != 0 {
		c.Qty += int64(r.delta())
	}
	if m&cmUserID != 0 {
		c.UserID += r.delta32()
	}
	return r.err
}

// event decodes the next event record into st.prev. It does not set
// st.prev.Seq. On error st is unspecified.
func (r *varintReader) event(st *eventState) error {
	e := &st.prev
	m := r.uvarint()
	if r.err != nil {
		return r.err
	}
	if m&emReserved != 0 {
		return fmt.Errorf("%w: field mask %#x", errReserved, m)
	}
	if m&emFlags != 0 {
		f := packEventFlags(e) ^ r.uvarint()
		if f>>24 != 0 {
			return fmt.Errorf("%w: flags %#x", errReserved, f)
		}
		e.Kind, e.Side, e.Reason = engine.EventKind(f), engine.Side(f>>8), uint8(f>>16)
	}
	if m&emTime != 0 {
		e.Time += int64(r.delta())
	}
	if m&emOrderID != 0 {
		e.OrderID += r.delta()
	}
	if m&emClientOrderID != 0 {
		e.ClientOrderID += r.delta()
	}
	if m&emQty != 0 {
		e.Qty += int64(r.delta())
	}
	if m&emRemaining != 0 {
		e.Remaining += int64(r.delta())
	}
	if m&emPrice != 0 {
		e.Price += int64(r.delta())
	}
	if m&emCmdSeq != 0 {
		e.CmdSeq += r.delta()
	}
	if m&emUserID != 0 {
		e.UserID += r.delta32()
	}
	if m&emMaker != 0 {
		st.makerOrderID += r.delta()
		st.makerClient += r.delta()
		st.makerUserID += r.delta32()
		st.makerRemain += int64(r.delta())
		e.MakerOrderID, e.MakerClientOrderID = st.makerOrderID, st.makerClient
		e.MakerUserID, e.MakerRemaining = st.makerUserID, st.makerRemain
		if r.err == nil && !hasMaker(e) {
			return fmt.Errorf("%w: maker fields flagged but all zero", errVarint)
		}
	} else {
		e.MakerOrderID, e.MakerClientOrderID, e.MakerUserID, e.MakerRemaining = 0, 0, 0, 0
	}
	return r.err
}

// checkBlock checks a command or event block (either version) under the
// key of (kind, asset, seq), for Open's verify: what each version's
// checksum covers, as the readers check it. For version 1, every record's
// version, length, checksum and type; for version 2, the block's length,
// version, checksum, type and header, against the key. The records of a
// version 2 block are decoded by the readers only: behind a good checksum
// a bad one is an encoder's bug, not damage, and decoding them at every
// start would cost more than checking the checksum does.
func checkBlock(kind byte, asset uint32, seq uint64, v []byte) error {
	typ, n := recCommand, commandLen
	if kind == kindEvent {
		typ, n = recEvent, eventLen
	}
	if len(v) == 0 {
		return fmt.Errorf("%w: an empty block", errTruncated)
	}
	if v[0] == blockVersion {
		h, err := parseBlock(v, typ)
		if err != nil {
			return err
		}
		return checkHeader(h, asset, seq)
	}
	if len(v)%n != 0 {
		return fmt.Errorf("%w: a block of %d bytes, records of %d", errLength, len(v), n)
	}
	for i := 0; i < len(v); i += n {
		if err := checkRecord(v[i:i+n], typ, n); err != nil {
			return fmt.Errorf("record %d of the block: %w", i/n, err)
		}
	}
	return nil
}

// checkHeader checks a block's header against its key.
func checkHeader(h blockHeader, asset uint32, seq uint64) error {
	if h.asset != asset {
		return fmt.Errorf("%w %d", errWrongAsset, h.asset)
	}
	if h.first != seq {
		return fmt.Errorf("%w: block starts at %d", errWrongSeq, h.first)
	}
	return nil
}

// checkEnd checks that the block's records were all read.
func checkEnd(r *varintReader) error {
	if r.off != len(r.b) {
		return fmt.Errorf("%w: %d bytes after the last record", errLength, len(r.b)-r.off)
	}
	return nil
}
