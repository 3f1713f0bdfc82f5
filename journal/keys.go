package journal

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/cockroachdb/pebble/v2"
)

// A key is a big-endian epoch, a kind byte, the big-endian asset id and a
// big-endian sequence (see the package comment): keys sort by epoch first,
// so that everything one memtable holds sorts after everything flushed
// before it, and within an epoch by kind, asset and sequence.
const keyLen = 8 + 1 + 4 + 8

const (
	kindHeader   byte = 0 // the store header: layout version (epoch 0 only)
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

// metaName names a metadata item.
func metaName(item uint64) string {
	switch item {
	case metaAssetConfig:
		return "asset configuration"
	case metaIDReserve:
		return "order id reservation"
	}
	return fmt.Sprintf("metadata item %d", item)
}

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
	case kindHeader:
		return "header"
	}
	return "unknown"
}

// putKey writes the key of (epoch, kind, asset, seq) into b[:keyLen].
func putKey(b []byte, epoch uint64, kind byte, asset uint32, seq uint64) {
	_ = b[keyLen-1]
	binary.BigEndian.PutUint64(b[0:8], epoch)
	b[8] = kind
	binary.BigEndian.PutUint32(b[9:13], asset)
	binary.BigEndian.PutUint64(b[13:21], seq)
}

func makeKey(epoch uint64, kind byte, asset uint32, seq uint64) []byte {
	b := make([]byte, keyLen)
	putKey(b, epoch, kind, asset, seq)
	return b
}

// splitKey returns the parts of a key; ok is false if it has the wrong
// length.
func splitKey(b []byte) (epoch uint64, kind byte, asset uint32, seq uint64, ok bool) {
	if len(b) != keyLen {
		return 0, 0, 0, 0, false
	}
	return binary.BigEndian.Uint64(b[0:8]), b[8], binary.BigEndian.Uint32(b[9:13]), binary.BigEndian.Uint64(b[13:21]), true
}

// epochOf returns the epoch of a key, 0 if it is malformed.
func epochOf(b []byte) uint64 {
	e, _, _, _, _ := splitKey(b)
	return e
}

// parseKey returns the sequence of a key of the given kind and asset, in
// any epoch.
func parseKey(b []byte, kind byte, asset uint32) (seq uint64, ok bool) {
	_, k, a, seq, ok := splitKey(b)
	if !ok || k != kind || a != asset {
		return 0, false
	}
	return seq, true
}

// keyAfter returns the smallest key greater than every key of (epoch,
// kind, asset) with a sequence up to seq, or nil if there is none.
func keyAfter(epoch uint64, kind byte, asset uint32, seq uint64) []byte {
	if seq < maxSeq {
		return makeKey(epoch, kind, asset, seq+1)
	}
	// The successor of the 13-byte prefix: increment it as a big-endian number.
	k := makeKey(epoch, kind, asset, 0)[:13]
	for i := len(k) - 1; i >= 0; i-- {
		k[i]++
		if k[i] != 0 {
			return k
		}
	}
	return nil
}

// A stream is the records of one kind of one asset: its keys are spread
// over the epochs written since it started, a contiguous run in each. A
// sequence never moves to an earlier epoch: appends to a stream are
// serialized (appender.mu) and each reads the epoch anew, so within the
// commands and events of an asset, key order is sequence order. Metadata
// items are rewritten in later epochs: the newest epoch's is current.
//
// streamIter moves a Pebble iterator (over the whole key space) between a
// stream's keys, hopping over epochs with a seek or two each: reading a
// stream costs a few seeks per epoch (one per memtable flushed, tens of
// MiB) on top of reading its keys. A key of the wrong length stops every
// move on it (the caller reports it as corrupt).
type streamIter struct {
	it    *pebble.Iterator
	kind  byte
	asset uint32
}

// is reports whether the iterator's key belongs to the stream (or is
// malformed: true, so that the caller sees it), and its epoch.
func (si *streamIter) is() (epoch uint64, ours bool) {
	e, k, a, _, ok := splitKey(si.it.Key())
	if !ok {
		return 0, true
	}
	return e, k == si.kind && a == si.asset
}

// seekGE moves to the stream's first key at or after (epoch, seq).
func (si *streamIter) seekGE(epoch, seq uint64) bool {
	for {
		if !si.it.SeekGE(makeKey(epoch, si.kind, si.asset, seq)) {
			return false
		}
		e, k, a, _, ok := splitKey(si.it.Key())
		switch {
		case !ok || (k == si.kind && a == si.asset):
			return true
		case e > epoch && (k < si.kind || (k == si.kind && a < si.asset)):
			epoch, seq = e, 0 // a later epoch, before the stream's run in it
		case e == math.MaxUint64:
			return false
		default:
			epoch, seq = e+1, 0 // past the stream's run in epoch e
		}
	}
}

// first moves to the stream's first key.
func (si *streamIter) first() bool { return si.seekGE(0, 0) }

// next moves to the stream's next key.
func (si *streamIter) next() bool {
	e, _ := si.is()
	if !si.it.Next() {
		return false
	}
	if _, ours := si.is(); ours {
		return true
	}
	if e == math.MaxUint64 {
		return false
	}
	return si.seekGE(e+1, 0)
}

// last moves to the stream's newest key with a sequence at or below seq:
// in the commands, events and snapshots of an asset (sequences that grow
// with the epoch), the last key at or before seq. With exact, to the
// newest key with exactly that sequence (a metadata item).
func (si *streamIter) last(seq uint64, exact bool) bool {
	return si.lastBefore(math.MaxUint64, seq, exact)
}

// lastBefore is last restricted to the epochs up to epoch.
func (si *streamIter) lastBefore(epoch, seq uint64, exact bool) bool {
	for {
		upper := keyAfter(epoch, si.kind, si.asset, seq)
		var ok bool
		if upper == nil {
			ok = si.it.Last()
		} else {
			ok = si.it.SeekLT(upper)
		}
		if !ok {
			return false
		}
		e, k, a, s, valid := splitKey(si.it.Key())
		switch {
		case !valid:
			return true
		case e == epoch && k == si.kind && a == si.asset && (!exact || s == seq):
			return true
		case e < epoch:
			epoch = e // look inside epoch e, which may hold the stream below this key
		case e == 0:
			return false
		default:
			epoch = e - 1 // nothing in epoch e
		}
	}
}

// prev moves to the stream's previous key.
func (si *streamIter) prev() bool {
	e, _ := si.is()
	if !si.it.Prev() {
		return false
	}
	if _, ours := si.is(); ours {
		return true
	}
	if e == 0 {
		return false
	}
	return si.lastBefore(e-1, maxSeq, false)
}

// isHeader reports whether k is the store header's key.
func isHeader(k []byte) bool { return bytes.Equal(k, headerKey) }

// headerKey is the key of the store header: epoch 0, kind 0, asset 0,
// sequence 0, the first key of every store.
var headerKey = makeKey(0, kindHeader, 0, 0)
