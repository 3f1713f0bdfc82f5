package pipeline

import (
	"testing"
	"time"

	"github.com/ringex/ringex/engine"
	"github.com/ringex/ringex/journal"
	"github.com/ringex/ringex/ring"
)

// TestCloseAfterStageFailure: when the event journal stage fails (here it
// cannot pin its CPU), Close must still return. The snapshot writer used
// to poll for the event journal to catch up with the matcher's final
// snapshot, forever, and Close waited for it.
func TestCloseAfterStageFailure(t *testing.T) {
	store, err := journal.Open(journal.Options{Dir: t.TempDir(), Sync: journal.SyncPolicy{Mode: journal.SyncOff}})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	pins := NoPinning
	pins.EventJournal = 1 << 20 // no such CPU
	ex, err := Open(store, []AssetSpec{testAsset}, Config{InSize: 64, OutSize: 1024, Wait: ring.Blocking,
		SnapshotEvery: 10, Pin: pins})
	if err != nil {
		t.Fatal(err)
	}
	ex.Start(nil, nil)
	select {
	case err := <-ex.Errors():
		t.Logf("stage failed as intended: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the event journal stage did not fail")
	}
	a := ex.BySymbol("TEST")
	for i := range 25 { // snapshots due, and a final one at Close
		c := engine.Command{Kind: engine.CmdNew, UserID: 1, ClientOrderID: uint64(i), Side: engine.Buy,
			Type: engine.Limit, TIF: engine.GTC, Price: 500, Qty: 10}
		if _, err := a.Submit(&c, 0, time.Second); err != nil {
			t.Fatal(err)
		}
	}
	closed := make(chan error, 1)
	go func() { closed <- ex.Close() }()
	select {
	case err := <-closed:
		t.Logf("Close returned: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return after a stage failed")
	}
}

// TestEventMark: waiters wake on advance, on end, on timeout and on cancel;
// advance allocates nothing when nobody waits.
func TestEventMark(t *testing.T) {
	var m eventMark
	done := make(chan bool, 1)
	go func() { done <- m.wait(5, nil, nil) }()
	m.advance(3)
	m.advance(5)
	if !<-done {
		t.Fatal("wait(5) reported false after advance(5)")
	}
	go func() { done <- m.wait(9, nil, nil) }()
	m.end()
	if <-done {
		t.Fatal("wait(9) reported true after end at 5")
	}
	var m2 eventMark
	cancel := make(chan struct{})
	go func() { done <- m2.wait(1, nil, cancel) }()
	close(cancel)
	if <-done {
		t.Fatal("wait reported true after cancel")
	}
	if m2.wait(1, time.After(time.Millisecond), nil) {
		t.Fatal("wait reported true after its timeout")
	}
	if !raceEnabled {
		if a := testing.AllocsPerRun(100, func() { m2.advance(2) }); a != 0 {
			t.Fatalf("advance allocates %.1f with no waiter", a)
		}
	}
}
