package journal

import (
	"errors"

	"github.com/ringex/ringex/engine"
)

// ReplayCommands calls fn, in order, for every journaled command of the
// asset with a sequence greater than after. The *Command is reused: fn must
// copy what it keeps. It stops at the first error of fn, which it returns
// as is, or at the first corrupt record or gap, returning a *CorruptError
// after calling fn for every good record before it.
func (s *Store) ReplayCommands(asset uint32, after uint64, fn func(*engine.Command) error) error {
	if after == maxSeq {
		return nil
	}
	c, err := s.newCursor(kindCommand, asset, after, false)
	if err != nil {
		return err
	}
	// fn gets a copy: it may change it, and the cursor decodes the next
	// record against this one. One copy for the replay (declared out of
	// the loop, it escapes to the heap once, not once per record).
	var cmd engine.Command
	for c.next() {
		cmd = c.cmd
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
	if after == maxSeq {
		return nil
	}
	c, err := s.newCursor(kindEvent, asset, after, false)
	if err != nil {
		return err
	}
	var ev engine.Event // a copy, as in ReplayCommands
	for c.next() {
		ev = c.ev.prev
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
	c, err := s.newCursor(kindEvent, asset, 0, true)
	if err != nil {
		return nil, err
	}
	var trades []engine.Event
	for len(trades) < n && c.next() {
		if c.ev.prev.Kind == engine.EvTrade {
			trades = append(trades, c.ev.prev)
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
var errStop = errors.New("journal: stop")

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

// lastSeq is the sequence of the asset's last record of kind or, if the
// newest snapshot is further on, the snapshot's: Prune keeps the last
// command and event a snapshot covers, so this is belt and braces.
func (s *Store) lastSeq(kind byte, asset uint32) (uint64, error) {
	c, err := s.newCursor(kind, asset, 0, true)
	if err != nil {
		return 0, err
	}
	var last uint64
	if c.next() {
		last = c.seq
	}
	if err := c.close(); err != nil {
		return 0, err
	}
	h, ok, err := s.latestSnapshotHeader(asset, maxSeq)
	if err != nil || !ok {
		return last, err
	}
	if kind == kindCommand {
		return max(last, h.cmdSeq), nil
	}
	return max(last, h.eventSeq), nil
}
