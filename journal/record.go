package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/ringex/ringex/engine"
)

// Record layouts are documented with their offsets in the package comment.
// Every record starts with a version and a type byte and ends with a CRC32C
// of everything before it. The records here are of version 1; command and
// event blocks are written in version 2 (block.go), and read in either.

const recordVersion = 1

// Record types, the second byte of every record.
const (
	recCommand     byte = 1
	recEvent       byte = 2
	recSnapshot    byte = 3
	recAssetConfig byte = 4
	recIDReserve   byte = 5
)

const (
	commandLen        = 68
	eventLen          = 112
	snapshotHeaderLen = 28
	assetConfigHead   = 50
	idReserveLen      = 20
	crcLen            = 4
	maxSymbolLen      = 1<<16 - 1
)

// castagnoli is the CRC32C table; the hash/crc32 package uses the SSE4.2 or
// ARMv8 instruction when the CPU has it.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var le = binary.LittleEndian

// Decoding failures. The scans wrap them in a *CorruptError that names the
// asset, the sequence and the key.
var (
	errTruncated   = errors.New("truncated record")
	errVersion     = errors.New("unsupported record version")
	errLength      = errors.New("record length mismatch")
	errChecksum    = errors.New("checksum mismatch")
	errRecordType  = errors.New("wrong record type")
	errReserved    = errors.New("reserved byte not zero")
	errBadBool     = errors.New("boolean byte not 0 or 1")
	errWrongAsset  = errors.New("record belongs to another asset")
	errWrongSeq    = errors.New("record sequence differs from its key")
	errSequenceGap = errors.New("sequence gap")
	errMalformed   = errors.New("malformed key")
)

// CorruptError reports a record that failed to decode: a truncated or
// oversized value, an unknown version, a checksum mismatch, a record under
// the wrong key, or a gap in a sequence. Scans stop at the first one.
type CorruptError struct {
	Asset  uint32
	Seq    uint64 // the sequence in the key (for a gap, the first missing one)
	Key    []byte
	Reason string
	Err    error // the underlying error, if any
}

func (e *CorruptError) Error() string {
	kind := "unknown"
	if _, k, _, seq, ok := splitKey(e.Key); ok {
		kind = kindName(k)
		if k == kindMeta {
			kind = metaName(seq)
		}
	}
	return fmt.Sprintf("journal: corrupt %s record: asset %d seq %d key %x: %s", kind, e.Asset, e.Seq, e.Key, e.Reason)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// checkRecord checks the parts common to every record: the version, the
// exact length n (0 for a variable length that the caller checks), the
// checksum in the last four bytes and the type.
func checkRecord(b []byte, typ byte, n int) error {
	if len(b) < 2+crcLen {
		return fmt.Errorf("%w: %d bytes", errTruncated, len(b))
	}
	if b[0] != recordVersion {
		return fmt.Errorf("%w %d", errVersion, b[0])
	}
	if n > 0 && len(b) != n {
		if len(b) < n {
			return fmt.Errorf("%w: %d of %d bytes", errTruncated, len(b), n)
		}
		return fmt.Errorf("%w: %d bytes, want %d", errLength, len(b), n)
	}
	body := b[:len(b)-crcLen]
	if got, want := crc32.Checksum(body, castagnoli), le.Uint32(b[len(body):]); got != want {
		return fmt.Errorf("%w: computed %08x, stored %08x", errChecksum, got, want)
	}
	if b[1] != typ {
		return fmt.Errorf("%w %d, want %d", errRecordType, b[1], typ)
	}
	return nil
}

func putChecksum(b []byte) {
	body := b[:len(b)-crcLen]
	le.PutUint32(b[len(body):], crc32.Checksum(body, castagnoli))
}

// decodeCommand decodes a version 1 command record into c and returns the asset it
// was written for. It checks the version, the length and the checksum; on
// error c is unspecified.
func decodeCommand(b []byte, c *engine.Command) (asset uint32, err error) {
	if err := checkRecord(b, recCommand, commandLen); err != nil {
		return 0, err
	}
	if b[7] > 1 {
		return 0, errBadBool
	}
	*c = engine.Command{
		Seq:           le.Uint64(b[16:]),
		Time:          int64(le.Uint64(b[24:])),
		OrderID:       le.Uint64(b[32:]),
		ClientOrderID: le.Uint64(b[40:]),
		UserID:        le.Uint32(b[12:]),
		Kind:          engine.CommandKind(b[2]),
		Side:          engine.Side(b[3]),
		Type:          engine.OrderType(b[4]),
		TIF:           engine.TimeInForce(b[5]),
		STP:           engine.STPMode(b[6]),
		PostOnly:      b[7] == 1,
		Price:         int64(le.Uint64(b[48:])),
		Qty:           int64(le.Uint64(b[56:])),
	}
	return le.Uint32(b[8:]), nil
}

// decodeEvent decodes a version 1 event record into e and returns the asset it was
// written for.
func decodeEvent(b []byte, e *engine.Event) (asset uint32, err error) {
	if err := checkRecord(b, recEvent, eventLen); err != nil {
		return 0, err
	}
	if b[5]|b[6]|b[7] != 0 {
		return 0, errReserved
	}
	*e = engine.Event{
		Seq:                le.Uint64(b[16:]),
		CmdSeq:             le.Uint64(b[24:]),
		Time:               int64(le.Uint64(b[32:])),
		OrderID:            le.Uint64(b[40:]),
		ClientOrderID:      le.Uint64(b[48:]),
		UserID:             le.Uint32(b[12:]),
		Kind:               engine.EventKind(b[2]),
		Side:               engine.Side(b[3]),
		Reason:             b[4],
		Price:              int64(le.Uint64(b[56:])),
		Qty:                int64(le.Uint64(b[64:])),
		Remaining:          int64(le.Uint64(b[72:])),
		MakerOrderID:       le.Uint64(b[80:]),
		MakerClientOrderID: le.Uint64(b[88:]),
		MakerRemaining:     int64(le.Uint64(b[96:])),
		MakerUserID:        le.Uint32(b[104:]),
	}
	return le.Uint32(b[8:]), nil
}

// snapshotHeader is the fixed part of a snapshot record.
type snapshotHeader struct {
	asset    uint32
	cmdSeq   uint64
	eventSeq uint64
}

func encodeSnapshot(asset uint32, cmdSeq, eventSeq uint64, data []byte) []byte {
	b := make([]byte, snapshotHeaderLen+len(data)+crcLen)
	b[0] = recordVersion
	b[1] = recSnapshot
	le.PutUint32(b[4:], asset)
	le.PutUint64(b[8:], cmdSeq)
	le.PutUint64(b[16:], eventSeq)
	le.PutUint32(b[24:], uint32(len(data)))
	copy(b[snapshotHeaderLen:], data)
	putChecksum(b)
	return b
}

// decodeSnapshot returns the header and the data of a snapshot record. The
// data aliases b.
func decodeSnapshot(b []byte) (h snapshotHeader, data []byte, err error) {
	if err := checkRecord(b, recSnapshot, 0); err != nil {
		return h, nil, err
	}
	if len(b) < snapshotHeaderLen+crcLen {
		return h, nil, fmt.Errorf("%w: %d bytes", errTruncated, len(b))
	}
	if b[2]|b[3] != 0 {
		return h, nil, errReserved
	}
	n := int(le.Uint32(b[24:]))
	if n != len(b)-snapshotHeaderLen-crcLen {
		return h, nil, fmt.Errorf("%w: %d data bytes, header says %d", errLength, len(b)-snapshotHeaderLen-crcLen, n)
	}
	h = snapshotHeader{asset: le.Uint32(b[4:]), cmdSeq: le.Uint64(b[8:]), eventSeq: le.Uint64(b[16:])}
	return h, b[snapshotHeaderLen : snapshotHeaderLen+n], nil
}

func encodeAssetConfig(asset uint32, cfg *engine.AssetConfig) ([]byte, error) {
	if len(cfg.Symbol) > maxSymbolLen {
		return nil, fmt.Errorf("journal: asset %d: symbol of %d bytes is too long", asset, len(cfg.Symbol))
	}
	b := make([]byte, assetConfigHead+len(cfg.Symbol)+crcLen)
	b[0] = recordVersion
	b[1] = recAssetConfig
	le.PutUint32(b[4:], asset)
	le.PutUint64(b[8:], uint64(cfg.TickSize))
	le.PutUint64(b[16:], uint64(cfg.LotSize))
	le.PutUint64(b[24:], uint64(cfg.MinPrice))
	le.PutUint64(b[32:], uint64(cfg.MaxPrice))
	le.PutUint64(b[40:], uint64(cfg.MaxQty))
	binary.LittleEndian.PutUint16(b[48:], uint16(len(cfg.Symbol)))
	copy(b[assetConfigHead:], cfg.Symbol)
	putChecksum(b)
	return b, nil
}

func decodeAssetConfig(b []byte) (asset uint32, cfg engine.AssetConfig, err error) {
	if err := checkRecord(b, recAssetConfig, 0); err != nil {
		return 0, cfg, err
	}
	if len(b) < assetConfigHead+crcLen {
		return 0, cfg, fmt.Errorf("%w: %d bytes", errTruncated, len(b))
	}
	if b[2]|b[3] != 0 {
		return 0, cfg, errReserved
	}
	n := int(le.Uint16(b[48:]))
	if n != len(b)-assetConfigHead-crcLen {
		return 0, cfg, fmt.Errorf("%w: %d symbol bytes, header says %d", errLength, len(b)-assetConfigHead-crcLen, n)
	}
	cfg = engine.AssetConfig{
		Symbol:   string(b[assetConfigHead : assetConfigHead+n]),
		TickSize: int64(le.Uint64(b[8:])),
		LotSize:  int64(le.Uint64(b[16:])),
		MinPrice: int64(le.Uint64(b[24:])),
		MaxPrice: int64(le.Uint64(b[32:])),
		MaxQty:   int64(le.Uint64(b[40:])),
	}
	return le.Uint32(b[4:]), cfg, nil
}

// encodeIDReserve returns the record of an order id reservation: every id
// number up to upTo may have been handed out.
func encodeIDReserve(asset uint32, upTo uint64) []byte {
	b := make([]byte, idReserveLen)
	b[0] = recordVersion
	b[1] = recIDReserve
	le.PutUint32(b[4:], asset)
	le.PutUint64(b[8:], upTo)
	putChecksum(b)
	return b
}

func decodeIDReserve(b []byte) (asset uint32, upTo uint64, err error) {
	if err := checkRecord(b, recIDReserve, idReserveLen); err != nil {
		return 0, 0, err
	}
	if b[2]|b[3] != 0 {
		return 0, 0, errReserved
	}
	return le.Uint32(b[4:]), le.Uint64(b[8:]), nil
}

// The store header (the value of headerKey), 12 bytes:
//
//	0 u8 version (1)   4 u32 layout version
//	1 u8 type (6)      8 u32 CRC32C of [0,8)
//	2 2  reserved (0)
const (
	recHeader byte = 6
	headerLen      = 12
)

func encodeHeader(layout uint32) []byte {
	b := make([]byte, headerLen)
	b[0] = recordVersion
	b[1] = recHeader
	le.PutUint32(b[4:], layout)
	putChecksum(b)
	return b
}

func decodeHeader(b []byte) (layout uint32, err error) {
	if err := checkRecord(b, recHeader, headerLen); err != nil {
		return 0, err
	}
	if b[2]|b[3] != 0 {
		return 0, errReserved
	}
	return le.Uint32(b[4:]), nil
}
