package journal

// Stats are the store's Pebble counters that say what the journal costs
// beyond its WAL: how many bytes of sstables were written for it, and how
// much of that was rewriting. All counters start at zero when the store is
// opened.
type Stats struct {
	// LoggedBytes is the bytes of batches written to the WAL: the journal's
	// records with their keys and batch headers.
	LoggedBytes uint64
	// FlushedBytes is the bytes of sstables written by memtable flushes.
	FlushedBytes uint64
	// CompactedBytes is the bytes of sstables written by compactions:
	// records read and written again.
	CompactedBytes uint64
	// MovedBytes is the bytes of sstables moved to a lower level without
	// being rewritten (not counted in CompactedBytes).
	MovedBytes uint64
	// Compactions and Moves count compactions that rewrote tables and
	// those that only moved one.
	Compactions, Moves int64
	// L0Files and L0Sublevels describe level 0: overlapping tables there
	// are what forces rewriting.
	L0Files     int64
	L0Sublevels int32
	// CompactionDebt is Pebble's estimate of the bytes it still has to
	// compact to reach a stable shape.
	CompactionDebt uint64
}

// WriteAmp is the journal's write amplification on top of its WAL: bytes
// written to sstables (flushes and compactions) per byte logged. 1 means
// every record was flushed once and never rewritten; less than 1 is
// possible with block compression. Zero before anything was logged.
func (st Stats) WriteAmp() float64 {
	if st.LoggedBytes == 0 {
		return 0
	}
	return float64(st.FlushedBytes+st.CompactedBytes) / float64(st.LoggedBytes)
}

// Stats returns the store's counters, or ErrClosed. Unlike the other
// methods it may be called concurrently with Close (a metrics scrape
// during shutdown).
func (s *Store) Stats() (Stats, error) {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	if s.statsClosed {
		return Stats{}, ErrClosed
	}
	m := s.db.Metrics()
	st := Stats{
		LoggedBytes:    m.WAL.BytesIn,
		Compactions:    m.Compact.Count - m.Compact.MoveCount - m.Compact.DeleteOnlyCount,
		Moves:          m.Compact.MoveCount,
		L0Files:        m.Levels[0].TablesCount,
		L0Sublevels:    m.Levels[0].Sublevels,
		CompactionDebt: m.Compact.EstimatedDebt,
	}
	for i := range m.Levels {
		l := &m.Levels[i]
		st.FlushedBytes += l.TableBytesFlushed + l.BlobBytesFlushed
		st.CompactedBytes += l.TableBytesCompacted + l.BlobBytesCompacted
		st.MovedBytes += l.TableBytesMoved
	}
	return st, nil
}
