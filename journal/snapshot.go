package journal

import (
	"bytes"
	"fmt"
	"math"

	"github.com/cockroachdb/pebble/v2"

	"github.com/ringex/ringex/engine"
)

// PutSnapshot stores data, an opaque snapshot of the asset's book after
// every command up to cmdSeq, when its last event was eventSeq. It is
// fsynced unless the policy is SyncOff, which also makes every command
// written before it durable.
func (s *Store) PutSnapshot(asset uint32, cmdSeq, eventSeq uint64, data []byte) error {
	if uint64(len(data)) > math.MaxUint32-snapshotHeaderLen-crcLen {
		return fmt.Errorf("journal: asset %d: snapshot of %d bytes is too large", asset, len(data))
	}
	value := encodeSnapshot(asset, cmdSeq, eventSeq, data)
	err := s.commitOne(durable, func(b *pebble.Batch, epoch uint64) error {
		return b.Set(makeKey(epoch, kindSnapshot, asset, cmdSeq), value, nil)
	})
	if err != nil {
		return fmt.Errorf("journal: asset %d: snapshot at seq %d: %w", asset, cmdSeq, err)
	}
	return nil
}

// LatestSnapshot returns the asset's newest snapshot: its command sequence,
// its event sequence and a copy of its data. ok is false if there is none.
func (s *Store) LatestSnapshot(asset uint32) (cmdSeq, eventSeq uint64, data []byte, ok bool, err error) {
	err = s.lastSnapshot(asset, maxSeq, func(h snapshotHeader, d []byte) {
		cmdSeq, eventSeq, data, ok = h.cmdSeq, h.eventSeq, bytes.Clone(d), true
	})
	if err != nil {
		return 0, 0, nil, false, err
	}
	return cmdSeq, eventSeq, data, ok, nil
}

// latestSnapshotHeader returns the header of the asset's newest snapshot at
// or before command sequence atOrBefore.
func (s *Store) latestSnapshotHeader(asset uint32, atOrBefore uint64) (h snapshotHeader, ok bool, err error) {
	err = s.lastSnapshot(asset, atOrBefore, func(hh snapshotHeader, _ []byte) { h, ok = hh, true })
	return h, ok, err
}

// lastSnapshot calls fn with the asset's newest snapshot at or before
// command sequence atOrBefore, if there is one. The data is valid only
// during the call.
func (s *Store) lastSnapshot(asset uint32, atOrBefore uint64, fn func(snapshotHeader, []byte)) error {
	if s.closed.Load() {
		return ErrClosed
	}
	it, err := s.db.NewIter(nil)
	if err != nil {
		return fmt.Errorf("journal: asset %d: open snapshot iterator: %w", asset, err)
	}
	defer it.Close()
	si := streamIter{it: it, kind: kindSnapshot, asset: asset}
	if !si.last(atOrBefore, false) {
		if err := it.Error(); err != nil {
			return fmt.Errorf("journal: asset %d: read snapshots: %w", asset, err)
		}
		return nil
	}
	key := it.Key()
	corrupt := func(seq uint64, err error) error {
		return &CorruptError{Asset: asset, Seq: seq, Key: bytes.Clone(key), Reason: err.Error(), Err: err}
	}
	seq, ok := parseKey(key, kindSnapshot, asset)
	if !ok {
		return corrupt(0, errMalformed)
	}
	v, err := it.ValueAndErr()
	if err != nil {
		return corrupt(seq, err)
	}
	h, data, err := decodeSnapshot(v)
	switch {
	case err != nil:
		return corrupt(seq, err)
	case h.asset != asset:
		return corrupt(seq, fmt.Errorf("%w %d", errWrongAsset, h.asset))
	case h.cmdSeq != seq:
		return corrupt(seq, fmt.Errorf("%w: holds %d", errWrongSeq, h.cmdSeq))
	}
	fn(h, data)
	return nil
}

// blockStart returns the key sequence of the asset's block of kind that
// holds seq: the last block starting at or before it (0 if none).
func (s *Store) blockStart(kind byte, asset uint32, seq uint64) (uint64, error) {
	it, err := s.db.NewIter(nil)
	if err != nil {
		return 0, fmt.Errorf("journal: asset %d: open %s iterator: %w", asset, kindName(kind), err)
	}
	defer it.Close()
	si := streamIter{it: it, kind: kind, asset: asset}
	if !si.last(seq, false) {
		return 0, it.Error()
	}
	first, ok := parseKey(it.Key(), kind, asset)
	if !ok {
		return 0, &CorruptError{Asset: asset, Key: bytes.Clone(it.Key()), Reason: errMalformed.Error(), Err: errMalformed}
	}
	return first, nil
}

// deleteBefore adds to b the range deletions of the stream's keys before
// sequence end: one per epoch that holds some.
func (s *Store) deleteBefore(b *pebble.Batch, kind byte, asset uint32, end uint64) error {
	it, err := s.db.NewIter(nil)
	if err != nil {
		return fmt.Errorf("journal: asset %d: open %s iterator: %w", asset, kindName(kind), err)
	}
	defer it.Close()
	si := streamIter{it: it, kind: kind, asset: asset}
	for ok := si.first(); ok; {
		e, k, a, seq, valid := splitKey(it.Key())
		if !valid || k != kind || a != asset {
			return &CorruptError{Asset: asset, Key: bytes.Clone(it.Key()), Reason: errMalformed.Error(), Err: errMalformed}
		}
		if seq >= end {
			break
		}
		// Sequences grow with the epoch: every key of the stream in an
		// epoch before end's is below end.
		if err := b.DeleteRange(makeKey(e, kind, asset, 0), makeKey(e, kind, asset, end), nil); err != nil {
			return err
		}
		if e == math.MaxUint64 {
			break
		}
		ok = si.seekGE(e+1, 0)
	}
	return it.Error()
}

// Prune deletes what the asset's newest snapshot at or before beforeCmdSeq
// (call it S) makes unnecessary for recovery: the commands before S's
// command sequence, the events before S's event sequence, and the snapshots
// before S. Records are deleted a whole block (one Append's worth, at most
// blockRecords) at a time, so the block holding S's last command and the one
// holding its last event stay, and with them the last sequences and the
// density of later appends. Each kind is one range deletion per epoch
// holding some of it; Pebble reclaims the space as it compacts. Without such a snapshot Prune does
// nothing.
//
// To keep a retention window, pass a sequence older than the newest
// snapshot: Prune then cuts at the newest snapshot at or before it.
func (s *Store) Prune(asset uint32, beforeCmdSeq uint64) error {
	h, ok, err := s.latestSnapshotHeader(asset, beforeCmdSeq)
	if err != nil || !ok {
		return err
	}
	cmdEnd, err := s.blockStart(kindCommand, asset, h.cmdSeq)
	if err != nil {
		return err
	}
	evEnd := uint64(0)
	if h.eventSeq > 0 {
		if evEnd, err = s.blockStart(kindEvent, asset, h.eventSeq); err != nil {
			return err
		}
	}
	err = s.commitOne(buffered, func(b *pebble.Batch, _ uint64) error {
		for _, r := range [...]struct {
			kind byte
			end  uint64
		}{{kindCommand, cmdEnd}, {kindEvent, evEnd}, {kindSnapshot, h.cmdSeq}} {
			if r.end == 0 {
				continue
			}
			if err := s.deleteBefore(b, r.kind, asset, r.end); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("journal: asset %d: prune before seq %d: %w", asset, h.cmdSeq, err)
	}
	return nil
}

// PutAssetConfig stores the configuration of asset id.
func (s *Store) PutAssetConfig(id uint32, cfg engine.AssetConfig) error {
	value, err := encodeAssetConfig(id, &cfg)
	if err != nil {
		return err
	}
	err = s.commitOne(durable, func(b *pebble.Batch, epoch uint64) error {
		return b.Set(makeKey(epoch, kindMeta, id, metaAssetConfig), value, nil)
	})
	if err != nil {
		return fmt.Errorf("journal: asset %d: store configuration: %w", id, err)
	}
	return nil
}

// AssetConfigs returns every stored asset configuration by asset id.
func (s *Store) AssetConfigs() (map[uint32]engine.AssetConfig, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	it, err := s.db.NewIter(nil)
	if err != nil {
		return nil, fmt.Errorf("journal: open metadata iterator: %w", err)
	}
	defer it.Close()
	// The metadata of every asset, epoch by epoch: a later epoch's
	// configuration replaces an earlier one.
	cfgs := make(map[uint32]engine.AssetConfig)
	for ok := it.SeekGE(makeKey(0, kindMeta, 0, 0)); ok; {
		key := it.Key()
		epoch, kind, id, seq, valid := splitKey(key)
		switch {
		case !valid:
			return nil, &CorruptError{Key: bytes.Clone(key), Reason: errMalformed.Error(), Err: errMalformed}
		case kind < kindMeta:
			ok = it.SeekGE(makeKey(epoch, kindMeta, 0, 0))
			continue
		case kind > kindMeta:
			if epoch == math.MaxUint64 {
				ok = false
				continue
			}
			ok = it.SeekGE(makeKey(epoch+1, kindMeta, 0, 0))
			continue
		case seq != metaAssetConfig:
			ok = it.Next() // a metadata item of another kind
			continue
		}
		corrupt := func(err error) error {
			return &CorruptError{Asset: id, Seq: metaAssetConfig, Key: bytes.Clone(key), Reason: err.Error(), Err: err}
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return nil, corrupt(err)
		}
		asset, cfg, err := decodeAssetConfig(v)
		if err != nil {
			return nil, corrupt(err)
		}
		if asset != id {
			return nil, corrupt(fmt.Errorf("%w %d", errWrongAsset, asset))
		}
		cfgs[id] = cfg
		ok = it.Next()
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("journal: read metadata: %w", err)
	}
	return cfgs, nil
}
