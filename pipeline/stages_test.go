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

// TestPinPairs: the acker shares the journal's goroutine and the notifier
// the event journal's, so -pin acker=N pins the journal's goroutine when
// the journal itself is not pinned, and two different CPUs for one
// goroutine are refused by Open.
func TestPinPairs(t *testing.T) {
	p := NoPinning
	p.Acker, p.Notifier, p.Matcher = 1, 0, 1
	c, m, o, err := p.goroutines()
	if err != nil || c != 1 || m != 1 || o != 0 {
		t.Fatalf("goroutines() = %d, %d, %d, %v; want 1, 1, 0, nil", c, m, o, err)
	}
	if p.ownMatcher() {
		t.Fatal("matcher pinned with the commit: own goroutine")
	}
	p.Journal, p.Acker = 0, 0
	if c, _, _, err := p.goroutines(); err != nil || c != 0 {
		t.Fatalf("journal=0,acker=0: %d, %v", c, err)
	}
	if !p.ownMatcher() {
		t.Fatal("matcher pinned apart from the commit: no goroutine of its own")
	}
	if NoPinning.ownMatcher() {
		t.Fatal("no pins: matcher on a goroutine of its own")
	}
	for _, bad := range []CPUs{
		{Journal: 0, Acker: 1, Matcher: -1, EventJournal: -1, Notifier: -1},
		{Journal: -1, Acker: -1, Matcher: -1, EventJournal: 1, Notifier: 0},
	} {
		store, err := journal.Open(journal.Options{Dir: t.TempDir(), Sync: journal.SyncPolicy{Mode: journal.SyncOff}})
		if err != nil {
			t.Fatal(err)
		}
		if ex, err := Open(store, []AssetSpec{testAsset}, Config{InSize: 64, OutSize: 64, Pin: bad}); err == nil {
			ex.Close()
			t.Errorf("Open with %+v: no error", bad)
		}
		store.Close()
	}
}

// journalChecker is an AckSink and an OutputSink that checks, from inside
// each call, that the journal already holds what it is handed: every acked
// command (the acks follow the group commit on its goroutine) and every
// event notified (the notifier follows the event journal on its).
type journalChecker struct {
	t                 *testing.T
	store             *journal.Store
	acked, notified   int
	lastCmd, lastEvnt uint64
}

func (c *journalChecker) HandleAcks(a *Asset, lo, hi int64) {
	want := a.Input(hi).Cmd.Seq
	var got uint64
	if err := c.store.ReplayCommands(a.ID, c.lastCmd, func(cmd *engine.Command) error { got = cmd.Seq; return nil }); err != nil {
		c.t.Error(err)
	}
	if got < want {
		c.t.Errorf("acks up to command %d handed over while the journal holds up to %d", want, got)
	}
	c.lastCmd = want
	c.acked += int(hi - lo + 1)
}

func (c *journalChecker) HandleOutput(a *Asset, lo, hi int64) {
	var want uint64
	for s := lo; s <= hi; s++ {
		if o := a.Output(s); !o.IsLevel {
			want = o.Event.Seq
			c.notified++
		}
	}
	if want == 0 {
		return
	}
	var got uint64
	if err := c.store.ScanEvents(a.ID, c.lastEvnt, func(e *engine.Event) error { got = e.Seq; return nil }); err != nil {
		c.t.Error(err)
	}
	if got < want {
		c.t.Errorf("events up to %d notified while the event journal holds up to %d", want, got)
	}
	c.lastEvnt = want
}

// TestSinksFollowJournal: acks are handed over only for committed commands,
// and output only for journaled events.
func TestSinksFollowJournal(t *testing.T) {
	store, err := journal.Open(journal.Options{Dir: t.TempDir(), Sync: journal.SyncPolicy{Mode: journal.SyncOff}})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ex, err := Open(store, []AssetSpec{testAsset}, Config{InSize: 64, OutSize: 256, Wait: ring.Blocking})
	if err != nil {
		t.Fatal(err)
	}
	chk := &journalChecker{t: t, store: store}
	ex.Start(chk, chk)
	a := ex.BySymbol("TEST")
	const n = 300
	for i := range n {
		side := engine.Buy
		if i%2 == 1 {
			side = engine.Sell
		}
		c := engine.Command{Kind: engine.CmdNew, UserID: uint32(1 + i%2), ClientOrderID: uint64(i), Side: side,
			Type: engine.Limit, TIF: engine.GTC, Price: 500, Qty: 10}
		if _, err := a.Submit(&c, 0, 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if err := ex.Close(); err != nil {
		t.Fatal(err)
	}
	if chk.acked != n || chk.notified < n {
		t.Fatalf("acked %d, notified %d events; want %d and at least %d", chk.acked, chk.notified, n, n)
	}
}

// TestPassOutputLargerThanRing: a pass whose output is several times the
// output ring (400 resting orders and a market order sweeping them, all in
// the first pass) streams through it. The matcher publishes a pass's
// output at its end (publishOut), and early once half the ring is
// pending; publishing only at the end would wait forever for room the
// unpublished entries hold.
func TestPassOutputLargerThanRing(t *testing.T) {
	store, err := journal.Open(journal.Options{Dir: t.TempDir(), Sync: journal.SyncPolicy{Mode: journal.SyncOff}})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ex, err := Open(store, []AssetSpec{testAsset}, Config{InSize: 1024, OutSize: 512, Wait: ring.Blocking})
	if err != nil {
		t.Fatal(err)
	}
	a := ex.BySymbol("TEST")
	const levels = 400
	for i := range levels { // before Start: the first pass takes them all
		c := engine.Command{Kind: engine.CmdNew, UserID: 1, ClientOrderID: uint64(i + 1), Side: engine.Sell,
			Type: engine.Limit, TIF: engine.GTC, Price: int64(1000 + 5*i), Qty: 10}
		if _, err := a.Submit(&c, 0, time.Second); err != nil {
			t.Fatal(err)
		}
	}
	sweep := engine.Command{Kind: engine.CmdNew, UserID: 2, ClientOrderID: 1, Side: engine.Buy,
		Type: engine.Market, TIF: engine.IOC, Qty: 10 * levels}
	if _, err := a.Submit(&sweep, 0, time.Second); err != nil {
		t.Fatal(err)
	}
	out := &outRecorder{}
	ex.Start(nil, out)
	closed := make(chan error, 1)
	go func() { closed <- ex.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the pass's output did not stream through the output ring")
	}
	trades := 0
	for _, e := range out.events {
		if e.Kind == engine.EvTrade {
			trades++
		}
	}
	if trades != levels || out.levels < 2*levels {
		t.Fatalf("%d trades and %d level changes, want %d and at least %d", trades, out.levels, levels, 2*levels)
	}
}
