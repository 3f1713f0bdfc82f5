package journal

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestCommandWriterSyncTo checks that SyncTo returns once the batch holding
// its sequence is durable, reports how far that is, and refuses a sequence
// that was never written instead of waiting for it.
func TestCommandWriterSyncTo(t *testing.T) {
	r := rand.New(rand.NewPCG(45, 46))
	s := openStore(t, t.TempDir(), SyncPolicy{Mode: SyncAlways}, nil)
	defer s.Close()
	w := s.Commands(3)
	next := uint64(1)
	var lasts []uint64
	for range 3 {
		cmds := commands(r, next, 1+r.IntN(20))
		if err := w.Write(cmds); err != nil {
			t.Fatal(err)
		}
		next += uint64(len(cmds))
		lasts = append(lasts, next-1)
	}
	synced, err := w.SyncTo(lasts[0] - 1)
	if err != nil || synced < lasts[0] || synced > lasts[2] {
		t.Fatalf("SyncTo(%d) = %d, %v; want a batch end in %v", lasts[0]-1, synced, err, lasts)
	}
	if synced, err := w.SyncTo(lasts[2]); err != nil || synced != lasts[2] {
		t.Fatalf("SyncTo(%d) = %d, %v; want %d", lasts[2], synced, err, lasts[2])
	}
	if synced, err := w.SyncTo(next); err == nil {
		t.Fatalf("SyncTo(%d) of an unwritten sequence = %d, nil; want an error", next, synced)
	}
}

// TestCommandWriterAllocs checks that the pipeline's SyncAlways commit path
// (Write, then SyncTo of the batch's last sequence) allocates nothing once
// its batches exist.
func TestCommandWriterAllocs(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled {
		t.Skip("allocation counts are not meaningful under -race or -cover")
	}
	s, err := Open(Options{Dir: t.TempDir(), Sync: SyncPolicy{Mode: SyncAlways}, Logger: quiet,
		MemTableSize: 4 << 20, MarkInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	w := s.Commands(1)
	cmds := commands(rand.New(rand.NewPCG(47, 48)), 1, 64)
	next := func() {
		if err := w.Write(cmds); err != nil {
			t.Fatal(err)
		}
		if _, err := w.SyncTo(cmds[len(cmds)-1].Seq); err != nil {
			t.Fatal(err)
		}
		for i := range cmds {
			cmds[i].Seq += uint64(len(cmds))
		}
	}
	next() // first use creates the batch
	if a := testing.AllocsPerRun(200, next); a > 0.1 {
		t.Errorf("%.2f allocations per Write and SyncTo, want 0", a)
	}
}
