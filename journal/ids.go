package journal

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// Order id reservations keep exchange order ids unique across restarts even
// when a crash of the machine loses the end of the journal (SyncInterval,
// SyncOff): the journal alone cannot say which ids were handed out before
// the crash, so the highest id number that may have been handed out is
// recorded apart from it, fsynced under every policy, before any id above
// the previous reservation is acknowledged. A restart then continues above
// the reservation; at most one reservation's worth of numbers is skipped.
// The pipeline decides what an id number is (see pipeline.OrderID).

// ErrIDSpace is matched by a reservation past the largest id number.
var ErrIDSpace = errors.New("journal: order id numbers exhausted")

// ReserveOrderIDs records that id numbers up to upTo may be handed out for
// asset, replacing the stored reservation, and returns once that record is
// fsynced, under every policy. Callers only ever raise it.
func (s *Store) ReserveOrderIDs(asset uint32, upTo uint64) error {
	if upTo > MaxIDNumber {
		return fmt.Errorf("journal: asset %d: reserve ids up to %d: %w", asset, upTo, ErrIDSpace)
	}
	err := s.commitOne(fsynced, func(b *pebble.Batch, epoch uint64) error {
		return b.Set(makeKey(epoch, kindMeta, asset, metaIDReserve), encodeIDReserve(asset, upTo), nil)
	})
	if err != nil {
		return fmt.Errorf("journal: asset %d: reserve ids up to %d: %w", asset, upTo, err)
	}
	return nil
}

// MaxIDNumber is the largest order id number a reservation may reach: the
// low 48 bits of an exchange order id (see pipeline.OrderID).
const MaxIDNumber = 1<<48 - 1

// OrderIDReservation returns the asset's stored reservation, 0 if it has
// none (a new journal, or one written before reservations existed).
func (s *Store) OrderIDReservation(asset uint32) (uint64, error) {
	if err := s.usable(); err != nil {
		return 0, err
	}
	it, err := s.db.NewIter(nil)
	if err != nil {
		return 0, fmt.Errorf("journal: asset %d: read id reservation: %w", asset, err)
	}
	defer it.Close()
	si := streamIter{it: it, kind: kindMeta, asset: asset}
	if !si.last(metaIDReserve, true) {
		if err := it.Error(); err != nil {
			return 0, fmt.Errorf("journal: asset %d: read id reservation: %w", asset, err)
		}
		return 0, nil
	}
	key := it.Key()
	if _, ok := parseKey(key, kindMeta, asset); !ok {
		return 0, &CorruptError{Asset: asset, Seq: metaIDReserve, Key: bytes.Clone(key), Reason: errMalformed.Error(), Err: errMalformed}
	}
	v, err := it.ValueAndErr()
	if err != nil {
		return 0, &CorruptError{Asset: asset, Seq: metaIDReserve, Key: bytes.Clone(key), Reason: err.Error(), Err: err}
	}
	got, upTo, err := decodeIDReserve(v)
	if err == nil && got != asset {
		err = fmt.Errorf("%w %d", errWrongAsset, got)
	}
	if err != nil {
		return 0, &CorruptError{Asset: asset, Seq: metaIDReserve, Key: bytes.Clone(key), Reason: err.Error(), Err: err}
	}
	return upTo, nil
}
