package journal

import (
	"bytes"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/ringex/ringex/engine"
)

// cursor walks one asset's records of one kind (commands or events) in
// sequence order, forward or backward, and decodes them into cmd or ev. A
// Pebble value is a block of consecutive records keyed by the sequence of
// its first, in either record version (see the package comment), told
// apart by its first byte: version 1, fixed-size records each with its own
// checksum; version 2, one header and one checksum for the block, and
// records of variable length, each encoded against the one before it, so
// that they are decoded in order from the start of the block. The cursor
// checks that keys have the right shape, that each block is whole and
// belongs under its key, and that sequences are dense across blocks; the
// first failure ends the walk with c.err, a *CorruptError, after the
// records before it.
//
// Forward, a version 2 block is decoded record by record into the cursor
// itself, so a replay allocates nothing per record. Backward (LastTrades
// and lastSeq, not on a hot path), a version 2 block is decoded whole into
// a slice the cursor reuses, and walked from its end.
type cursor struct {
	it      *pebble.Iterator
	si      streamIter // moves it between the stream's keys
	kind    byte
	asset   uint32
	reverse bool

	positioned bool   // the iterator is on the block to load next
	skipTo     uint64 // forward: the first sequence wanted
	have       bool   // a record (or a skipped block) set seq
	seq        uint64 // the current record's sequence

	// The current record, valid until the next call. For version 2 blocks
	// they are also the state the next record is decoded against.
	cmd engine.Command
	ev  eventState

	key     []byte // the current block's key, valid while on the block
	first   uint64 // the current block's first sequence
	onBlock bool   // the cursor is within a block; false between blocks
	block   []byte // the current block's value
	version byte   // the current block's record version
	n       int    // whole records in the block
	partial bool   // version 1: the block ends in a partial record
	i       int    // the current record's index in the block

	recs varintReader     // version 2, forward: the block's records
	cmds []engine.Command // version 2, backward: the block decoded
	evs  []engine.Event

	err error
}

// newCursor opens a cursor over the asset's records of kind. Forward, it
// starts at sequence after+1; backward, at the end.
func (s *Store) newCursor(kind byte, asset uint32, after uint64, reverse bool) (*cursor, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	it, err := s.db.NewIter(nil)
	if err != nil {
		return nil, fmt.Errorf("journal: asset %d: open %s iterator: %w", asset, kindName(kind), err)
	}
	c := &cursor{it: it, si: streamIter{it: it, kind: kind, asset: asset}, kind: kind, asset: asset,
		reverse: reverse, skipTo: after + 1}
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

// next moves to the next record, decodes it into c.cmd or c.ev.prev and
// reports whether there is one. When it returns false, c.err says whether
// the walk ended cleanly.
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
				if !c.decode() {
					return false
				}
				c.have = true
				if !c.reverse && c.seq < c.skipTo {
					continue // version 2: decoded for the records after it
				}
				return true
			}
			if !c.reverse {
				switch {
				case c.partial:
					c.truncated()
					return false
				case c.version == blockVersion:
					if err := checkEnd(&c.recs); err != nil {
						c.seq = c.first + uint64(c.n)
						c.corrupt(err)
						return false
					}
				}
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

// decode decodes the record at c.i, c.seq, and reports whether it is good.
func (c *cursor) decode() bool {
	var err error
	switch {
	case c.version == blockVersion && c.reverse:
		if c.kind == kindCommand {
			c.cmd = c.cmds[c.i]
		} else {
			c.ev.prev = c.evs[c.i]
		}
		return true
	case c.version == blockVersion:
		if c.kind == kindCommand {
			err = c.recs.command(&c.cmd)
			c.cmd.Seq = c.seq
		} else {
			err = c.recs.event(&c.ev)
			c.ev.prev.Seq = c.seq
		}
	default:
		var asset uint32
		var seq uint64
		if c.kind == kindCommand {
			asset, err = decodeCommand(c.block[c.i*commandLen:(c.i+1)*commandLen], &c.cmd)
			seq = c.cmd.Seq
		} else {
			asset, err = decodeEvent(c.block[c.i*eventLen:(c.i+1)*eventLen], &c.ev.prev)
			seq = c.ev.prev.Seq
		}
		if err == nil {
			err = c.check(asset, seq)
		}
	}
	if err != nil {
		c.corrupt(err)
		return false
	}
	return true
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
	c.partial, c.n = false, 0
	var h blockHeader
	if len(v) > 0 && v[0] == blockVersion {
		c.version = blockVersion
		typ := recCommand
		if c.kind == kindEvent {
			typ = recEvent
		}
		if h, err = parseBlock(v, typ); err != nil {
			c.blockCorrupt(err)
			return
		}
		c.n = h.n
	} else {
		c.version = 1
		c.n, c.partial = len(v)/recLen(c.kind), len(v)%recLen(c.kind) != 0
		if c.n == 0 && !c.partial {
			c.partial = true // an empty value: the first record is missing
		}
		if c.reverse && c.partial {
			c.i = c.n
			c.truncated()
			return
		}
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
	if c.version == blockVersion && !c.loadV2(h) {
		return
	}
	switch {
	case c.reverse:
		c.i = c.n
	case c.skipTo > first && c.version == 1:
		// Starting inside (or after) this block: skip the records before
		// skipTo; they were not asked for. (next decodes and skips those
		// of a version 2 block, each needed for the next.)
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

// blockCorrupt reports that the current block failed as a whole: at its
// first record, which is not delivered, nor any after it.
func (c *cursor) blockCorrupt(err error) {
	c.seq = c.first
	c.err = &CorruptError{Asset: c.asset, Seq: c.seq, Key: bytes.Clone(c.key), Reason: "block: " + err.Error(), Err: err}
}

// loadV2 checks the header h of the version 2 block c.block against its
// key and prepares its records: for a forward walk, the reader; for a
// backward one, the block decoded whole.
func (c *cursor) loadV2(h blockHeader) bool {
	if err := checkHeader(h, c.asset, c.first); err != nil {
		c.blockCorrupt(err)
		return false
	}
	c.recs = varintReader{b: h.recs}
	c.cmd, c.ev = engine.Command{}, eventState{}
	if !c.reverse {
		return true
	}
	c.cmds, c.evs = c.cmds[:0], c.evs[:0]
	var err error
	for c.i = 0; c.i < c.n; c.i++ {
		if c.kind == kindCommand {
			err = c.recs.command(&c.cmd)
			c.cmd.Seq = c.first + uint64(c.i)
			c.cmds = append(c.cmds, c.cmd)
		} else {
			err = c.recs.event(&c.ev)
			c.ev.prev.Seq = c.first + uint64(c.i)
			c.evs = append(c.evs, c.ev.prev)
		}
		if err != nil {
			break
		}
	}
	if err == nil {
		err = checkEnd(&c.recs)
	}
	if err != nil {
		// Backward, the records after a bad one cannot be decoded: the
		// walk stops at the block.
		c.seq = c.first + uint64(min(c.i, c.n-1))
		c.corrupt(err)
		return false
	}
	return true
}

// recLen is the length of a version 1 record of kind.
func recLen(kind byte) int {
	if kind == kindEvent {
		return eventLen
	}
	return commandLen
}

// truncated reports that the record at index c.i of the current block is
// incomplete.
func (c *cursor) truncated() {
	seq := c.first + uint64(c.n)
	rest := len(c.block) - c.n*recLen(c.kind)
	c.err = &CorruptError{Asset: c.asset, Seq: seq, Key: bytes.Clone(c.key),
		Reason: fmt.Sprintf("%v: record %d of the block has %d of %d bytes", errTruncated, c.n, rest, recLen(c.kind)), Err: errTruncated}
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

// check verifies that a decoded version 1 record belongs where it was
// found.
func (c *cursor) check(asset uint32, seq uint64) error {
	if asset != c.asset {
		return fmt.Errorf("%w %d", errWrongAsset, asset)
	}
	if seq != c.seq {
		return fmt.Errorf("%w: holds %d", errWrongSeq, seq)
	}
	return nil
}

func (c *cursor) close() error {
	if err := c.it.Close(); err != nil && c.err == nil {
		c.err = fmt.Errorf("journal: asset %d: close iterator: %w", c.asset, err)
	}
	return c.err
}
