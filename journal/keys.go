package journal

import (
	"encoding/binary"
	"math"
)

// A key is a kind byte, the big-endian asset id and a big-endian sequence,
// so that keys sort by kind, asset and sequence (see the package comment).
const keyLen = 1 + 4 + 8

const (
	kindCommand  byte = 1
	kindEvent    byte = 2
	kindSnapshot byte = 3
	kindMeta     byte = 4
)

// maxSeq is the largest sequence.
const maxSeq = math.MaxUint64

// Metadata items, in the sequence position of a kindMeta key.
const (
	metaAssetConfig uint64 = 1
	metaIDReserve   uint64 = 2
)

func kindName(kind byte) string {
	switch kind {
	case kindCommand:
		return "command"
	case kindEvent:
		return "event"
	case kindSnapshot:
		return "snapshot"
	case kindMeta:
		return "metadata"
	}
	return "unknown"
}

// putKey writes the key of (kind, asset, seq) into b[:keyLen].
func putKey(b []byte, kind byte, asset uint32, seq uint64) {
	_ = b[keyLen-1]
	b[0] = kind
	binary.BigEndian.PutUint32(b[1:5], asset)
	binary.BigEndian.PutUint64(b[5:13], seq)
}

func makeKey(kind byte, asset uint32, seq uint64) []byte {
	b := make([]byte, keyLen)
	putKey(b, kind, asset, seq)
	return b
}

// parseKey returns the sequence of a key of the given kind and asset.
func parseKey(b []byte, kind byte, asset uint32) (seq uint64, ok bool) {
	if len(b) != keyLen || b[0] != kind || binary.BigEndian.Uint32(b[1:5]) != asset {
		return 0, false
	}
	return binary.BigEndian.Uint64(b[5:13]), true
}

// keyRange returns iterator bounds [lower, upper) holding the keys of kind
// and asset with a sequence in [from, to]. Keys are fixed-length, so the
// upper bound of sequence to is the key of to+1, or past the asset when to
// is the largest sequence.
func keyRange(kind byte, asset uint32, from, to uint64) (lower, upper []byte) {
	lower = makeKey(kind, asset, from)
	if to < math.MaxUint64 {
		return lower, makeKey(kind, asset, to+1)
	}
	upper = makeKey(kind, asset, 0)[:5]
	// The successor of the 5-byte prefix: increment it as a big-endian number.
	for i := len(upper) - 1; i >= 0; i-- {
		upper[i]++
		if upper[i] != 0 {
			return lower, upper
		}
	}
	return lower, nil // the prefix was all 0xff: no upper bound
}
