package journal

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/ringex/ringex/engine"
)

// epochData is what TestEpochs wrote for one asset.
type epochData struct {
	cmds      []engine.Command
	evs       []engine.Event
	snapCmd   uint64 // the last snapshot's command and event sequences
	snapEv    uint64
	snapData  string
	reserved  uint64
	tickSize  int64
	snapshots []uint64 // command sequences of every snapshot
}

// writeEpochs appends rounds of 64 commands and 64 events to each of the
// assets, with snapshots, id reservations and asset configurations every
// few rounds, in a store whose small memtable makes it change epochs many
// times.
func writeEpochs(t *testing.T, s *Store, r *rand.Rand, data map[uint32]*epochData, rounds int) {
	t.Helper()
	for round := range rounds {
		for asset, d := range data {
			cmds := commands(r, uint64(len(d.cmds))+1, 64)
			evs := events(r, uint64(len(d.evs))+1, 64)
			if err := s.AppendCommands(asset, cmds); err != nil {
				t.Fatal(err)
			}
			if err := s.AppendEvents(asset, evs); err != nil {
				t.Fatal(err)
			}
			d.cmds, d.evs = append(d.cmds, cmds...), append(d.evs, evs...)
			if round%7 == int(asset)%7 {
				d.snapCmd, d.snapEv = uint64(len(d.cmds))-uint64(asset), uint64(len(d.evs))-1
				d.snapData = strings.Repeat("book", int(asset)+round%5)
				d.snapshots = append(d.snapshots, d.snapCmd)
				if err := s.PutSnapshot(asset, d.snapCmd, d.snapEv, []byte(d.snapData)); err != nil {
					t.Fatal(err)
				}
			}
			if round%11 == int(asset)%11 {
				d.reserved += 1000
				if err := s.ReserveOrderIDs(asset, d.reserved); err != nil {
					t.Fatal(err)
				}
				d.tickSize++
				cfg := engine.AssetConfig{Symbol: "A", TickSize: d.tickSize, LotSize: 1, MinPrice: 1, MaxPrice: 1 << 40, MaxQty: 1 << 30}
				if err := s.PutAssetConfig(asset, cfg); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

// checkEpochs reads back everything writeEpochs wrote, forward from many
// places and backward.
func checkEpochs(t *testing.T, when string, s *Store, data map[uint32]*epochData) {
	t.Helper()
	cfgs, err := s.AssetConfigs()
	if err != nil {
		t.Fatalf("%s: %v", when, err)
	}
	for asset, d := range data {
		n := uint64(len(d.cmds))
		for _, after := range []uint64{0, 1, 63, 64, 65, n / 3, n/2 + 7, n - 65, n - 1, n} {
			equalCommands(t, when+": replay", replayAll(t, s, asset, after), d.cmds[after:])
			equalEvents(t, when+": scan", scanAll(t, s, asset, after), d.evs[after:])
		}
		var trades []engine.Event
		for _, e := range d.evs {
			if e.Kind == engine.EvTrade {
				trades = append(trades, e)
			}
		}
		last, err := s.LastTrades(asset, 25)
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		equalEvents(t, when+": last trades", last, trades[max(0, len(trades)-25):])
		if cmd, ev := lastSeqs(t, s, asset); cmd != n || ev != uint64(len(d.evs)) {
			t.Fatalf("%s: asset %d last seqs %d/%d, want %d/%d", when, asset, cmd, ev, n, len(d.evs))
		}
		cmdSeq, evSeq, snap, ok, err := s.LatestSnapshot(asset)
		if err != nil || !ok || cmdSeq != d.snapCmd || evSeq != d.snapEv || string(snap) != d.snapData {
			t.Fatalf("%s: asset %d latest snapshot %d/%d %q %v %v, want %d/%d %q",
				when, asset, cmdSeq, evSeq, snap, ok, err, d.snapCmd, d.snapEv, d.snapData)
		}
		if up, err := s.OrderIDReservation(asset); err != nil || up != d.reserved {
			t.Fatalf("%s: asset %d reservation %d (%v), want %d", when, asset, up, err, d.reserved)
		}
		if cfgs[asset].TickSize != d.tickSize {
			t.Fatalf("%s: asset %d configuration %+v, want tick size %d", when, asset, cfgs[asset], d.tickSize)
		}
	}
}

func (s *Store) currentEpoch() uint64 {
	s.epochMu.RLock()
	defer s.epochMu.RUnlock()
	return s.epoch
}

// TestEpochs writes three assets' commands, events, snapshots and metadata
// over many epochs and checks every read across them, after a reopen, after
// appending in the reopened store's new epoch, and after pruning.
func TestEpochs(t *testing.T) {
	dir := t.TempDir()
	open := func() *Store {
		s, err := Open(Options{Dir: dir, Sync: SyncPolicy{Mode: SyncOff}, Logger: quiet, MemTableSize: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open()
	r := rand.New(rand.NewPCG(41, 42))
	data := map[uint32]*epochData{1: {}, 2: {}, 7: {}}
	writeEpochs(t, s, r, data, 150)
	if e := s.currentEpoch(); e < 5 {
		t.Fatalf("epoch %d after ~5 MiB through 1 MiB memtables, want at least 5", e)
	}
	checkEpochs(t, "written", s, data)
	first := s.currentEpoch()
	s.Close()
	s = open()
	if e := s.currentEpoch(); e <= first {
		t.Fatalf("reopened at epoch %d, want past %d", e, first)
	}
	checkEpochs(t, "reopened", s, data)
	writeEpochs(t, s, r, data, 30)
	checkEpochs(t, "appended after reopening", s, data)

	d := data[2]
	cut := d.snapshots[len(d.snapshots)/2]
	if err := s.Prune(2, cut); err != nil {
		t.Fatal(err)
	}
	checkPruned(t, "pruned", replayAll(t, s, 2, 0), d.cmds, cut)
	delete(data, 2)
	checkEpochs(t, "other assets after pruning", s, data)
	s.Close()
}

// waitCompactions waits until Pebble has run no compaction for half a
// second (it has no "idle" signal; test code only), at most limit.
func waitCompactions(t testing.TB, s *Store, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	var idle time.Time
	for ; ; time.Sleep(20 * time.Millisecond) {
		if s.db.Metrics().Compact.NumInProgress > 0 {
			idle = time.Time{}
		} else if idle.IsZero() {
			idle = time.Now()
		} else if time.Since(idle) > 500*time.Millisecond {
			return
		}
		if time.Now().After(deadline) {
			st, err := s.Stats()
			t.Fatalf("compactions still running after %v: %+v (stats error %v)", limit, st, err)
		}
	}
}

// TestFlushedTablesMove checks that the journal's flushed tables are moved
// down the levels, not rewritten: under the pipeline's write pattern (three
// assets, commands and events) compactions rewrite at most a fifth of what
// was logged, and the write amplification stays at most 1.2.
func TestFlushedTablesMove(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir(), Sync: SyncPolicy{Mode: SyncOff}, Logger: quiet, MemTableSize: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := rand.New(rand.NewPCG(43, 44))
	writeEpochs(t, s, r, map[uint32]*epochData{1: {}, 2: {}, 3: {}}, 1500)
	if err := s.db.Flush(); err != nil {
		t.Fatal(err)
	}
	waitCompactions(t, s, time.Minute)
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v, write amplification %.3f", st, st.WriteAmp())
	if st.MovedBytes < st.LoggedBytes/2 || st.CompactedBytes > st.LoggedBytes/5 || st.WriteAmp() > 1.2 {
		t.Fatalf("logged %d bytes: flushed %d, compacted %d, moved %d (write amplification %.2f); want most moved, at most a fifth compacted",
			st.LoggedBytes, st.FlushedBytes, st.CompactedBytes, st.MovedBytes, st.WriteAmp())
	}
}

// TestLayoutVersion checks that Open refuses a directory written with
// another key layout, naming its version, instead of misreading it.
func TestLayoutVersion(t *testing.T) {
	rawSet := func(t *testing.T, dir string, key, value []byte) {
		db, err := pebble.Open(dir, &pebble.Options{Logger: pebbleLogger{quiet}})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Set(key, value, pebble.Sync); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("version 1", func(t *testing.T) {
		dir := t.TempDir()
		// A command block of layout 1: kind 1, asset 1, sequence 1.
		rawSet(t, dir, []byte{1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1}, make([]byte, commandLen))
		_, err := Open(Options{Dir: dir, Logger: quiet})
		if err == nil || !strings.Contains(err.Error(), "layout version 1") {
			t.Fatalf("Open of a layout 1 journal: %v, want an error naming layout version 1", err)
		}
	})
	t.Run("version 3", func(t *testing.T) {
		dir := t.TempDir()
		rawSet(t, dir, headerKey, encodeHeader(3))
		_, err := Open(Options{Dir: dir, Logger: quiet})
		if err == nil || !strings.Contains(err.Error(), "layout version 3") {
			t.Fatalf("Open of a layout 3 journal: %v, want an error naming layout version 3", err)
		}
	})
	t.Run("damaged header", func(t *testing.T) {
		dir := t.TempDir()
		h := encodeHeader(layoutVersion)
		h[5] ^= 1
		rawSet(t, dir, headerKey, h)
		var ce *CorruptError
		if _, err := Open(Options{Dir: dir, Logger: quiet}); !errors.As(err, &ce) {
			t.Fatalf("Open with a damaged header: %v, want a *CorruptError", err)
		}
	})
	t.Run("current", func(t *testing.T) {
		dir := t.TempDir()
		s := openStore(t, dir, SyncPolicy{Mode: SyncAlways}, nil)
		if err := s.AppendCommands(1, orders(1, 10)); err != nil {
			t.Fatal(err)
		}
		s.Close()
		s = openStore(t, dir, SyncPolicy{Mode: SyncAlways}, nil)
		defer s.Close()
		equalCommands(t, "reopened", replayAll(t, s, 1, 0), orders(1, 10))
	})
}

// TestStreamIter checks streamIter's moves against a model: random streams
// (kinds and assets, neighbours of each other in the key order) spread
// over random epochs, some epochs without any key of a stream, sequences
// growing with the epoch; metadata items repeated across epochs.
func TestStreamIter(t *testing.T) {
	r := rand.New(rand.NewPCG(45, 46))
	s := openStore(t, t.TempDir(), SyncPolicy{Mode: SyncOff}, nil)
	defer s.Close()
	type stream struct {
		kind  byte
		asset uint32
	}
	streams := []stream{{kindCommand, 0}, {kindCommand, 1}, {kindCommand, math.MaxUint32}, {kindEvent, 1},
		{kindSnapshot, 1}, {kindMeta, 1}, {kindMeta, 2}}
	model := make(map[stream][][2]uint64) // (epoch, seq) in key order
	next := make(map[stream]uint64)
	b := s.db.NewBatch()
	for epoch := uint64(1); epoch <= 40; epoch++ {
		for _, st := range streams {
			if r.IntN(3) == 0 {
				continue // no key of this stream in this epoch
			}
			if st.kind == kindMeta {
				for _, item := range []uint64{metaAssetConfig, metaIDReserve} {
					if r.IntN(2) == 0 {
						b.Set(makeKey(epoch, st.kind, st.asset, item), []byte{1}, nil)
						model[st] = append(model[st], [2]uint64{epoch, item})
					}
				}
				continue
			}
			for range 1 + r.IntN(3) {
				next[st] += 1 + uint64(r.IntN(100))
				b.Set(makeKey(epoch, st.kind, st.asset, next[st]), []byte{1}, nil)
				model[st] = append(model[st], [2]uint64{epoch, next[st]})
			}
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		t.Fatal(err)
	}
	it, err := s.db.NewIter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	at := func(st stream) [2]uint64 {
		e, k, a, seq, ok := splitKey(it.Key())
		if !ok || k != st.kind || a != st.asset {
			t.Fatalf("stream %v: on key %x", st, it.Key())
		}
		return [2]uint64{e, seq}
	}
	for _, st := range streams {
		want := model[st]
		si := streamIter{it: it, kind: st.kind, asset: st.asset}
		var got [][2]uint64
		for ok := si.first(); ok; ok = si.next() {
			got = append(got, at(st))
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("stream %v forward:\n got %v\nwant %v", st, got, want)
		}
		got = got[:0]
		for ok := si.last(maxSeq, false); ok; ok = si.prev() {
			got = append(got, at(st))
		}
		slices.Reverse(got)
		if st.kind != kindMeta && fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("stream %v backward:\n got %v\nwant %v", st, got, want)
		}
		if st.kind == kindMeta {
			for _, item := range []uint64{metaAssetConfig, metaIDReserve} {
				var newest [2]uint64
				found := false
				for _, k := range want {
					if k[1] == item {
						newest, found = k, true
					}
				}
				if ok := si.last(item, true); ok != found || (ok && at(st) != newest) {
					t.Fatalf("stream %v item %d: last found %v, want %v %v", st, item, ok, found, newest)
				}
			}
			continue
		}
		for range 50 {
			seq := uint64(r.IntN(int(next[st]) + 50))
			// The last key at or before seq.
			var wantKey [2]uint64
			found := false
			for _, k := range want {
				if k[1] <= seq {
					wantKey, found = k, true
				}
			}
			if ok := si.last(seq, false); ok != found || (ok && at(st) != wantKey) {
				t.Fatalf("stream %v: last(%d) found %v, want %v %v", st, seq, ok, found, wantKey)
			}
		}
	}
}
