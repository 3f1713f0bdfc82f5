package journal

import (
	"bytes"
	"fmt"
	"math"

	"github.com/cockroachdb/pebble/v2"

	"github.com/ringex/ringex/engine"
)

// cursor walks one asset's records of one kind in key order, forward or
// backward, and checks what the keys alone can tell: that each key has the
// right shape and that sequences are dense. The caller decodes the values
// and reports what it finds wrong with corrupt.
type cursor struct {
	it      *pebble.Iterator
	kind    byte
	asset   uint32
	reverse bool
	started bool
	seq     uint64 // the current record's sequence
	value   []byte // the current value, valid until the next call
	err     error
}

func (s *Store) newCursor(kind byte, asset uint32, from, to uint64, reverse bool) (*cursor, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	lower, upper := keyRange(kind, asset, from, to)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return nil, fmt.Errorf("journal: asset %d: open %s iterator: %w", asset, kindName(kind), err)
	}
	return &cursor{it: it, kind: kind, asset: asset, reverse: reverse}, nil
}

// next moves to the next record and reports whether there is one. When it
// returns false, c.err says whether the walk ended cleanly.
func (c *cursor) next() bool {
	if c.err != nil {
		return false
	}
	var ok bool
	switch {
	case !c.started && !c.reverse:
		ok = c.it.First()
	case !c.started:
		ok = c.it.Last()
	case c.reverse:
		ok = c.it.Prev()
	default:
		ok = c.it.Next()
	}
	if !ok {
		if err := c.it.Error(); err != nil {
			c.readError(err)
		}
		return false
	}
	key := c.it.Key()
	seq, good := parseKey(key, c.kind, c.asset)
	if !good {
		c.err = &CorruptError{Asset: c.asset, Seq: c.seq, Key: bytes.Clone(key), Reason: errMalformed.Error(), Err: errMalformed}
		return false
	}
	if c.started && c.kind != kindSnapshot {
		want := c.seq + 1
		if c.reverse {
			want = c.seq - 1
		}
		if seq != want {
			c.err = &CorruptError{Asset: c.asset, Seq: want, Key: makeKey(c.kind, c.asset, want),
				Reason: fmt.Sprintf("%v: found seq %d after %d", errSequenceGap, seq, c.seq), Err: errSequenceGap}
			return false
		}
	}
	c.started, c.seq = true, seq
	v, err := c.it.ValueAndErr()
	if err != nil {
		c.readError(err)
		return false
	}
	c.value = v
	return true
}

// readError records an error of Pebble itself. Corruption that Pebble
// detects (a block checksum) is reported as a CorruptError at the record
// after the last good one; other errors (I/O) are wrapped as they are.
func (c *cursor) readError(err error) {
	seq := c.seq + 1
	if c.reverse {
		seq = c.seq - 1
	}
	if !c.started {
		seq = 0
	}
	if pebble.IsCorruptionError(err) {
		c.err = &CorruptError{Asset: c.asset, Seq: seq, Key: makeKey(c.kind, c.asset, seq), Reason: err.Error(), Err: err}
		return
	}
	c.err = fmt.Errorf("journal: asset %d: read %s near seq %d: %w", c.asset, kindName(c.kind), seq, err)
}

// corrupt records that the current record failed to decode.
func (c *cursor) corrupt(err error) error {
	c.err = &CorruptError{Asset: c.asset, Seq: c.seq, Key: bytes.Clone(c.it.Key()), Reason: err.Error(), Err: err}
	return c.err
}

// check verifies that a decoded record belongs under the current key.
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

// ReplayCommands calls fn, in order, for every journaled command of the
// asset with a sequence greater than after. The *Command is reused: fn must
// copy what it keeps. It stops at the first error of fn, which it returns
// as is, or at the first corrupt record or gap, returning a *CorruptError.
func (s *Store) ReplayCommands(asset uint32, after uint64, fn func(*engine.Command) error) error {
	if after == math.MaxUint64 {
		return nil
	}
	c, err := s.newCursor(kindCommand, asset, after+1, math.MaxUint64, false)
	if err != nil {
		return err
	}
	var cmd engine.Command
	for c.next() {
		a, err := decodeCommand(c.value, &cmd)
		if err != nil {
			c.corrupt(err)
			break
		}
		if c.check(a, cmd.Seq) != nil {
			break
		}
		if err := fn(&cmd); err != nil {
			c.close()
			return err
		}
	}
	return c.close()
}

// ScanEvents calls fn, in order, for every journaled event of the asset
// with a sequence greater than after, like ReplayCommands.
func (s *Store) ScanEvents(asset uint32, after uint64, fn func(*engine.Event) error) error {
	if after == math.MaxUint64 {
		return nil
	}
	c, err := s.newCursor(kindEvent, asset, after+1, math.MaxUint64, false)
	if err != nil {
		return err
	}
	var ev engine.Event
	for c.next() {
		a, err := decodeEvent(c.value, &ev)
		if err != nil {
			c.corrupt(err)
			break
		}
		if c.check(a, ev.Seq) != nil {
			break
		}
		if err := fn(&ev); err != nil {
			c.close()
			return err
		}
	}
	return c.close()
}

// LastTrades returns the asset's last n trades (EvTrade events), oldest
// first. It walks the event journal backward from its end, so its cost is
// the number of events since the n-th last trade.
func (s *Store) LastTrades(asset uint32, n int) ([]engine.Event, error) {
	if n <= 0 {
		return nil, nil
	}
	c, err := s.newCursor(kindEvent, asset, 0, math.MaxUint64, true)
	if err != nil {
		return nil, err
	}
	var trades []engine.Event
	var ev engine.Event
	for len(trades) < n && c.next() {
		a, err := decodeEvent(c.value, &ev)
		if err != nil {
			c.corrupt(err)
			break
		}
		if c.check(a, ev.Seq) != nil {
			break
		}
		if ev.Kind == engine.EvTrade {
			trades = append(trades, ev)
		}
	}
	if err := c.close(); err != nil {
		return nil, err
	}
	for i, j := 0, len(trades)-1; i < j; i, j = i+1, j-1 {
		trades[i], trades[j] = trades[j], trades[i]
	}
	return trades, nil
}

// TradesSince returns, oldest first, at most max of the asset's trades with
// an event sequence greater than seq (all of them if max <= 0).
func (s *Store) TradesSince(asset uint32, seq uint64, max int) ([]engine.Event, error) {
	var trades []engine.Event
	err := s.ScanEvents(asset, seq, func(e *engine.Event) error {
		if e.Kind != engine.EvTrade {
			return nil
		}
		trades = append(trades, *e)
		if max > 0 && len(trades) >= max {
			return errStop
		}
		return nil
	})
	if err != nil && err != errStop {
		return nil, err
	}
	return trades, nil
}

// errStop ends a scan early without an error.
var errStop = fmt.Errorf("journal: stop")

// LastCommandSeq returns the asset's last journaled command sequence, 0 if
// it has none.
func (s *Store) LastCommandSeq(asset uint32) (uint64, error) {
	return s.lastSeq(kindCommand, asset)
}

// LastEventSeq returns the asset's last journaled event sequence, 0 if it
// has none.
func (s *Store) LastEventSeq(asset uint32) (uint64, error) {
	return s.lastSeq(kindEvent, asset)
}

// lastSeq is the sequence of the last key of kind for the asset, or, if the
// newest snapshot is further on, the snapshot's: Prune keeps the last
// command and event a snapshot covers, so this is belt and braces.
func (s *Store) lastSeq(kind byte, asset uint32) (uint64, error) {
	last, err := s.lastKeySeq(kind, asset)
	if err != nil {
		return 0, err
	}
	h, ok, err := s.latestSnapshotHeader(asset, math.MaxUint64)
	if err != nil || !ok {
		return last, err
	}
	if kind == kindCommand {
		return max(last, h.cmdSeq), nil
	}
	return max(last, h.eventSeq), nil
}

func (s *Store) lastKeySeq(kind byte, asset uint32) (uint64, error) {
	c, err := s.newCursor(kind, asset, 0, math.MaxUint64, true)
	if err != nil {
		return 0, err
	}
	var seq uint64
	if c.next() {
		seq = c.seq
	}
	return seq, c.close()
}
