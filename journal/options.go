package journal

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// SyncMode says when the WAL is fsynced. See the package comment.
type SyncMode uint8

const (
	SyncAlways   SyncMode = iota // fsync every command batch (the default)
	SyncInterval                 // fsync in the background every Interval: bounded loss window
	SyncOff                      // never fsync before Close: tests and benchmarks only
)

// SyncPolicy is a SyncMode and, for SyncInterval, its period.
type SyncPolicy struct {
	Mode     SyncMode
	Interval time.Duration
}

// ParseSyncPolicy parses the forms "always", "interval=<duration>" (for
// example "interval=5ms") and "off", as written by SyncPolicy.String.
func ParseSyncPolicy(s string) (SyncPolicy, error) {
	switch {
	case s == "always":
		return SyncPolicy{Mode: SyncAlways}, nil
	case s == "off":
		return SyncPolicy{Mode: SyncOff}, nil
	case strings.HasPrefix(s, "interval="):
		d, err := time.ParseDuration(strings.TrimPrefix(s, "interval="))
		if err != nil {
			return SyncPolicy{}, fmt.Errorf("journal: sync policy %q: %w", s, err)
		}
		p := SyncPolicy{Mode: SyncInterval, Interval: d}
		if err := p.validate(); err != nil {
			return SyncPolicy{}, err
		}
		return p, nil
	}
	return SyncPolicy{}, fmt.Errorf("journal: sync policy %q: want always, interval=<duration> or off", s)
}

func (p SyncPolicy) validate() error {
	switch p.Mode {
	case SyncAlways, SyncOff:
		return nil
	case SyncInterval:
		if p.Interval <= 0 {
			return fmt.Errorf("journal: sync interval %v: must be positive", p.Interval)
		}
		return nil
	}
	return fmt.Errorf("journal: unknown sync mode %d", p.Mode)
}

func (p SyncPolicy) String() string {
	switch p.Mode {
	case SyncAlways:
		return "always"
	case SyncInterval:
		return "interval=" + p.Interval.String()
	case SyncOff:
		return "off"
	}
	return fmt.Sprintf("SyncMode(%d)", p.Mode)
}

// Options configure a Store.
type Options struct {
	// Dir is the database directory; it is created if missing.
	Dir string
	// Sync is the durability policy; the zero value is SyncAlways.
	Sync SyncPolicy
	// FS is the file system, vfs.Default if nil. Tests inject failures here.
	FS vfs.FS
	// Logger receives the store's and Pebble's messages; slog.Default() if nil.
	Logger *slog.Logger
	// MemTableSize is Pebble's memtable size in bytes; 64 MiB if zero.
	// Bigger memtables mean fewer flushes under a steady append load. The
	// store switches memtables (and epochs) at 7/8 of it: see epoch.go.
	MemTableSize uint64
	// AcceptJournalLoss lets Open start on a journal that ends before its
	// high-water mark (see ErrJournalLoss), logging what was lost, lowering
	// the command mark and raising the journal's order id reservations to
	// the mark's, so that no id handed out before is handed out again. For
	// an operator who has no better copy.
	AcceptJournalLoss bool
	// MarkInterval is how often the high-water mark is updated;
	// DefaultMarkInterval if zero.
	MarkInterval time.Duration

	// skipRecordCheck leaves the records' own checksums out of Open's
	// verification, so that tests can open past a damaged record and
	// exercise how readers report it.
	skipRecordCheck bool
}
