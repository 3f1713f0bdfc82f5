package journal

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// ErrCorrupt is matched by Open's error when a table of the database fails
// its checksum.
var ErrCorrupt = errors.New("journal: corrupt data")

// open opens Pebble in opts.Dir for s and checks what it opened before the
// store accepts a write:
//
//   - A write that fails while Pebble opens (a full disk) fails the store,
//     and open returns that error at once. Pebble itself would never
//     return: it retries the flush of the recovered WAL forever. Its
//     goroutine is left behind (paused between retries, see faults) to close
//     the database if it ever finishes; the caller is expected to exit.
//   - Every table is read once (verify), so that a corrupt table stops the
//     start with its file and keys named, instead of failing the first
//     reader or compaction that touches it, later, while orders are taken.
//   - The high-water mark is compared with the journal (see marker.go).
//
// fs is the file system under the store's watchFS.
func (s *Store) open(opts Options, fs vfs.FS, po *pebble.Options) error {
	type opened struct {
		db  *pebble.DB
		err error
	}
	c := make(chan opened, 1)
	go func() {
		db, err := pebble.Open(opts.Dir, po)
		c <- opened{db, err}
	}()
	var r opened
	select {
	case r = <-c:
	case <-s.faults.failedC:
		go func() {
			if r := <-c; r.db != nil {
				s.faults.close()
				r.db.Close()
			}
		}()
		// The cause alone: "unavailable" means nothing to a store that never opened.
		return fmt.Errorf("journal: open %s: %w", opts.Dir, errors.Unwrap(s.Err()))
	}
	if r.err != nil {
		return fmt.Errorf("journal: open %s: %w", opts.Dir, r.err)
	}
	s.db = r.db
	fail := func(err error) error {
		s.faults.close()
		s.db.Close()
		return err
	}
	if f := s.failed.Load(); f != nil {
		// A write failed during Open (WAL recovery, manifest) although Pebble
		// recovered from it: do not trust this disk.
		return fail(fmt.Errorf("journal: open %s: %w", opts.Dir, f))
	}
	// Every table first: the layout check reads the first and the last
	// key, and a damaged block there must be reported like any other
	// (ErrCorrupt, naming the file), not as a bare Pebble error. Then the
	// layout, before the mark: a directory of another layout would read as
	// empty, and the mark would then report a lost journal. verify skips
	// keys of another length, so it reads such a directory without error.
	if err := s.verify(!opts.skipRecordCheck); err != nil {
		return fail(err)
	}
	empty, err := s.empty() // before openLayout writes a new store's header
	if err != nil {
		return fail(err)
	}
	if err := s.openLayout(opts.Dir); err != nil {
		return fail(fmt.Errorf("journal: open %s: %w", opts.Dir, err))
	}
	every := opts.MarkInterval
	if every <= 0 {
		every = DefaultMarkInterval
	}
	k := &marker{s: s, fs: fs, dir: opts.Dir, every: every}
	// A store writes its mark at its first Open (below), so a journal
	// with data and no mark has lost it (or never got to write it): like
	// a damaged mark, it cannot say how far order ids went.
	m, found, err := readMark(fs, opts.Dir)
	unknown := false
	switch {
	case err != nil:
		if !opts.AcceptJournalLoss {
			return fail(err)
		}
		s.log.Warn("ignoring the high-water mark (-accept-journal-loss): order ids continue past a margin",
			"err", err, "margin", uint64(idLossMargin))
		m, unknown = newMark(), true
	case !found && !empty:
		s.log.Warn("no high-water mark beside a journal that holds data: nothing to check it against; order ids continue past a margin",
			"mark", fs.PathJoin(opts.Dir, markName), "margin", uint64(idLossMargin))
		unknown = true
	}
	if err := k.check(m, opts.AcceptJournalLoss, unknown); err != nil {
		return fail(err)
	}
	if !found && !opts.AcceptJournalLoss { // (check wrote it if AcceptJournalLoss)
		if err := k.write(k.written); err != nil {
			return fail(fmt.Errorf("journal: open %s: write high-water mark: %w", opts.Dir, err))
		}
	}
	s.mark = k
	s.faults.opening.Store(false)
	if opts.Sync.Mode != SyncOff {
		k.start()
	}
	return nil
}

// empty reports whether the database holds no key (a new store, before
// its header is written).
func (s *Store) empty() (bool, error) {
	it, err := s.db.NewIter(nil)
	if err != nil {
		return false, err
	}
	valid := it.First()
	err = errors.Join(it.Error(), it.Close())
	return !valid, err
}

// stopBackground is Close's first step: it stops the mark's goroutine and
// ends the pauses of Pebble's background retries.
func (s *Store) stopBackground() {
	if s.mark != nil {
		s.mark.stop()
	}
	s.faults.close()
}

// closeMark is Close's last step, after Pebble has closed (and synced the
// WAL): it writes the final mark.
func (s *Store) closeMark() error {
	if s.mark == nil || s.Err() != nil {
		return nil
	}
	if err := s.mark.update(nil, false); err != nil {
		return fmt.Errorf("journal: close: %w", err)
	}
	return nil
}

// verify reads every key and value of the database once. Pebble checks
// each block's checksum as it loads it, so a damaged table is found here,
// named with the range of keys it holds; and every record's own checksum is
// checked (checkValue) if records, so a damaged record is named by its key.
func (s *Store) verify(records bool) error {
	start := time.Now()
	it, err := s.db.NewIter(nil)
	if err != nil {
		return fmt.Errorf("journal: verify: %w", err)
	}
	var keys, size int
	var last []byte
	var bad error
	for valid := it.First(); valid; valid = it.Next() {
		var v []byte
		if v, err = it.ValueAndErr(); err != nil {
			break
		}
		if records {
			if bad = checkValue(it.Key(), v); bad != nil {
				break
			}
		}
		last = append(last[:0], it.Key()...)
		keys++
		size += len(v)
	}
	err = errors.Join(err, it.Error())
	if cerr := it.Close(); err == nil {
		err = cerr
	}
	if err == nil && bad == nil {
		s.log.Info("journal verified", "keys", keys, "value_bytes", size, "took", time.Since(start))
		return nil
	}
	if bad != nil {
		return fmt.Errorf("%w: %w; restore the data directory from a copy", ErrCorrupt, bad)
	}
	after := "none"
	if last != nil {
		after = describeKey(last)
	}
	if info := pebble.ExtractDataCorruptionInfo(err); info != nil {
		return fmt.Errorf("%w: %s (keys %s; last readable key: %s): %v; "+
			"restore the data directory from a copy (events and snapshots can be rebuilt from the commands: "+
			"ringex has no tool for it yet)",
			ErrCorrupt, info.Path, describeRange(info.Bounds.Start, info.Bounds.End.Key), after, rootCause(err))
	}
	return fmt.Errorf("journal: verify (last readable key: %s): %w", after, err)
}

// checkValue checks the records of one key's value: every record of a
// command or event block, a snapshot, an asset configuration, an order id
// reservation. Keys of kinds or metadata items it does not know are left
// alone.
func checkValue(k, v []byte) error {
	_, kind, asset, seq, ok := splitKey(k)
	if !ok {
		return nil
	}
	var err error
	switch kind {
	case kindCommand, kindEvent:
		err = checkBlock(kind, asset, seq, v)
	case kindSnapshot:
		_, _, err = decodeSnapshot(v)
	case kindMeta:
		var got uint32
		switch seq {
		case metaAssetConfig:
			got, _, err = decodeAssetConfig(v)
		case metaIDReserve:
			got, _, err = decodeIDReserve(v)
		default:
			got = asset
		}
		if err == nil && got != asset {
			err = fmt.Errorf("%w %d", errWrongAsset, got)
		}
	}
	if err != nil {
		return &CorruptError{Asset: asset, Seq: seq, Key: bytes.Clone(k), Reason: err.Error(), Err: err}
	}
	return nil
}

// describeRange names a range of keys the way an operator reads them.
func describeRange(start, end []byte) string {
	return describeKey(start) + " to " + describeKey(end)
}

// describeKey names a key: "event asset 2 seq 8059".
func describeKey(k []byte) string {
	if len(k) == 0 {
		return "(none)"
	}
	epoch, kind, asset, seq, ok := splitKey(k)
	if !ok {
		return fmt.Sprintf("%x", k)
	}
	if kind == kindMeta {
		return fmt.Sprintf("%s asset %d (epoch %d)", metaName(seq), asset, epoch)
	}
	return fmt.Sprintf("%s asset %d seq %d (epoch %d)", kindName(kind), asset, seq, epoch)
}
