package journal

import (
	"bytes"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// cursor walks one asset's records of one kind (commands or events) in
// sequence order, forward or backward. A Pebble value is a block of
// consecutive fixed-size records keyed by the sequence of its first; the
// cursor yields the records one by one and checks what the keys and lengths
// alone can tell: that keys have the right shape, that a block holds whole
// records, and that sequences are dense across blocks. The caller decodes
// each record, checks it with check, and reports decoding failures with
// corrupt.
type cursor struct {
	it      *pebble.Iterator
	si      streamIter // moves it between the stream's keys
	kind    byte
	asset   uint32
	recLen  int
	reverse bool

	positioned bool   // the iterator is on the block to load next
	skipTo     uint64 // forward: the first sequence wanted
	have       bool   // a record (or a skipped block) set seq
	seq        uint64 // the current record's sequence
	rec        []byte // the current record, valid until the next call

	key     []byte // the current block's key, valid while on the block
	first   uint64 // the current block's first sequence
	onBlock bool   // the cursor is within a block; false between blocks
	block   []byte // the current block's value
	n       int    // whole records in the block
	partial bool   // the block ends in a partial record
	i       int    // the current record's index in the block

	err error
}

// newCursor opens a cursor over the asset's records of kind (recLen bytes
// each). Forward, it starts at sequence after+1; backward, at the end.
func (s *Store) newCursor(kind byte, asset uint32, recLen int, after uint64, reverse bool) (*cursor, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	it, err := s.db.NewIter(nil)
	if err != nil {
		return nil, fmt.Errorf("journal: asset %d: open %s iterator: %w", asset, kindName(kind), err)
	}
	c := &cursor{it: it, si: streamIter{it: it, kind: kind, asset: asset}, kind: kind, asset: asset,
		recLen: recLen, reverse: reverse, skipTo: after + 1}
	switch {
	case reverse:
		c.positioned = c.si.last(maxSeq, false)
	case after == 0:
		c.positioned = c.si.first()
	default:
		// The block holding after+1 is the last one starting at or before it.
		if c.positioned = c.si.last(after+1, false); !c.positioned {
			c.positioned = c.si.first()
		}
	}
	if !c.positioned {
		c.iterDone()
	}
	return c, nil
}

// next moves to the next record and reports whether there is one. When it
// returns false, c.err says whether the walk ended cleanly.
func (c *cursor) next() bool {
	for c.err == nil {
		if c.onBlock {
			if c.reverse {
				c.i--
			} else {
				c.i++
			}
			if c.i >= 0 && c.i < c.n {
				c.seq = c.first + uint64(c.i)
				c.rec = c.block[c.i*c.recLen : (c.i+1)*c.recLen]
				c.have = true
				return true
			}
			if !c.reverse && c.partial {
				c.truncated()
				return false
			}
			c.onBlock = false
			if c.reverse {
				c.positioned = c.si.prev()
			} else {
				c.positioned = c.si.next()
			}
			if !c.positioned {
				c.iterDone()
			}
			continue
		}
		if !c.positioned {
			return false
		}
		c.load()
	}
	return false
}

// load reads the block under the iterator and sets the record index just
// before the first record to return.
func (c *cursor) load() {
	key := c.it.Key()
	first, ok := parseKey(key, c.kind, c.asset)
	if !ok {
		c.err = &CorruptError{Asset: c.asset, Seq: c.seq, Key: bytes.Clone(key), Reason: errMalformed.Error(), Err: errMalformed}
		return
	}
	v, err := c.it.ValueAndErr()
	if err != nil {
		c.key, c.first = key, first
		c.readError(err)
		return
	}
	c.key, c.first, c.block, c.onBlock = key, first, v, true
	c.n, c.partial = len(v)/c.recLen, len(v)%c.recLen != 0
	if c.n == 0 && !c.partial {
		c.partial = true // an empty value: the first record is missing
	}
	if c.reverse && c.partial {
		c.i = c.n
		c.truncated()
		return
	}
	last := first + uint64(c.n) - 1 // the last whole record (first-1 if none)
	if c.have {
		want, got := c.seq+1, first
		if c.reverse {
			want, got = c.seq-1, last
		}
		if got != want {
			c.err = &CorruptError{Asset: c.asset, Seq: want, Key: makeKey(epochOf(key), c.kind, c.asset, want),
				Reason: fmt.Sprintf("%v: block %d-%d next to seq %d", errSequenceGap, first, last, c.seq), Err: errSequenceGap}
			return
		}
	}
	switch {
	case c.reverse:
		c.i = c.n
	case c.skipTo > first:
		// Starting inside (or after) this block: skip the records before
		// skipTo; they were not asked for.
		skip := c.skipTo - first
		if skip > uint64(c.n) {
			skip = uint64(c.n)
		}
		c.i = int(skip) - 1
		if skip > 0 {
			c.seq, c.have = first+skip-1, true
		}
	default:
		c.i = -1
	}
}

// truncated reports that the record at index c.i of the current block is
// incomplete.
func (c *cursor) truncated() {
	seq := c.first + uint64(c.n)
	rest := len(c.block) - c.n*c.recLen
	c.err = &CorruptError{Asset: c.asset, Seq: seq, Key: bytes.Clone(c.key),
		Reason: fmt.Sprintf("%v: record %d of the block has %d of %d bytes", errTruncated, c.n, rest, c.recLen), Err: errTruncated}
}

// iterDone checks why the iterator stopped. Corruption that Pebble detects
// (a block checksum) is reported as a CorruptError at the record after the
// last good one; other errors (I/O) are wrapped as they are.
func (c *cursor) iterDone() {
	if err := c.it.Error(); err != nil {
		c.readError(err)
	}
}

func (c *cursor) readError(err error) {
	seq := uint64(0)
	if c.have {
		seq = c.seq + 1
		if c.reverse {
			seq = c.seq - 1
		}
	}
	if pebble.IsCorruptionError(err) {
		c.err = &CorruptError{Asset: c.asset, Seq: seq, Key: makeKey(epochOf(c.key), c.kind, c.asset, seq), Reason: err.Error(), Err: err}
		return
	}
	c.err = fmt.Errorf("journal: asset %d: read %s near seq %d: %w", c.asset, kindName(c.kind), seq, err)
}

// corrupt records that the current record failed to decode.
func (c *cursor) corrupt(err error) error {
	c.err = &CorruptError{Asset: c.asset, Seq: c.seq, Key: bytes.Clone(c.key),
		Reason: fmt.Sprintf("record %d of the block: %v", c.i, err), Err: err}
	return c.err
}

// check verifies that a decoded record belongs where it was found.
func (c *cursor) check(asset uint32, seq uint64) error {
	if asset != c.asset {
		return c.corrupt(fmt.Errorf("%w %d", errWrongAsset, asset))
	}
	if seq != c.seq {
		return c.corrupt(fmt.Errorf("%w: holds %d", errWrongSeq, seq))
	}
	return nil
}

func (c *cursor) close() error {
	if err := c.it.Close(); err != nil && c.err == nil {
		c.err = fmt.Errorf("journal: asset %d: close iterator: %w", c.asset, err)
	}
	return c.err
}
