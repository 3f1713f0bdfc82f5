package journal

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"os"

	"log/slog"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/ringex/ringex/engine"
)

var quiet = slog.New(slog.DiscardHandler)

func openStore(t testing.TB, dir string, policy SyncPolicy, fs vfs.FS) *Store {
	t.Helper()
	s, err := Open(Options{Dir: dir, Sync: policy, FS: fs, Logger: quiet, MemTableSize: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// keyOf returns the key that holds the stream's record (or block) at seq,
// in whichever epoch it is.
func keyOf(t testing.TB, s *Store, kind byte, asset uint32, seq uint64) []byte {
	t.Helper()
	it, err := s.db.NewIter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	si := streamIter{it: it, kind: kind, asset: asset}
	if !si.last(seq, true) {
		t.Fatalf("no %s key at seq %d of asset %d", kindName(kind), seq, asset)
	}
	return bytes.Clone(it.Key())
}

func commands(r *rand.Rand, from uint64, n int) []engine.Command {
	cmds := make([]engine.Command, n)
	for i := range cmds {
		cmds[i] = randCommand(r, from+uint64(i))
	}
	return cmds
}

func events(r *rand.Rand, from uint64, n int) []engine.Event {
	evs := make([]engine.Event, n)
	for i := range evs {
		evs[i] = randEvent(r, from+uint64(i))
	}
	return evs
}

func replayAll(t testing.TB, s *Store, asset uint32, after uint64) []engine.Command {
	t.Helper()
	var got []engine.Command
	if err := s.ReplayCommands(asset, after, func(c *engine.Command) error {
		got = append(got, *c)
		return nil
	}); err != nil {
		t.Fatalf("replay asset %d: %v", asset, err)
	}
	return got
}

func scanAll(t testing.TB, s *Store, asset uint32, after uint64) []engine.Event {
	t.Helper()
	var got []engine.Event
	if err := s.ScanEvents(asset, after, func(e *engine.Event) error {
		got = append(got, *e)
		return nil
	}); err != nil {
		t.Fatalf("scan asset %d: %v", asset, err)
	}
	return got
}

func equalCommands(t testing.TB, what string, got, want []engine.Command) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d commands, want %d", what, len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: command %d\n got %+v\nwant %+v", what, i, got[i], want[i])
		}
	}
}

func equalEvents(t testing.TB, what string, got, want []engine.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d events, want %d", what, len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: event %d\n got %+v\nwant %+v", what, i, got[i], want[i])
		}
	}
}

func lastSeqs(t testing.TB, s *Store, asset uint32) (cmd, ev uint64) {
	t.Helper()
	cmd, err := s.LastCommandSeq(asset)
	if err != nil {
		t.Fatal(err)
	}
	ev, err = s.LastEventSeq(asset)
	if err != nil {
		t.Fatal(err)
	}
	return cmd, ev
}

// TestAppendReplayReopen journals two assets in batches of random sizes,
// replays them from several points, reopens and checks again, and goes on
// appending after the reopen.
func TestAppendReplayReopen(t *testing.T) {
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(11, 12))
	s := openStore(t, dir, SyncPolicy{Mode: SyncOff}, nil)
	want := map[uint32][]engine.Command{}
	wantEv := map[uint32][]engine.Event{}
	appendSome := func(s *Store) {
		for range 50 {
			asset := uint32(1 + r.IntN(2))
			cmds := commands(r, uint64(len(want[asset])+1), 1+r.IntN(100))
			if err := s.AppendCommands(asset, cmds); err != nil {
				t.Fatal(err)
			}
			want[asset] = append(want[asset], cmds...)
			evs := events(r, uint64(len(wantEv[asset])+1), r.IntN(50))
			if err := s.AppendEvents(asset, evs); err != nil {
				t.Fatal(err)
			}
			wantEv[asset] = append(wantEv[asset], evs...)
		}
	}
	check := func(s *Store, when string) {
		for _, asset := range []uint32{1, 2, 3} {
			equalCommands(t, when, replayAll(t, s, asset, 0), want[asset])
			equalEvents(t, when, scanAll(t, s, asset, 0), wantEv[asset])
			if n := len(want[asset]); n > 10 {
				equalCommands(t, when+" from the middle", replayAll(t, s, asset, uint64(n/2)), want[asset][n/2:])
			}
			cmd, ev := lastSeqs(t, s, asset)
			if cmd != uint64(len(want[asset])) || ev != uint64(len(wantEv[asset])) {
				t.Fatalf("%s: asset %d last seqs %d/%d, want %d/%d", when, asset, cmd, ev, len(want[asset]), len(wantEv[asset]))
			}
		}
	}
	appendSome(s)
	check(s, "before reopen")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir, SyncPolicy{Mode: SyncAlways}, nil)
	check(s, "after reopen")
	appendSome(s)
	check(s, "after appending past the reopen")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close: %v, want ErrClosed", err)
	}
	if err := s.AppendCommands(1, commands(r, uint64(len(want[1])+1), 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after Close: %v, want ErrClosed", err)
	}
	if _, err := s.LastCommandSeq(1); !errors.Is(err, ErrClosed) {
		t.Fatalf("read after Close: %v, want ErrClosed", err)
	}
}

// TestReplayFromEverySeq appends batches of random sizes with random block
// limits (so blocks of every length, and batches of several blocks) and
// replays from every sequence.
func TestReplayFromEverySeq(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	s := openStore(t, t.TempDir(), SyncPolicy{Mode: SyncOff}, nil)
	defer s.Close()
	var want []engine.Command
	var wantEv []engine.Event
	for len(want) < 600 {
		s.blockRecords = []int{1, 7, blockRecords}[r.IntN(3)]
		n := 1 + r.IntN(150)
		cmds := commands(r, uint64(len(want)+1), n)
		evs := events(r, uint64(len(wantEv)+1), n)
		if err := s.AppendCommands(1, cmds); err != nil {
			t.Fatal(err)
		}
		if err := s.AppendEvents(1, evs); err != nil {
			t.Fatal(err)
		}
		want, wantEv = append(want, cmds...), append(wantEv, evs...)
	}
	for after := 0; after <= len(want)+2; after++ {
		equalCommands(t, fmt.Sprintf("replay after %d", after), replayAll(t, s, 1, uint64(after)), want[min(after, len(want)):])
		equalEvents(t, fmt.Sprintf("scan after %d", after), scanAll(t, s, 1, uint64(after)), wantEv[min(after, len(wantEv)):])
	}
	if got := replayAll(t, s, 1, ^uint64(0)); len(got) != 0 {
		t.Fatalf("replay after the largest sequence: %d commands", len(got))
	}
}

func TestReplayStopsOnCallbackError(t *testing.T) {
	s := openStore(t, t.TempDir(), SyncPolicy{Mode: SyncOff}, nil)
	defer s.Close()
	r := rand.New(rand.NewPCG(1, 1))
	if err := s.AppendCommands(1, commands(r, 1, 10)); err != nil {
		t.Fatal(err)
	}
	stop := errors.New("stop")
	n := 0
	err := s.ReplayCommands(1, 0, func(c *engine.Command) error {
		if n++; c.Seq == 4 {
			return stop
		}
		return nil
	})
	if err != stop || n != 4 {
		t.Fatalf("replay returned %v after %d commands, want the callback's error after 4", err, n)
	}
}

func TestDenseSequences(t *testing.T) {
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(13, 14))
	s := openStore(t, dir, SyncPolicy{Mode: SyncOff}, nil)
	bad := []struct {
		name string
		cmds []engine.Command
	}{
		{"first not 1", commands(r, 2, 3)},
		{"zero", commands(r, 0, 1)},
		{"gap inside", append(commands(r, 1, 2), commands(r, 4, 1)...)},
		{"repeat inside", append(commands(r, 1, 2), commands(r, 2, 1)...)},
	}
	for _, b := range bad {
		if err := s.AppendCommands(1, b.cmds); !errors.Is(err, ErrSequence) {
			t.Fatalf("%s: %v, want ErrSequence", b.name, err)
		}
	}
	if got := replayAll(t, s, 1, 0); len(got) != 0 {
		t.Fatalf("a refused batch left %d commands", len(got))
	}
	// The store stays usable after a sequence error.
	good := commands(r, 1, 5)
	if err := s.AppendCommands(1, good); err != nil {
		t.Fatal(err)
	}
	for _, first := range []uint64{5, 7, 1} {
		if err := s.AppendCommands(1, commands(r, first, 1)); !errors.Is(err, ErrSequence) {
			t.Fatalf("append at %d after 5: %v, want ErrSequence", first, err)
		}
	}
	if err := s.AppendEvents(1, events(r, 2, 1)); !errors.Is(err, ErrSequence) {
		t.Fatalf("first event seq 2: %v, want ErrSequence", err)
	}
	s.Close()
	// The last sequence is found again after a reopen.
	s = openStore(t, dir, SyncPolicy{Mode: SyncOff}, nil)
	defer s.Close()
	if err := s.AppendCommands(1, commands(r, 5, 1)); !errors.Is(err, ErrSequence) {
		t.Fatalf("append at 5 after reopen: %v, want ErrSequence", err)
	}
	if err := s.AppendCommands(1, commands(r, 6, 1)); err != nil {
		t.Fatal(err)
	}
}

// corruptCase damages the block at key 65 of asset 3's 200 commands
// (blocks at 1, 65, 129 and 193) and says where the CorruptError points.
type corruptCase struct {
	name    string
	damage  func(s *Store, key, block []byte)
	seq     uint64 // where the CorruptError points
	reason  string
	keySeq  uint64 // the key it names
	damaged bool   // the block is still there (else the key is computed)
	deep    bool   // damage behind a good checksum: Open's check does not see it
}

// TestCorruptRecord damages a journal of version 1 records (the form
// before version 2 blocks) through the raw Pebble handle and checks that
// replay stops at the damage with a *CorruptError naming the asset, the
// sequence and the key, after delivering exactly the records before it.
func TestCorruptRecord(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	rec := func(v []byte, i int) []byte { return v[i*commandLen : (i+1)*commandLen] }
	cases := []corruptCase{
		{"bit flip", func(s *Store, key, v []byte) {
			rec(v, 35)[30] ^= 4
			s.db.Set(key, v, nil)
		}, 100, "checksum mismatch", 65, true, false},
		{"truncated record", func(s *Store, key, v []byte) { s.db.Set(key, v[:35*commandLen+20], nil) }, 100, "truncated", 65, true, false},
		{"empty value", func(s *Store, key, v []byte) { s.db.Set(key, nil, nil) }, 65, "truncated", 65, true, false},
		{"future version", func(s *Store, key, v []byte) {
			rec(v, 35)[0] = 9
			s.db.Set(key, v, nil)
		}, 100, "version", 65, true, false},
		{"record of another seq", func(s *Store, key, v []byte) {
			copy(rec(v, 35), rec(v, 34))
			s.db.Set(key, v, nil)
		}, 100, "differs from its key", 65, true, false},
		{"record of another asset", func(s *Store, key, v []byte) {
			c := randCommand(r, 100)
			encodeCommandV1(rec(v, 35), 4, &c)
			s.db.Set(key, v, nil)
		}, 100, "another asset", 65, true, false},
		{"missing block", func(s *Store, key, v []byte) { s.db.Delete(key, nil) }, 65, "gap", 65, false, false},
		{"block under the wrong key", func(s *Store, key, v []byte) {
			s.db.Delete(key, nil)
			s.db.Set(makeKey(epochOf(key), kindCommand, 3, 66), v, nil)
		}, 65, "gap", 65, false, false},
	}
	runCorruptCases(t, commands(r, 1, 200), 1, cases)
}

// TestCorruptBlock is TestCorruptRecord for version 2 blocks. A block
// holds one checksum, so damage that it catches withholds the whole block;
// damage behind a good checksum (an encoder's bug) withholds the records
// from the bad one on.
func TestCorruptBlock(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 18))
	// refit makes v's stated length and checksum match its bytes again.
	refit := func(v []byte) []byte {
		le.PutUint32(v[2:], uint32(len(v)))
		le.PutUint32(v[len(v)-crcLen:], crc32.Checksum(v[:len(v)-crcLen], castagnoli))
		return v
	}
	want := commands(r, 1, 200)
	cases := []corruptCase{
		{"bit flip", func(s *Store, key, v []byte) {
			v[len(v)/2] ^= 4
			s.db.Set(key, v, nil)
		}, 65, "checksum mismatch", 65, true, false},
		{"truncated", func(s *Store, key, v []byte) { s.db.Set(key, v[:len(v)-1], nil) }, 65, "truncated", 65, true, false},
		{"header only", func(s *Store, key, v []byte) { s.db.Set(key, v[:minBlockLen-1], nil) }, 65, "truncated", 65, true, false},
		{"empty value", func(s *Store, key, v []byte) { s.db.Set(key, nil, nil) }, 65, "truncated", 65, true, false},
		{"future version", func(s *Store, key, v []byte) {
			v[0] = 9
			s.db.Set(key, v, nil)
		}, 65, "version", 65, true, false},
		{"block of another seq", func(s *Store, key, v []byte) {
			cmds := slices.Clone(want[64:128])
			for i := range cmds {
				cmds[i].Seq++
			}
			s.db.Set(key, appendCommandBlock(nil, 3, cmds), nil)
		}, 65, "differs from its key", 65, true, false},
		{"block of another asset", func(s *Store, key, v []byte) {
			s.db.Set(key, appendCommandBlock(nil, 4, want[64:128]), nil)
		}, 65, "another asset", 65, true, false},
		{"event block", func(s *Store, key, v []byte) {
			s.db.Set(key, appendEventBlock(nil, 3, events(r, 65, 64)), nil)
		}, 65, "wrong record type", 65, true, false},
		{"bad record behind a good checksum", func(s *Store, key, v []byte) {
			// Record 35 starts where a block of the first 35 ends.
			off := len(appendCommandBlock(nil, 3, want[64:99])) - crcLen
			v[off] |= 0x80 // a reserved bit of the field mask
			s.db.Set(key, refit(v), nil)
		}, 100, "reserved", 65, true, true},
		{"bytes after the last record", func(s *Store, key, v []byte) {
			v = append(v[:len(v)-crcLen:len(v)-crcLen], 0, 0, 0, 0, 0)
			s.db.Set(key, refit(v), nil)
		}, 129, "after the last record", 65, true, true},
		{"missing block", func(s *Store, key, v []byte) { s.db.Delete(key, nil) }, 65, "gap", 65, false, false},
		{"block under the wrong key", func(s *Store, key, v []byte) {
			s.db.Delete(key, nil)
			s.db.Set(makeKey(epochOf(key), kindCommand, 3, 66), v, nil)
		}, 65, "gap", 65, false, false},
	}
	runCorruptCases(t, want, 2, cases)
}

// runCorruptCases runs the cases over want, 200 commands written in
// record version (1 or 2).
func runCorruptCases(t *testing.T, want []engine.Command, version int, cases []corruptCase) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openStore(t, dir, SyncPolicy{Mode: SyncOff}, nil)
			if version == 1 {
				writeV1(t, s, 3, want, nil)
			} else if err := s.AppendCommands(3, want); err != nil {
				t.Fatal(err)
			}
			key := keyOf(t, s, kindCommand, 3, 65)
			wantKey := makeKey(epochOf(key), kindCommand, 3, c.keySeq)
			v, closer, err := s.db.Get(key)
			if err != nil {
				t.Fatal(err)
			}
			if int(v[0]) != version {
				t.Fatalf("block of version %d, want %d", v[0], version)
			}
			block := append([]byte(nil), v...)
			closer.Close()
			c.damage(s, key, block)
			// Reopen so that the damage is read back from disk (past Open's
			// own check of every record, to exercise the readers).
			s.Close()
			s, err = Open(Options{Dir: dir, Sync: SyncPolicy{Mode: SyncOff}, Logger: quiet, skipRecordCheck: true})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			for _, after := range []uint64{0, 10, 64, 99} {
				if after >= c.seq {
					continue
				}
				var got []engine.Command
				err = s.ReplayCommands(3, after, func(c *engine.Command) error {
					got = append(got, *c)
					return nil
				})
				var ce *CorruptError
				if !errors.As(err, &ce) {
					t.Fatalf("replay after %d returned %v, want a *CorruptError", after, err)
				}
				if ce.Asset != 3 || ce.Seq != c.seq || string(ce.Key) != string(wantKey) || !strings.Contains(ce.Reason, c.reason) {
					t.Fatalf("replay after %d: CorruptError %+v, want asset 3 seq %d key %x reason containing %q",
						after, ce, c.seq, wantKey, c.reason)
				}
				for _, s := range []string{"asset 3", fmt.Sprintf("seq %d", c.seq), fmt.Sprintf("key %x", wantKey)} {
					if !strings.Contains(err.Error(), s) {
						t.Fatalf("error %q does not name %q", err, s)
					}
				}
				equalCommands(t, "commands before the damage", got, want[after:c.seq-1])
			}
			// Replays that start after the damage do not see it.
			equalCommands(t, "replay after the damaged block", replayAll(t, s, 3, 128), want[128:])
			// Nor does Open's check miss a damaged block (of version 2:
			// Open checks version 1 records only against their checksums,
			// not their keys).
			s.Close()
			s, err = Open(Options{Dir: dir, Sync: SyncPolicy{Mode: SyncOff}, Logger: quiet})
			if err == nil {
				s.Close()
			}
			if version == 2 && c.damaged && !c.deep && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open over the damage: %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestCorruptEventAndSnapshot(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 18))
	s := openStore(t, t.TempDir(), SyncPolicy{Mode: SyncOff}, nil)
	defer s.Close()
	if err := s.AppendEvents(1, events(r, 1, 20)); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendEvents(1, events(r, 21, 20)); err != nil {
		t.Fatal(err)
	}
	key := keyOf(t, s, kindEvent, 1, 21)
	s.db.Set(key, []byte{1, 2, 3}, nil)
	var ce *CorruptError
	n := 0
	err := s.ScanEvents(1, 0, func(*engine.Event) error { n++; return nil })
	if !errors.As(err, &ce) || ce.Seq != 21 || string(ce.Key) != string(key) || n != 20 {
		t.Fatalf("scan: %v after %d events, want CorruptError at seq 21 after 20", err, n)
	}
	if _, err := s.LastTrades(1, 100); !errors.As(err, &ce) || ce.Seq != 21 {
		t.Fatalf("LastTrades: %v, want CorruptError at seq 21", err)
	}
	if _, err := s.LastEventSeq(1); !errors.As(err, &ce) || ce.Seq != 21 {
		t.Fatalf("LastEventSeq: %v, want CorruptError at seq 21", err)
	}
	if err := s.PutSnapshot(1, 5, 10, []byte("book")); err != nil {
		t.Fatal(err)
	}
	s.db.Set(keyOf(t, s, kindSnapshot, 1, 5), encodeSnapshot(1, 5, 10, []byte("book"))[:20], nil)
	if _, _, _, _, err := s.LatestSnapshot(1); !errors.As(err, &ce) || ce.Seq != 5 {
		t.Fatalf("LatestSnapshot: %v, want CorruptError at seq 5", err)
	}
}

func TestParseSyncPolicy(t *testing.T) {
	for _, c := range []struct {
		in   string
		want SyncPolicy
		bad  bool
	}{
		{"always", SyncPolicy{Mode: SyncAlways}, false},
		{"off", SyncPolicy{Mode: SyncOff}, false},
		{"interval=5ms", SyncPolicy{Mode: SyncInterval, Interval: 5 * time.Millisecond}, false},
		{"interval=0s", SyncPolicy{}, true},
		{"interval=-1ms", SyncPolicy{}, true},
		{"interval=fast", SyncPolicy{}, true},
		{"interval", SyncPolicy{}, true},
		{"sometimes", SyncPolicy{}, true},
		{"", SyncPolicy{}, true},
	} {
		got, err := ParseSyncPolicy(c.in)
		if (err != nil) != c.bad || got != c.want {
			t.Errorf("ParseSyncPolicy(%q) = %+v, %v", c.in, got, err)
		}
		if err == nil {
			if again, _ := ParseSyncPolicy(got.String()); again != got {
				t.Errorf("%q: String %q parses to %+v", c.in, got.String(), again)
			}
		}
	}
	if _, err := Open(Options{Dir: t.TempDir(), Sync: SyncPolicy{Mode: SyncInterval}}); err == nil {
		t.Error("Open accepted an interval policy without an interval")
	}
}

// countFS counts the syncs of WAL files.
type countFS struct {
	vfs.FS
	walSyncs atomic.Int64
}

func (fs *countFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, c)
	if err != nil || !strings.HasSuffix(name, ".log") {
		return f, err
	}
	return &countFile{f, fs}, nil
}

func (fs *countFS) ReuseForWrite(old, new string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(old, new, c)
	if err != nil {
		return f, err
	}
	return &countFile{f, fs}, nil
}

type countFile struct {
	vfs.File
	fs *countFS
}

func (f *countFile) Sync() error     { f.fs.walSyncs.Add(1); return f.File.Sync() }
func (f *countFile) SyncData() error { f.fs.walSyncs.Add(1); return f.File.SyncData() }

// TestSyncPolicies checks when each policy fsyncs the WAL: always on every
// command batch (and never for events alone), interval soon after a write
// and not while idle, off never before Close.
func TestSyncPolicies(t *testing.T) {
	r := rand.New(rand.NewPCG(19, 20))
	for _, policy := range []SyncPolicy{{Mode: SyncAlways}, {Mode: SyncInterval, Interval: 2 * time.Millisecond}, {Mode: SyncOff}} {
		t.Run(policy.String(), func(t *testing.T) {
			dir := t.TempDir()
			fs := &countFS{FS: vfs.Default}
			s := openStore(t, dir, policy, fs)
			base := fs.walSyncs.Load()
			const batches = 20
			for i := range batches {
				if err := s.AppendCommands(1, commands(r, uint64(i*10+1), 10)); err != nil {
					t.Fatal(err)
				}
			}
			afterCmds := fs.walSyncs.Load() - base
			if err := s.AppendEvents(1, events(r, 1, 10)); err != nil {
				t.Fatal(err)
			}
			afterEvents := fs.walSyncs.Load() - base
			switch policy.Mode {
			case SyncAlways:
				if afterCmds < batches {
					t.Fatalf("%d WAL syncs for %d command batches", afterCmds, batches)
				}
				if afterEvents != afterCmds {
					t.Fatalf("an event batch synced the WAL under %v", policy)
				}
			case SyncInterval:
				deadline := time.Now().Add(5 * time.Second)
				for fs.walSyncs.Load() == base {
					if time.Now().After(deadline) {
						t.Fatal("the interval syncer did not sync within 5s")
					}
					time.Sleep(time.Millisecond)
				}
				// Idle: at most the sync in flight, then nothing. A window
				// of sleeps proves nothing on a busy machine: soak only.
				if os.Getenv("RINGEX_SOAK") != "" {
					time.Sleep(20 * time.Millisecond)
					idle := fs.walSyncs.Load()
					time.Sleep(40 * time.Millisecond)
					if n := fs.walSyncs.Load(); n != idle {
						t.Fatalf("the interval syncer synced %d times while idle", n-idle)
					}
				}
			case SyncOff:
				if afterEvents != 0 {
					t.Fatalf("%d WAL syncs under sync=off", afterEvents)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = openStore(t, dir, policy, nil)
			defer s.Close()
			if got := replayAll(t, s, 1, 0); len(got) != batches*10 {
				t.Fatalf("%d commands after reopen, want %d", len(got), batches*10)
			}
		})
	}
}

// TestIntervalSyncerStopsOnClose looks for the syncer's goroutine after
// Close.
func TestIntervalSyncerStopsOnClose(t *testing.T) {
	s := openStore(t, t.TempDir(), SyncPolicy{Mode: SyncInterval, Interval: time.Millisecond}, nil)
	if !eventually(func() bool { return goroutineRunning("journal.(*syncer).run") }) {
		t.Fatal("no syncer goroutine while open")
	}
	if err := s.AppendCommands(1, commands(rand.New(rand.NewPCG(1, 2)), 1, 3)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Close waits for the syncer; allow the goroutine a moment to unwind.
	if !eventually(func() bool { return !goroutineRunning("journal.(*syncer).run") }) {
		t.Fatal("syncer goroutine still running 5s after Close")
	}
}

// goroutineRunning reports whether some goroutine's stack holds fn.
func goroutineRunning(fn string) bool {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Contains(string(buf[:n]), fn)
		}
		buf = make([]byte, 2*len(buf))
	}
}

// eventually polls cond for up to 5 seconds.
func eventually(cond func() bool) bool {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if cond() {
			return true
		}
	}
	return false
}

// failFS fails every write, sync and file creation once broken is set, as a
// full or dying disk would.
type failFS struct {
	vfs.FS
	broken atomic.Bool
}

var errInjected = errors.New("injected disk failure")

func (fs *failFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	if fs.broken.Load() {
		return nil, errInjected
	}
	f, err := fs.FS.Create(name, c)
	if err != nil {
		return nil, err
	}
	return &failFile{f, fs}, nil
}

func (fs *failFS) ReuseForWrite(old, new string, c vfs.DiskWriteCategory) (vfs.File, error) {
	if fs.broken.Load() {
		return nil, errInjected
	}
	f, err := fs.FS.ReuseForWrite(old, new, c)
	if err != nil {
		return nil, err
	}
	return &failFile{f, fs}, nil
}

type failFile struct {
	vfs.File
	fs *failFS
}

func (f *failFile) Write(p []byte) (int, error) {
	if f.fs.broken.Load() {
		return 0, errInjected
	}
	return f.File.Write(p)
}

func (f *failFile) WriteAt(p []byte, off int64) (int, error) {
	if f.fs.broken.Load() {
		return 0, errInjected
	}
	return f.File.WriteAt(p, off)
}

func (f *failFile) Sync() error {
	if f.fs.broken.Load() {
		return errInjected
	}
	return f.File.Sync()
}

func (f *failFile) SyncData() error { return f.Sync() }

func (f *failFile) SyncTo(n int64) (bool, error) {
	if f.fs.broken.Load() {
		return false, errInjected
	}
	return f.File.SyncTo(n)
}

// TestInjectedFailure breaks the disk under each policy and checks that
// appends fail with ErrUnavailable wrapping the cause, stay failed when the
// disk heals, and that after a reopen on a healthy disk the journal holds a
// prefix of what was reported committed: under sync=always, exactly that.
func TestInjectedFailure(t *testing.T) {
	for _, policy := range []SyncPolicy{{Mode: SyncAlways}, {Mode: SyncInterval, Interval: time.Millisecond}, {Mode: SyncOff}} {
		t.Run(policy.String(), func(t *testing.T) {
			r := rand.New(rand.NewPCG(21, 22))
			dir := t.TempDir()
			fs := &failFS{FS: vfs.Default}
			s := openStore(t, dir, policy, fs)
			var committed []engine.Command
			appendBatch := func() error {
				cmds := commands(r, uint64(len(committed)+1), 50)
				err := s.AppendCommands(1, cmds)
				if err == nil {
					committed = append(committed, cmds...)
				}
				return err
			}
			for range 10 {
				if err := appendBatch(); err != nil {
					t.Fatal(err)
				}
			}
			fs.broken.Store(true)
			// Under sync=always the first append fails; under the other
			// policies the failure surfaces when the WAL is written.
			deadline := time.Now().Add(5 * time.Second)
			var err error
			for err = appendBatch(); err == nil; err = appendBatch() {
				if time.Now().After(deadline) {
					t.Fatal("appends still succeed 5s after the disk broke")
				}
				if policy.Mode == SyncAlways {
					t.Fatal("append succeeded on a broken disk under sync=always")
				}
				time.Sleep(time.Millisecond)
			}
			if !errors.Is(err, ErrUnavailable) || !errors.Is(err, errInjected) {
				t.Fatalf("append on a broken disk: %v, want ErrUnavailable wrapping the injected error", err)
			}
			fs.broken.Store(false)
			for range 3 {
				if err := appendBatch(); !errors.Is(err, ErrUnavailable) {
					t.Fatalf("append after the disk healed: %v, want ErrUnavailable (sticky)", err)
				}
			}
			if err := s.AppendEvents(1, events(r, 1, 1)); !errors.Is(err, ErrUnavailable) {
				t.Fatalf("event append: %v, want ErrUnavailable", err)
			}
			if err := s.PutSnapshot(1, 1, 1, []byte("x")); !errors.Is(err, ErrUnavailable) {
				t.Fatalf("snapshot: %v, want ErrUnavailable", err)
			}
			if !errors.Is(s.Err(), ErrUnavailable) {
				t.Fatalf("Err() = %v", s.Err())
			}
			s.Close() // reports the failure again; nothing to check

			s = openStore(t, dir, policy, nil)
			defer s.Close()
			got := replayAll(t, s, 1, 0)
			if len(got) > len(committed) {
				t.Fatalf("%d commands after reopen, but only %d were reported committed", len(got), len(committed))
			}
			equalCommands(t, "journal after the failure", got, committed[:len(got)])
			if policy.Mode == SyncAlways && len(got) != len(committed) {
				t.Fatalf("%d commands after reopen, want all %d reported committed", len(got), len(committed))
			}
		})
	}
}

// TestFailureUnderConcurrentWriters breaks the disk while several goroutines
// append to several assets. Pebble panics if a write reaches its WAL after
// the WAL has failed and a block has been queued; Store.commit must keep
// every write after the failure out. Afterwards every writer gets
// ErrUnavailable. Each writer stops after 300 records so that the volume
// stays below Pebble's first memtable (256 KiB) and no WAL rotation happens:
// a disk failure during a rotation makes Pebble panic whatever the store
// does (see the package comment).
func TestFailureUnderConcurrentWriters(t *testing.T) {
	rounds := 20
	if testing.Short() {
		rounds = 5
	}
	const perWriter, batch = 300, 20
	for round := range rounds {
		fs := &failFS{FS: vfs.Default}
		s := openStore(t, t.TempDir(), SyncPolicy{Mode: SyncAlways}, fs)
		var wg sync.WaitGroup
		var total atomic.Int64
		breakAt := int64(100 + round*40) // records
		next := make([]uint64, 4)
		appendBatch := func(w int) error {
			r := rand.New(rand.NewPCG(uint64(round), uint64(w)<<32|next[w]))
			asset := uint32(w / 2)
			var err error
			if w%2 == 0 {
				err = s.AppendCommands(asset, commands(r, next[w]+1, batch))
			} else {
				err = s.AppendEvents(asset, events(r, next[w]+1, batch))
			}
			if err == nil {
				next[w] += batch
			}
			return err
		}
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next[w] < perWriter {
					if err := appendBatch(w); err != nil {
						return
					}
					if total.Add(batch) >= breakAt {
						fs.broken.Store(true)
					}
				}
			}()
		}
		wg.Wait()
		fs.broken.Store(true)
		// A synced append surfaces the failure if no writer did; then
		// every writer is refused.
		appendBatch(0)
		for w := range 4 {
			if err := appendBatch(w); !errors.Is(err, ErrUnavailable) || !errors.Is(err, errInjected) {
				t.Fatalf("round %d writer %d: %v, want ErrUnavailable wrapping the injected error", round, w, err)
			}
		}
		s.Close()
	}
}

// TestTrades checks LastTrades and TradesSince against a filter over the
// events written.
func TestTrades(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	s := openStore(t, t.TempDir(), SyncPolicy{Mode: SyncOff}, nil)
	defer s.Close()
	evs := events(r, 1, 2000)
	var trades []engine.Event
	for _, e := range evs {
		if e.Kind == engine.EvTrade {
			trades = append(trades, e)
		}
	}
	for i := 0; i < len(evs); i += 300 {
		if err := s.AppendEvents(5, evs[i:min(i+300, len(evs))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AppendEvents(6, events(r, 1, 100)); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 1, 7, 100, len(trades), len(trades) + 10} {
		got, err := s.LastTrades(5, n)
		if err != nil {
			t.Fatal(err)
		}
		want := trades[len(trades)-min(n, len(trades)):]
		equalEvents(t, "LastTrades", got, want)
	}
	for _, c := range []struct {
		seq uint64
		max int
	}{{0, 0}, {0, 5}, {1000, 10}, {1000, 0}, {trades[10].Seq, 3}, {trades[10].Seq - 1, 3}, {2000, 10}} {
		got, err := s.TradesSince(5, c.seq, c.max)
		if err != nil {
			t.Fatal(err)
		}
		var want []engine.Event
		for _, e := range trades {
			if e.Seq > c.seq && (c.max <= 0 || len(want) < c.max) {
				want = append(want, e)
			}
		}
		equalEvents(t, "TradesSince", got, want)
	}
	if got, _ := s.LastTrades(7, 10); len(got) != 0 {
		t.Fatalf("LastTrades of an empty asset: %d trades", len(got))
	}
}

// TestSnapshotsAndPrune writes snapshots, prunes, and checks what is left,
// that replay from the snapshot still works, that appends continue densely
// and that other assets are untouched.
func TestSnapshotsAndPrune(t *testing.T) {
	r := rand.New(rand.NewPCG(25, 26))
	dir := t.TempDir()
	s := openStore(t, dir, SyncPolicy{Mode: SyncAlways}, nil)
	if _, _, _, ok, err := s.LatestSnapshot(1); ok || err != nil {
		t.Fatalf("LatestSnapshot of an empty store: ok=%v err=%v", ok, err)
	}
	cmds := commands(r, 1, 1000)
	evs := events(r, 1, 2000)
	other := commands(r, 1, 100)
	for _, err := range []error{
		s.AppendCommands(1, cmds), s.AppendEvents(1, evs), s.AppendCommands(2, other),
		s.PutSnapshot(1, 300, 600, []byte("at 300")),
		s.PutSnapshot(1, 500, 1000, []byte("at 500")),
		s.PutSnapshot(1, 700, 1400, []byte("at 700")),
		s.PutSnapshot(2, 50, 0, []byte("other")),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	cmdSeq, evSeq, data, ok, err := s.LatestSnapshot(1)
	if err != nil || !ok || cmdSeq != 700 || evSeq != 1400 || string(data) != "at 700" {
		t.Fatalf("LatestSnapshot = %d %d %q %v %v", cmdSeq, evSeq, data, ok, err)
	}
	// Nothing to cut before the first snapshot.
	if err := s.Prune(1, 299); err != nil {
		t.Fatal(err)
	}
	equalCommands(t, "after a prune with no snapshot", replayAll(t, s, 1, 0), cmds)
	// A retention window: cut at the newest snapshot at or before 650.
	if err := s.Prune(1, 650); err != nil {
		t.Fatal(err)
	}
	checkPruned(t, "after Prune(650)", replayAll(t, s, 1, 0), cmds, 500)
	checkPrunedEvents(t, "after Prune(650)", scanAll(t, s, 1, 0), evs, 1000)
	if err := s.Prune(1, 700); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		checkPruned(t, when, replayAll(t, s, 1, 0), cmds, 700)
		equalCommands(t, when+", replay after the snapshot", replayAll(t, s, 1, 700), cmds[700:])
		checkPrunedEvents(t, when, scanAll(t, s, 1, 0), evs, 1400)
		equalCommands(t, when+", other asset", replayAll(t, s, 2, 0), other)
		if cmd, ev := lastSeqs(t, s, 1); cmd != 1000 || ev != 2000 {
			t.Fatalf("%s: last seqs %d/%d", when, cmd, ev)
		}
		var snaps []uint64
		it, _ := s.db.NewIter(nil)
		si := streamIter{it: it, kind: kindSnapshot, asset: 1}
		for ok := si.first(); ok; ok = si.next() {
			seq, _ := parseKey(it.Key(), kindSnapshot, 1)
			snaps = append(snaps, seq)
		}
		if err := it.Close(); err != nil || len(snaps) != 1 || snaps[0] != 700 {
			t.Fatalf("%s: snapshots left %v (%v), want [700]", when, snaps, err)
		}
		if seq, _, _, _, _ := s.LatestSnapshot(2); seq != 50 {
			t.Fatalf("%s: other asset's snapshot at %d", when, seq)
		}
	}
	check("after Prune(700)")
	s.Close()
	s = openStore(t, dir, SyncPolicy{Mode: SyncAlways}, nil)
	defer s.Close()
	check("after reopen")
	if err := s.AppendCommands(1, commands(r, 1001, 10)); err != nil {
		t.Fatal(err)
	}
	// Everything up to the snapshot pruned: the last sequences hold.
	if err := s.PutSnapshot(1, 1010, 2000, []byte("at 1010")); err != nil {
		t.Fatal(err)
	}
	if err := s.Prune(1, 1010); err != nil {
		t.Fatal(err)
	}
	if cmd, ev := lastSeqs(t, s, 1); cmd != 1010 || ev != 2000 {
		t.Fatalf("after pruning to the end: last seqs %d/%d", cmd, ev)
	}
	if err := s.AppendCommands(1, commands(r, 1011, 1)); err != nil {
		t.Fatal(err)
	}
}

// checkPruned checks that a replay after pruning at seq is a suffix of all
// that starts at seq or less than one block before it.
func checkPruned(t *testing.T, when string, got, all []engine.Command, seq uint64) {
	t.Helper()
	if len(got) == 0 || got[0].Seq > seq || got[0].Seq+blockRecords <= seq {
		t.Fatalf("%s: pruned at %d, the journal starts at %v", when, seq, got[:min(1, len(got))])
	}
	equalCommands(t, when, got, all[got[0].Seq-1:])
}

func checkPrunedEvents(t *testing.T, when string, got, all []engine.Event, seq uint64) {
	t.Helper()
	if len(got) == 0 || got[0].Seq > seq || got[0].Seq+blockRecords <= seq {
		t.Fatalf("%s: pruned at %d, the event journal starts at %v", when, seq, got[:min(1, len(got))])
	}
	equalEvents(t, when, got, all[got[0].Seq-1:])
}

// TestPruneBoundsDisk checks that pruning gives the space back once Pebble
// compacts: write many records, snapshot and prune, compact, and compare the
// live sstable bytes with those before. (Pebble's own compactions do the
// same in time; the test compacts by hand to be quick and deterministic.)
func TestPruneBoundsDisk(t *testing.T) {
	n := 100_000
	if testing.Short() {
		n = 40_000
	}
	r := rand.New(rand.NewPCG(27, 28))
	s := openStore(t, t.TempDir(), SyncPolicy{Mode: SyncOff}, nil)
	defer s.Close()
	for seq := 1; seq <= n; seq += 1000 {
		if err := s.AppendCommands(1, commands(r, uint64(seq), 1000)); err != nil {
			t.Fatal(err)
		}
		if err := s.AppendEvents(1, events(r, uint64(seq), 1000)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.db.Flush(); err != nil {
		t.Fatal(err)
	}
	before := s.db.Metrics().Total().TablesSize
	if err := s.PutSnapshot(1, uint64(n), uint64(n), []byte("book")); err != nil {
		t.Fatal(err)
	}
	if err := s.Prune(1, uint64(n)); err != nil {
		t.Fatal(err)
	}
	if err := s.db.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := s.db.Compact(t.Context(), []byte{0}, []byte{0xff}, false); err != nil {
		t.Fatal(err)
	}
	after := s.db.Metrics().Total().TablesSize
	t.Logf("sstables hold %d bytes before the prune, %d after", before, after)
	if after > before/4 {
		t.Fatalf("sstables hold %d bytes after pruning everything, %d before", after, before)
	}
	if got := replayAll(t, s, 1, 0); len(got) == 0 || len(got) > 1000 || got[len(got)-1].Seq != uint64(n) {
		t.Fatalf("after pruning to %d: %d commands left", n, len(got))
	}
}

func TestAssetConfigs(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, SyncPolicy{Mode: SyncAlways}, nil)
	want := map[uint32]engine.AssetConfig{
		1: {Symbol: "BTC-USD", TickSize: 1, LotSize: 1000, MinPrice: 1, MaxPrice: 1 << 40, MaxQty: 1 << 30},
		9: {Symbol: "ETH-USD", TickSize: 5, LotSize: 10, MinPrice: 5, MaxPrice: 1 << 35, MaxQty: 1 << 20},
	}
	for id, cfg := range want {
		if err := s.PutAssetConfig(id, cfg); err != nil {
			t.Fatal(err)
		}
	}
	// Data of other kinds for the same assets must not confuse the scan.
	if err := s.AppendCommands(1, commands(rand.New(rand.NewPCG(1, 1)), 1, 5)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openStore(t, dir, SyncPolicy{Mode: SyncAlways}, nil)
	defer s.Close()
	got, err := s.AssetConfigs()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) || got[1] != want[1] || got[9] != want[9] {
		t.Fatalf("AssetConfigs = %+v, want %+v", got, want)
	}
	s.db.Set(keyOf(t, s, kindMeta, 9, metaAssetConfig), []byte{1, 4, 0}, nil)
	var ce *CorruptError
	if _, err := s.AssetConfigs(); !errors.As(err, &ce) || ce.Asset != 9 {
		t.Fatalf("AssetConfigs with a damaged record: %v", err)
	}
}

// TestReplayAllocs checks that replay allocates nothing per record: a
// replay of 4096 commands or events (64 blocks) allocates what any replay
// does (the cursor, Pebble's iterator), a few, not thousands.
func TestReplayAllocs(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled {
		t.Skip("allocation counts are not meaningful under -race or -cover")
	}
	s := openStore(t, t.TempDir(), SyncPolicy{Mode: SyncOff}, nil)
	defer s.Close()
	r := rand.New(rand.NewPCG(31, 32))
	const n = 4096
	if err := s.AppendCommands(1, commands(r, 1, n)); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendEvents(1, events(r, 1, n)); err != nil {
		t.Fatal(err)
	}
	count := 0
	replay := func() {
		if err := s.ReplayCommands(1, 0, func(*engine.Command) error { count++; return nil }); err != nil {
			t.Fatal(err)
		}
		if err := s.ScanEvents(1, 100, func(*engine.Event) error { count++; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	a := testing.AllocsPerRun(20, replay)
	if count != 21*(2*n-100) {
		t.Fatalf("replayed %d records, want %d", count, 21*(2*n-100))
	}
	if a > 16 {
		t.Errorf("%.1f allocations per replay of %d records, want a few per replay", a, 2*n-100)
	}
	t.Logf("%.1f allocations per replay of %d records", a, 2*n-100)
}

// TestAppendAllocs checks that a steady append allocates nothing. Pebble's
// commit may allocate on rare paths (a memtable rotation), so it averages
// over many runs and allows a fraction.
func TestAppendAllocs(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled {
		t.Skip("allocation counts are not meaningful under -race or -cover")
	}
	for _, policy := range []SyncPolicy{{Mode: SyncOff}, {Mode: SyncAlways}} {
		// AllocsPerRun counts every goroutine's allocations: the
		// high-water mark's writer (a file write every MarkInterval)
		// is kept out of the window, or a slow fsync on a busy machine
		// lets it run during the 200 appends (seen: 1.00 per append).
		s, err := Open(Options{Dir: t.TempDir(), Sync: policy, Logger: quiet, MemTableSize: 4 << 20, MarkInterval: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewPCG(29, 30))
		cmds := commands(r, 1, 64)
		evs := events(r, 1, 64)
		next := func() {
			if err := s.AppendCommands(1, cmds); err != nil {
				t.Fatal(err)
			}
			if err := s.AppendEvents(1, evs); err != nil {
				t.Fatal(err)
			}
			for i := range cmds {
				cmds[i].Seq += uint64(len(cmds))
			}
			for i := range evs {
				evs[i].Seq += uint64(len(evs))
			}
		}
		next() // first use creates the batches
		if a := testing.AllocsPerRun(200, next); a > 0.1 {
			t.Errorf("%v: %.2f allocations per append, want 0", policy, a)
		}
		s.Close()
	}
}
