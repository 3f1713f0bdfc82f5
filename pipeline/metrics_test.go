package pipeline

import (
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ringex/ringex/engine"
	"github.com/ringex/ringex/journal"
)

// TestRegisterJournal checks that the journal's Pebble counters reach a
// registry, and that a scrape after the store closed is empty, not a crash.
func TestRegisterJournal(t *testing.T) {
	s, err := journal.Open(journal.Options{Dir: t.TempDir(), Sync: journal.SyncPolicy{Mode: journal.SyncOff},
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AppendCommands(1, []engine.Command{{Seq: 1, Kind: engine.CmdNew}}); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	RegisterJournal(reg, s)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := make(map[string]float64)
	for _, f := range families {
		m := f.GetMetric()[0]
		if c := m.GetCounter(); c != nil {
			got[f.GetName()] = c.GetValue()
		} else {
			got[f.GetName()] = m.GetGauge().GetValue()
		}
	}
	for _, name := range []string{"ringex_journal_logged_bytes_total", "ringex_journal_flushed_bytes_total",
		"ringex_journal_compacted_bytes_total", "ringex_journal_moved_bytes_total",
		"ringex_journal_write_amplification", "ringex_journal_l0_sublevels"} {
		if _, ok := got[name]; !ok {
			t.Errorf("%s missing from %v", name, got)
		}
	}
	if got["ringex_journal_logged_bytes_total"] <= 0 {
		t.Errorf("nothing logged after an append: %v", got)
	}
	s.Close()
	if families, err = reg.Gather(); err != nil || len(families) != 0 {
		t.Fatalf("scrape after Close: %d families, %v", len(families), err)
	}
}
