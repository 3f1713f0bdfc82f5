package pipeline

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ringex/ringex/engine"
	"github.com/ringex/ringex/journal"
	"github.com/ringex/ringex/ring"
)

// passRecorder is an AckSink and AckFlusher that records the passes: the
// assets of the HandleAcks calls before each FlushAcks, and the group.
type passRecorder struct {
	mu      sync.Mutex
	open    map[int][]uint32 // per group, the assets of the pass so far
	passes  [][]uint32
	groups  []int
	acked   map[uint32][]uint64 // per asset, the acked sequences
	failed  map[uint32]int
	bad     []string
	pending int
}

func (r *passRecorder) HandleAcks(a *Asset, lo, hi int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	g := a.Group()
	if slices.Contains(r.open[g], a.ID) {
		r.bad = append(r.bad, fmt.Sprintf("asset %d twice in one pass of group %d", a.ID, g))
	}
	r.open[g] = append(r.open[g], a.ID)
	for s := lo; s <= hi; s++ {
		slot := a.Input(s)
		if slot.Failed() {
			r.failed[a.ID]++
		} else {
			r.acked[a.ID] = append(r.acked[a.ID], slot.Cmd.Seq)
		}
		r.pending--
	}
}

func (r *passRecorder) FlushAcks(group int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.open[group]) == 0 {
		r.bad = append(r.bad, fmt.Sprintf("FlushAcks(%d) after no HandleAcks", group))
	}
	r.passes = append(r.passes, r.open[group])
	r.groups = append(r.groups, group)
	r.open[group] = nil
}

func (r *passRecorder) done() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pending == 0
}

var groupAssets = []AssetSpec{
	{ID: 1, Config: testAsset.Config},
	{ID: 2, Config: engine.AssetConfig{Symbol: "TWO", TickSize: 5, LotSize: 10, MinPrice: 5, MaxPrice: 100000, MaxQty: 1000000}},
	{ID: 3, Config: engine.AssetConfig{Symbol: "THREE", TickSize: 5, LotSize: 10, MinPrice: 5, MaxPrice: 100000, MaxQty: 1000000}},
}

func openAssetGroupTest(t *testing.T, mode journal.SyncMode, groups int) (*journal.Store, *Exchange, *passRecorder) {
	t.Helper()
	store, err := journal.Open(journal.Options{Dir: t.TempDir(), Sync: journal.SyncPolicy{Mode: mode, Interval: 5 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	ex, err := Open(store, groupAssets, Config{AssetGroups: groups, Wait: ring.Blocking})
	if err != nil {
		store.Close()
		t.Fatal(err)
	}
	rec := &passRecorder{open: map[int][]uint32{}, acked: map[uint32][]uint64{}, failed: map[uint32]int{}}
	return store, ex, rec
}

// submitEach submits n resting orders to every asset but skip.
func submitEach(t *testing.T, ex *Exchange, rec *passRecorder, n int, skip *Asset) {
	t.Helper()
	for i := range n {
		for _, a := range ex.Assets() {
			if a == skip {
				continue
			}
			cmd := engine.Command{Kind: engine.CmdNew, UserID: 1, ClientOrderID: uint64(i + 1), Side: engine.Buy,
				Type: engine.Limit, TIF: engine.GTC, Price: 500, Qty: 10}
			rec.mu.Lock()
			rec.pending++
			rec.mu.Unlock()
			if _, err := a.Submit(&cmd, uint64(i), time.Second); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestAssetGroups checks how asset groups split the acks into passes:
// with one group, the commands every asset had waiting before Start are
// committed and acked in one pass, FlushAcks following the HandleAcks of
// each asset once; with a group per asset, every pass holds one asset, of
// its own group. Every command is acked once, in sequence order.
func TestAssetGroups(t *testing.T) {
	for _, mode := range []journal.SyncMode{journal.SyncOff, journal.SyncInterval, journal.SyncAlways} {
		for _, groups := range []int{1, 3} {
			t.Run(fmt.Sprintf("%s/groups%d", []string{"always", "interval", "off"}[mode], groups), func(t *testing.T) {
				store, ex, rec := openAssetGroupTest(t, mode, groups)
				defer store.Close()
				submitEach(t, ex, rec, 50, nil)
				ex.Start(rec, nil)
				submitEach(t, ex, rec, 200, nil)
				waitFor(t, rec.done)
				if err := ex.Close(); err != nil {
					t.Fatal(err)
				}
				rec.mu.Lock()
				defer rec.mu.Unlock()
				if len(rec.bad) > 0 {
					t.Fatal(rec.bad)
				}
				for i, p := range rec.passes {
					for _, id := range p {
						if want := int(id-1) % groups; rec.groups[i] != want {
							t.Fatalf("pass %d of group %d holds asset %d, of group %d", i, rec.groups[i], id, want)
						}
					}
					if groups == 3 && len(p) != 1 {
						t.Fatalf("pass %d with a group per asset holds assets %v", i, p)
					}
				}
				// Under SyncAlways the syncer's first pass may come before the
				// writer has released every asset of its own first pass.
				if groups == 1 && mode != journal.SyncAlways && len(rec.passes[0]) != len(groupAssets) {
					t.Fatalf("first pass holds assets %v, want all %d: the waiting commands of every asset in one pass", rec.passes[0], len(groupAssets))
				}
				for _, a := range ex.Assets() {
					got := rec.acked[a.ID]
					if len(got) != 250 || rec.failed[a.ID] != 0 {
						t.Fatalf("asset %d: %d acked, %d failed; want 250, 0", a.ID, len(got), rec.failed[a.ID])
					}
					for i, seq := range got {
						if seq != uint64(i+1) {
							t.Fatalf("asset %d: ack %d has seq %d", a.ID, i, seq)
						}
					}
					n := 0
					if err := store.ReplayCommands(a.ID, 0, func(*engine.Command) error { n++; return nil }); err != nil || n != 250 {
						t.Fatalf("asset %d: journal holds %d commands (%v), want 250", a.ID, n, err)
					}
				}
			})
		}
	}
}

// TestAssetGroupIDSpaceIsolated checks that an asset whose order ids are
// used up fails alone: the other assets of its asset group, committed in
// the same passes, are still journaled and acked.
func TestAssetGroupIDSpaceIsolated(t *testing.T) {
	store, ex, rec := openAssetGroupTest(t, journal.SyncOff, 1)
	defer store.Close()
	full := ex.Assets()[1]
	full.idOffset, full.idReserved = journal.MaxIDNumber, journal.MaxIDNumber
	submitEach(t, ex, rec, 20, nil)
	ex.Start(rec, nil)
	// Once its first range failed, the full asset refuses Submit
	// (ErrUnavailable): the others go on.
	submitEach(t, ex, rec, 20, full)
	waitFor(t, rec.done)
	if _, err := full.Submit(&engine.Command{Kind: engine.CmdNew}, 0, time.Second); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Submit to the asset with no ids left: %v, want ErrUnavailable", err)
	}
	if err := ex.Close(); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, a := range ex.Assets() {
		acked, failed := len(rec.acked[a.ID]), rec.failed[a.ID]
		if a == full {
			if acked != 0 || failed != 20 {
				t.Errorf("asset %d with no ids left: %d acked, %d failed; want 0, 20", a.ID, acked, failed)
			}
			continue
		}
		if acked != 40 || failed != 0 {
			t.Errorf("asset %d beside it: %d acked, %d failed; want 40, 0", a.ID, acked, failed)
		}
		n := 0
		if err := store.ReplayCommands(a.ID, 0, func(*engine.Command) error { n++; return nil }); err != nil || n != 40 {
			t.Errorf("asset %d beside it: journal holds %d commands (%v), want 40", a.ID, n, err)
		}
	}
	if len(rec.passes[0]) != 3 {
		t.Errorf("first pass holds %v, want all three assets", rec.passes[0])
	}
}

// TestCloseAfterEveryGroupFails: when every goroutine of every asset group
// fails (here none can pin its CPU), each reports its error on Errors and
// Close returns them all. With a group per asset under SyncAlways there
// are four goroutines per asset; Errors held 3 per asset plus one, so the
// last goroutine blocked on its send and Close waited for it forever.
func TestCloseAfterEveryGroupFails(t *testing.T) {
	store, err := journal.Open(journal.Options{Dir: t.TempDir(), Sync: journal.SyncPolicy{Mode: journal.SyncAlways}})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	bad := 1 << 20 // no such CPU
	// The matchers pinned apart from the commit get their own goroutine
	// (matchOnCommit), the fourth.
	ex, err := Open(store, groupAssets, Config{AssetGroups: len(groupAssets), Wait: ring.Blocking,
		Pin: CPUs{Journal: bad, Matcher: bad + 1, Acker: -1, EventJournal: bad, Notifier: -1}})
	if err != nil {
		t.Fatal(err)
	}
	ex.Start(nil, nil)
	closed := make(chan error, 1)
	go func() { closed <- ex.Close() }()
	select {
	case err := <-closed:
		if n := strings.Count(err.Error(), "no such CPU"); n != 4*len(groupAssets) {
			t.Fatalf("Close returned %d pin errors, want %d: %v", n, 4*len(groupAssets), err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return after every group failed")
	}
}

// heldSink is an AckSink whose first HandleAcks waits for release, so that
// the writer of a SyncAlways commit runs ahead of the acks.
type heldSink struct {
	passRecorder
	entered, release chan struct{}
	first            sync.Once
}

func (h *heldSink) HandleAcks(a *Asset, lo, hi int64) {
	h.first.Do(func() {
		close(h.entered)
		<-h.release
	})
	h.passRecorder.HandleAcks(a, lo, hi)
}

// TestSyncAfterLaterWriteFailed: under SyncAlways the writer runs ahead of
// the syncing and acking goroutine, so the range the latter takes may
// hold commands the writer journaled followed by commands it failed (here
// the asset's order ids run out at sequence 11). The journaled ones must
// be acked, not rejected: a rejected command that is in the journal is
// replayed at the next start, and the order the client was told was
// refused would rest on the book and trade. The syncer used to fail the
// whole range once the asset was unavailable, rejecting commands 2-10.
func TestSyncAfterLaterWriteFailed(t *testing.T) {
	store, ex, _ := openAssetGroupTest(t, journal.SyncAlways, 1)
	defer store.Close()
	a := ex.Assets()[0]
	a.idOffset, a.idReserved = journal.MaxIDNumber-10, journal.MaxIDNumber // ids for 10 commands
	sink := &heldSink{entered: make(chan struct{}), release: make(chan struct{})}
	sink.open, sink.acked, sink.failed = map[int][]uint32{}, map[uint32][]uint64{}, map[uint32]int{}
	ex.Start(sink, nil)
	journaled := func() int {
		n := 0
		if err := store.ReplayCommands(a.ID, 0, func(*engine.Command) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	submit := func(from, to int) {
		for i := from; i <= to; i++ {
			cmd := engine.Command{Kind: engine.CmdNew, UserID: 1, ClientOrderID: uint64(i), Side: engine.Buy,
				Type: engine.Limit, TIF: engine.GTC, Price: 500, Qty: 10}
			sink.mu.Lock()
			sink.pending++
			sink.mu.Unlock()
			if _, err := a.Submit(&cmd, uint64(i), time.Second); err != nil {
				t.Fatal(err)
			}
		}
	}
	submit(1, 1)
	<-sink.entered // the acks of command 1 wait
	submit(2, 10)
	waitFor(t, func() bool { return journaled() == 10 })
	submit(11, 20)
	waitFor(t, func() bool { return !a.Available() })
	close(sink.release)
	waitFor(t, sink.done)
	if err := ex.Close(); err != nil {
		t.Fatal(err)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if acked, failed := len(sink.acked[a.ID]), sink.failed[a.ID]; acked != 10 || failed != 10 || journaled() != 10 {
		t.Fatalf("%d acked, %d rejected, %d journaled; want 10, 10, 10 (every journaled command acked)",
			acked, failed, journaled())
	}
}

// TestReopenOverSameStore: an exchange closed and opened again over the
// same store gets the same asset groups' journal writers back. Before asset
// groups each asset's writer was handed out again (Store.Commands); the
// event groups refused the second Open.
func TestReopenOverSameStore(t *testing.T) {
	store, err := journal.Open(journal.Options{Dir: t.TempDir(), Sync: journal.SyncPolicy{Mode: journal.SyncOff}})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for i := range 2 {
		ex, err := Open(store, groupAssets, Config{AssetGroups: 2, Wait: ring.Blocking})
		if err != nil {
			t.Fatalf("Open %d: %v", i+1, err)
		}
		rec := &passRecorder{open: map[int][]uint32{}, acked: map[uint32][]uint64{}, failed: map[uint32]int{}}
		ex.Start(rec, nil)
		submitEach(t, ex, rec, 5, nil)
		waitFor(t, rec.done)
		if err := ex.Close(); err != nil {
			t.Fatal(err)
		}
		for _, a := range ex.Assets() {
			if got := len(rec.acked[a.ID]); got != 5 {
				t.Fatalf("Open %d: asset %d: %d acked, want 5", i+1, a.ID, got)
			}
		}
	}
}
