package pipeline

import (
	"bytes"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/ringex/ringex/engine"
	"github.com/ringex/ringex/journal"
	"github.com/ringex/ringex/ring"
)

var testAsset = AssetSpec{ID: 7, Config: engine.AssetConfig{
	Symbol: "TEST", TickSize: 5, LotSize: 10, MinPrice: 5, MaxPrice: 100000, MaxQty: 1000000,
}}

// ackRecorder is an AckSink that remembers every ack in order.
type ackRecorder struct {
	mu     sync.Mutex
	acks   []engine.Command // journaled and acknowledged
	failed []uint64         // tokens answered "unavailable"
	tokens map[uint64]int
}

func (r *ackRecorder) HandleAcks(a *Asset, lo, hi int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tokens == nil {
		r.tokens = map[uint64]int{}
	}
	for s := lo; s <= hi; s++ {
		slot := a.Input(s)
		r.tokens[slot.Token]++
		if slot.Failed() {
			r.failed = append(r.failed, slot.Token)
			continue
		}
		r.acks = append(r.acks, slot.Cmd)
	}
}

// outRecorder is an OutputSink that keeps the event stream.
type outRecorder struct {
	mu     sync.Mutex
	events []engine.Event
	levels int
}

func (r *outRecorder) HandleOutput(a *Asset, lo, hi int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for s := lo; s <= hi; s++ {
		o := a.Output(s)
		if o.IsLevel {
			r.levels++
			continue
		}
		r.events = append(r.events, o.Event)
	}
}

// randomCommand makes a command a trader might send: mostly limits around a
// mid price, some market, IOC, FOK and post-only, cancels and replaces of
// earlier orders.
func randomCommand(rng *rand.Rand, user uint32, known []uint64) engine.Command {
	c := engine.Command{UserID: user, ClientOrderID: rng.Uint64(), Time: int64(rng.Uint32())}
	side := engine.Side(1 + rng.IntN(2))
	price := int64(1000+rng.IntN(40)-20) * 5
	qty := int64(1+rng.IntN(20)) * 10
	switch p := rng.IntN(100); {
	case p < 15 && len(known) > 0:
		c.Kind, c.OrderID = engine.CmdCancel, known[rng.IntN(len(known))]
	case p < 25 && len(known) > 0:
		c.Kind, c.OrderID, c.Price, c.Qty = engine.CmdReplace, known[rng.IntN(len(known))], price, qty
	default:
		c.Kind, c.Side, c.Type, c.TIF, c.Price, c.Qty = engine.CmdNew, side, engine.Limit, engine.GTC, price, qty
		switch q := rng.IntN(100); {
		case q < 5:
			c.Type = engine.Market
		case q < 10:
			c.TIF = engine.IOC
		case q < 13:
			c.TIF = engine.FOK
		case q < 18:
			c.PostOnly = true
		}
		c.STP = engine.STPMode(rng.IntN(5))
	}
	return c
}

func openTest(t *testing.T, dir string, cfg Config) (*journal.Store, *Exchange) {
	t.Helper()
	store, err := journal.Open(journal.Options{Dir: dir, Sync: journal.SyncPolicy{Mode: journal.SyncOff}})
	if err != nil {
		t.Fatal(err)
	}
	ex, err := Open(store, []AssetSpec{testAsset}, cfg)
	if err != nil {
		store.Close()
		t.Fatal(err)
	}
	return store, ex
}

// replayAll rebuilds a book from the whole input journal, independently of
// the pipeline's recovery, and returns it with the events it produced.
func replayAll(t *testing.T, store *journal.Store) (*engine.Book, []engine.Event) {
	t.Helper()
	book := engine.NewBook(testAsset.Config)
	var evs []engine.Event
	want := uint64(1)
	err := store.ReplayCommands(testAsset.ID, 0, func(c *engine.Command) error {
		if c.Seq != want {
			t.Fatalf("journal sequence: want %d, got %d", want, c.Seq)
		}
		want++
		evs = append(evs, book.Submit(c)...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return book, evs
}

func snapshotBytes(t *testing.T, b *engine.Book) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := b.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestPipeline runs two producers through a real pipeline and checks that
// every command is acknowledged exactly once, in journal order, and that the
// live event stream, the event journal and a clean replay of the input
// journal agree event for event: with the matchers on the commit
// goroutine (the default) and on their own (pinned apart, matchOnCommit).
func TestPipeline(t *testing.T) {
	ownMatcher := NoPinning
	ownMatcher.Matcher = 0
	for _, cfg := range []Config{
		{Wait: ring.Blocking},
		{Wait: ring.Yield},
		{Wait: ring.Blocking, Pin: ownMatcher},
	} {
		if cfg.Pin.ownMatcher() && runtime.GOOS != "linux" {
			continue // pinning is Linux's
		}
		cfg.InSize, cfg.OutSize, cfg.SnapshotEvery = 64, 128, 97
		store, ex := openTest(t, t.TempDir(), cfg)
		if own := ex.groups[0].match != nil; own != cfg.Pin.ownMatcher() {
			t.Fatalf("pins %+v: matchers on their own goroutine %v, want %v", cfg.Pin, own, !own)
		}
		acks, out := &ackRecorder{}, &outRecorder{}
		ex.Start(acks, out)
		a := ex.BySymbol("TEST")
		const perProducer = 3000
		var wg sync.WaitGroup
		for p := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(p), 1))
				var known []uint64
				for i := range perProducer {
					c := randomCommand(rng, uint32(1+p), known)
					seq, err := a.Submit(&c, uint64(p)<<32|uint64(i), time.Second)
					if err != nil {
						t.Errorf("submit: %v", err)
						return
					}
					if c.Seq != seq {
						t.Errorf("submit returned seq %d, command has %d", seq, c.Seq)
					}
					if c.Kind == engine.CmdNew {
						known = append(known, c.OrderID)
					}
				}
			}()
		}
		wg.Wait()
		if err := ex.Close(); err != nil {
			t.Fatal(err)
		}
		if len(acks.acks) != 2*perProducer || len(acks.failed) != 0 {
			t.Fatalf("acks: %d ok, %d failed, want %d ok", len(acks.acks), len(acks.failed), 2*perProducer)
		}
		for tok, n := range acks.tokens {
			if n != 1 {
				t.Fatalf("token %x acknowledged %d times", tok, n)
			}
		}
		for i, c := range acks.acks {
			if c.Seq != uint64(i+1) {
				t.Fatalf("ack %d has seq %d: acks out of journal order", i, c.Seq)
			}
		}
		book, replayed := replayAll(t, store)
		if len(replayed) != len(out.events) {
			t.Fatalf("live stream has %d events, replay %d", len(out.events), len(replayed))
		}
		for i := range replayed {
			if replayed[i] != out.events[i] {
				t.Fatalf("event %d: live %+v, replay %+v", i, out.events[i], replayed[i])
			}
		}
		var journaled []engine.Event
		if err := store.ScanEvents(testAsset.ID, 0, func(e *engine.Event) error {
			journaled = append(journaled, *e)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if len(journaled) != len(replayed) {
			t.Fatalf("event journal has %d events, replay %d", len(journaled), len(replayed))
		}
		for i := range replayed {
			if replayed[i] != journaled[i] {
				t.Fatalf("event %d: journal %+v, replay %+v", i, journaled[i], replayed[i])
			}
		}
		if out.levels == 0 {
			t.Fatal("no level changes reached the output sink")
		}
		if !bytes.Equal(snapshotBytes(t, a.Book()), snapshotBytes(t, book)) {
			t.Fatal("matcher's book differs from a clean replay of the journal")
		}
		store.Close()
	}
}

// TestRecoveryFromSnapshot restarts on the same directory and checks that
// snapshot plus partial replay gives the same book as a full replay, and
// that sequences continue without a gap.
func TestRecoveryFromSnapshot(t *testing.T) {
	dir := t.TempDir()
	var lastSeq uint64
	for round := range 3 {
		store, ex := openTest(t, dir, Config{InSize: 256, OutSize: 256, Wait: ring.Blocking, SnapshotEvery: 101, Prune: round == 2})
		acks := &ackRecorder{}
		ex.Start(acks, nil)
		a := ex.BySymbol("TEST")
		rng := rand.New(rand.NewPCG(uint64(round), 2))
		var known []uint64
		for range 1000 {
			c := randomCommand(rng, uint32(1+rng.IntN(3)), known)
			seq, err := a.Submit(&c, 0, time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if seq != lastSeq+1 {
				t.Fatalf("round %d: seq %d after %d", round, seq, lastSeq)
			}
			lastSeq = seq
			if c.Kind == engine.CmdNew {
				known = append(known, c.OrderID)
			}
		}
		if err := ex.Close(); err != nil {
			t.Fatal(err)
		}
		recovered := snapshotBytes(t, a.Book())
		if round < 2 {
			full, _ := replayAll(t, store)
			if !bytes.Equal(recovered, snapshotBytes(t, full)) {
				t.Fatalf("round %d: book differs from full replay", round)
			}
		}
		store.Close()

		// Reopen: recovery must rebuild exactly the book we closed with.
		store, ex = openTest(t, dir, Config{InSize: 256, OutSize: 256, Wait: ring.Blocking})
		if got := snapshotBytes(t, ex.BySymbol("TEST").Book()); !bytes.Equal(got, recovered) {
			t.Fatalf("round %d: recovered book differs from the book at shutdown", round)
		}
		ex.Close()
		store.Close()
	}
}

// TestConfigChangeRefused checks that an asset's parameters cannot change
// under an existing journal, since replay would then validate differently.
func TestConfigChangeRefused(t *testing.T) {
	dir := t.TempDir()
	store, ex := openTest(t, dir, Config{})
	ex.Close()
	store.Close()
	store, err := journal.Open(journal.Options{Dir: dir, Sync: journal.SyncPolicy{Mode: journal.SyncOff}})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	changed := testAsset
	changed.Config.TickSize = 1
	if _, err := Open(store, []AssetSpec{changed}, Config{}); err == nil {
		t.Fatal("Open accepted a changed tick size under an existing journal")
	}
}
