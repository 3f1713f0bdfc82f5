package journal

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// Order id reservations keep exchange order ids unique across restarts even
// when the end of the journal is lost (a crash of the machine under
// SyncInterval or SyncOff, or a truncated WAL whose loss the operator
// accepts): the journal alone cannot say which ids were handed out before,
// so the highest id number that may have been handed out is recorded apart
// from it, before any id above the previous reservation is acknowledged:
// in the journal, fsynced under every policy, and then in the high-water
// mark file (marker.go), outside the WAL. A restart continues above the
// reservation; at most one reservation's worth of numbers is skipped.
//
// Open checks both copies: a damaged reservation record stops it
// (ErrCorrupt, naming the key), and so does a journal whose reservation is
// below the mark's, the newest reservation having been lost with the WAL's
// tail (ErrJournalLoss), unless Options.AcceptJournalLoss: then the
// journal's reservation is raised to the mark's. The pipeline decides what
// an id number is (see pipeline.OrderID).

// ErrIDSpace is matched by a reservation past the largest id number.
var ErrIDSpace = errors.New("journal: order id numbers exhausted")

// ReserveOrderIDs records that id numbers up to upTo may be handed out for
// asset, replacing the stored reservation, and returns once that record is
// fsynced, under every policy, and written to the high-water mark. Callers
// only ever raise it.
func (s *Store) ReserveOrderIDs(asset uint32, upTo uint64) error {
	if upTo > MaxIDNumber {
		return fmt.Errorf("journal: asset %d: reserve ids up to %d: %w", asset, upTo, ErrIDSpace)
	}
	err := s.putIDReserve(asset, upTo)
	if err == nil {
		err = s.mark.reserved(asset, upTo)
	}
	if err != nil {
		return fmt.Errorf("journal: asset %d: reserve ids up to %d: %w", asset, upTo, err)
	}
	return nil
}

// putIDReserve writes the asset's reservation record in the journal,
// fsynced under every policy.
func (s *Store) putIDReserve(asset uint32, upTo uint64) error {
	return s.commitOne(fsynced, func(b *pebble.Batch, epoch uint64) error {
		return b.Set(makeKey(epoch, kindMeta, asset, metaIDReserve), encodeIDReserve(asset, upTo), nil)
	})
}

// MaxIDNumber is the largest order id number a reservation may reach: the
// low 48 bits of an exchange order id (see pipeline.OrderID).
const MaxIDNumber = 1<<48 - 1

// OrderIDReservation returns the asset's stored reservation, 0 if it has
// none (a new journal).
func (s *Store) OrderIDReservation(asset uint32) (uint64, error) {
	if err := s.usable(); err != nil {
		return 0, err
	}
	upTo, _, err := s.idReservation(asset)
	return upTo, err
}

// idReservation returns the asset's stored reservation and its key, 0 and
// nil if it has none.
func (s *Store) idReservation(asset uint32) (upTo uint64, key []byte, err error) {
	it, err := s.db.NewIter(nil)
	if err != nil {
		return 0, nil, fmt.Errorf("journal: asset %d: read id reservation: %w", asset, err)
	}
	defer it.Close()
	si := streamIter{it: it, kind: kindMeta, asset: asset}
	if !si.last(metaIDReserve, true) {
		if err := it.Error(); err != nil {
			return 0, nil, fmt.Errorf("journal: asset %d: read id reservation: %w", asset, err)
		}
		return 0, nil, nil
	}
	key = bytes.Clone(it.Key())
	if _, ok := parseKey(key, kindMeta, asset); !ok {
		return 0, nil, &CorruptError{Asset: asset, Seq: metaIDReserve, Key: key, Reason: errMalformed.Error(), Err: errMalformed}
	}
	v, err := it.ValueAndErr()
	if err == nil {
		err = checkValue(key, v)
	}
	if err != nil {
		var ce *CorruptError
		if !errors.As(err, &ce) {
			err = &CorruptError{Asset: asset, Seq: metaIDReserve, Key: key, Reason: err.Error(), Err: err}
		}
		return 0, nil, err
	}
	_, upTo, _ = decodeIDReserve(v)
	return upTo, key, nil
}

// idReservations returns every asset's stored reservation. It reads every
// key: for Open's rare paths only.
func (s *Store) idReservations() (map[uint32]uint64, error) {
	it, err := s.db.NewIter(nil)
	if err != nil {
		return nil, fmt.Errorf("journal: read id reservations: %w", err)
	}
	defer it.Close()
	ids := make(map[uint32]uint64)
	for ok := it.First(); ok; ok = it.Next() {
		_, kind, asset, seq, valid := splitKey(it.Key())
		if !valid || kind != kindMeta || seq != metaIDReserve {
			continue
		}
		v, err := it.ValueAndErr()
		if err == nil {
			err = checkValue(it.Key(), v)
		}
		if err != nil {
			return nil, err
		}
		_, upTo, _ := decodeIDReserve(v)
		ids[asset] = max(ids[asset], upTo)
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("journal: read id reservations: %w", err)
	}
	return ids, nil
}
