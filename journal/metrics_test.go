package journal

import (
	"errors"
	"testing"
)

// TestStats checks that Stats follows what the store logs and flushes, and
// that it is refused, not a crash, once the store is closed (a metrics
// scrape during shutdown).
func TestStats(t *testing.T) {
	s := openStore(t, t.TempDir(), SyncPolicy{Mode: SyncOff}, nil)
	if err := s.AppendCommands(1, orders(1, 1000)); err != nil {
		t.Fatal(err)
	}
	if err := s.db.Flush(); err != nil {
		t.Fatal(err)
	}
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.LoggedBytes < 1000*5 || st.FlushedBytes == 0 || st.WriteAmp() <= 0 {
		t.Fatalf("stats after 1000 commands and a flush: %+v (write amp %.2f)", st, st.WriteAmp())
	}
	s.Close()
	if _, err := s.Stats(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Stats after Close: %v, want ErrClosed", err)
	}
}
