package journal

import (
	"math/rand/v2"
	"testing"
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
