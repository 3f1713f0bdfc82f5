package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestAcceptedLossReusesNoOrderID: a restart with -accept-journal-loss must
// never hand out an order id that a client was acknowledged before the
// loss. Each start reserves a fresh range of id numbers in the journal; the
// test loses the newest WAL whole (the reservation of the second run with
// the orders it acknowledged), accepts the loss, and places orders again.
// Before, the third run found only the first run's reservation and handed
// out the second run's ids again.
func TestAcceptedLossReusesNoOrderID(t *testing.T) {
	dir := t.TempDir()
	place := func(s *server, from, n int) []uint64 {
		t.Helper()
		trader := s.session("alice", "alice-demo-key", nil)
		defer trader.Close()
		var ids []uint64
		for i := range n {
			ack, err := trader.PlaceSync(ctx5(), limit(uint64(from+i), uint8(1+i%2), 6_500_000+int64(i%7-3)*50, 1))
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, ack.OrderID)
		}
		return ids
	}
	s := startServer(t, dir, "-snapshot-every", "0")
	first := place(s, 1, 10)
	s.stop()
	wal := newestWALFile(t, dir)

	s = startServer(t, dir, "-snapshot-every", "0")
	acked := place(s, 1000, 50)
	s.stop()
	if newestWALFile(t, dir) == wal {
		t.Fatal("the second run wrote no WAL of its own")
	}
	// Lose the second run's WAL: its id reservation and its orders.
	if err := os.Truncate(newestWALFile(t, dir), 0); err != nil {
		t.Fatal(err)
	}
	code, stderr := runToExit(t, "-data", dir, "-listen", freePort(t), "-md-listen", freePort(t), "-admin", "")
	if code != 1 || !strings.Contains(stderr, "-accept-journal-loss") {
		t.Fatalf("restart after losing a WAL: exit %d, want 1 naming -accept-journal-loss:\n%s", code, stderr)
	}

	s = startServer(t, dir, "-snapshot-every", "0", "-accept-journal-loss")
	again := place(s, 5000, 50)
	s.stop()
	seen := map[uint64]bool{}
	for _, id := range slices.Concat(first, acked) {
		seen[id] = true
	}
	top := slices.Max(slices.Concat(first, acked))
	for _, id := range again {
		if seen[id] {
			t.Fatalf("order id %#x acknowledged before the loss was handed out again after it "+
				"(ids before %#x-%#x, after %#x-%#x)", id, acked[0], acked[len(acked)-1], again[0], again[len(again)-1])
		}
		if id <= top {
			t.Fatalf("order id %#x after the loss is not above %#x, the highest acknowledged before it", id, top)
		}
	}
	t.Logf("ids: first run %#x.., second (lost) %#x-%#x, after the loss %#x-%#x", first[0], acked[0], acked[len(acked)-1], again[0], again[len(again)-1])
}

// newestWALFile returns the path of the newest non-empty WAL in dir.
func newestWALFile(t *testing.T, dir string) string {
	t.Helper()
	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	slices.Sort(logs)
	for _, l := range slices.Backward(logs) {
		if fi, err := os.Stat(l); err == nil && fi.Size() > 0 {
			return l
		}
	}
	t.Fatalf("no WAL in %s", dir)
	return ""
}
