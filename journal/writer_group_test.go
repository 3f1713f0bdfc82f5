package journal

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ringex/ringex/engine"
)

// TestCommandGroup writes the commands of three assets through one group
// writer, each call with a random subset of them, and checks after a
// reopen that every asset holds exactly its own commands, in order, and
// that SyncMemberTo reports each member's own progress.
func TestCommandGroup(t *testing.T) {
	for _, mode := range []SyncMode{SyncAlways, SyncOff} {
		name := map[SyncMode]string{SyncAlways: "always", SyncOff: "off"}[mode]
		t.Run(name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(61, 62))
			dir := t.TempDir()
			s := openStore(t, dir, SyncPolicy{Mode: mode}, nil)
			assets := []uint32{7, 3, 9}
			w, err := s.CommandGroup(assets)
			if err != nil {
				t.Fatal(err)
			}
			next := make([]uint64, len(assets))
			want := make([][]engine.Command, len(assets))
			for i := range next {
				next[i] = 1
			}
			for range 200 {
				var parts []GroupPart
				for m := range assets {
					if r.IntN(3) == 0 {
						continue
					}
					cmds := commands(r, next[m], 1+r.IntN(70))
					next[m] += uint64(len(cmds))
					want[m] = append(want[m], cmds...)
					parts = append(parts, GroupPart{Member: m, Cmds: cmds})
				}
				if err := w.WriteGroup(parts); err != nil {
					t.Fatal(err)
				}
				for _, p := range parts {
					last := p.Cmds[len(p.Cmds)-1].Seq
					if synced, err := w.SyncMemberTo(p.Member, last); err != nil || synced != last {
						t.Fatalf("SyncMemberTo(%d, %d) = %d, %v; want %d", p.Member, last, synced, err, last)
					}
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = openStore(t, dir, SyncPolicy{Mode: mode}, nil)
			defer s.Close()
			for m, id := range assets {
				equalCommands(t, "asset replay", replayAll(t, s, id, 0), want[m])
			}
		})
	}
}

// TestCommandGroupAllOrNothing checks that a group write with one bad part
// journals none of the others: the parts are one batch.
func TestCommandGroupAllOrNothing(t *testing.T) {
	r := rand.New(rand.NewPCG(63, 64))
	s := openStore(t, t.TempDir(), SyncPolicy{Mode: SyncOff}, nil)
	defer s.Close()
	w, err := s.CommandGroup([]uint32{1, 2})
	if err != nil {
		t.Fatal(err)
	}
	good, gap := commands(r, 1, 5), commands(r, 2, 5) // asset 2 must start at 1
	if err := w.WriteGroup([]GroupPart{{0, good}, {1, gap}}); !errors.Is(err, ErrSequence) {
		t.Fatalf("WriteGroup with a gap = %v, want ErrSequence", err)
	}
	for _, id := range []uint32{1, 2} {
		if got := replayAll(t, s, id, 0); len(got) != 0 {
			t.Fatalf("asset %d holds %d commands after a failed group write, want 0", id, len(got))
		}
	}
	// The writer is still usable, and the good part goes in on its own.
	if err := w.WriteGroup([]GroupPart{{0, good}}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.SyncMemberTo(0, 5); err != nil {
		t.Fatal(err)
	}
	if _, err := w.SyncMemberTo(1, 1); err == nil {
		t.Fatal("SyncMemberTo of a member with nothing written returned nil")
	}
	equalCommands(t, "asset 1", replayAll(t, s, 1, 0), good)
}

// TestCommandGroupMembership checks that an asset belongs to one writer.
func TestCommandGroupMembership(t *testing.T) {
	s := openStore(t, t.TempDir(), SyncPolicy{Mode: SyncOff}, nil)
	defer s.Close()
	w, err := s.CommandGroup([]uint32{1, 2})
	if err != nil {
		t.Fatal(err)
	}
	if again, err := s.CommandGroup([]uint32{1, 2}); err != nil || again != w {
		t.Fatalf("the same group again = %p, %v; want %p", again, err, w)
	}
	for _, bad := range [][]uint32{{2, 3}, {1}, {3, 2}, {4, 4}, nil} {
		if _, err := s.CommandGroup(bad); err == nil {
			t.Errorf("CommandGroup(%v) = nil error", bad)
		}
	}
}

// TestCommandGroupAllocs checks that a group write and its syncs allocate
// nothing once the writer's batches exist.
func TestCommandGroupAllocs(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled {
		t.Skip("allocation counts are not meaningful under -race or -cover")
	}
	s, err := Open(Options{Dir: t.TempDir(), Sync: SyncPolicy{Mode: SyncOff}, Logger: quiet,
		MemTableSize: 4 << 20, MarkInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	w, err := s.CommandGroup([]uint32{1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(65, 66))
	parts := []GroupPart{{0, commands(r, 1, 40)}, {2, commands(r, 1, 40)}}
	next := func() {
		if err := w.WriteGroup(parts); err != nil {
			t.Fatal(err)
		}
		for _, p := range parts {
			if _, err := w.SyncMemberTo(p.Member, p.Cmds[len(p.Cmds)-1].Seq); err != nil {
				t.Fatal(err)
			}
			for i := range p.Cmds {
				p.Cmds[i].Seq += uint64(len(p.Cmds))
			}
		}
	}
	next()
	if a := testing.AllocsPerRun(200, next); a > 0.1 {
		t.Errorf("%.2f allocations per group write and syncs, want 0", a)
	}
}

// TestEventGroup appends the events of three assets through one group, each
// call with a random subset of them, and checks after a reopen that every
// asset holds exactly its own events; a call with a bad part journals
// nothing; the events of an asset belong to one group.
func TestEventGroup(t *testing.T) {
	r := rand.New(rand.NewPCG(67, 68))
	dir := t.TempDir()
	s := openStore(t, dir, SyncPolicy{Mode: SyncOff}, nil)
	assets := []uint32{4, 2, 8}
	g, err := s.EventGroup(assets)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.EventGroup([]uint32{8}); err == nil {
		t.Fatal("the events of an asset joined two groups")
	}
	next := []uint64{1, 1, 1}
	want := make([][]engine.Event, len(assets))
	for range 200 {
		var parts []EventPart
		for m := range assets {
			if r.IntN(3) == 0 {
				continue
			}
			evs := events(r, next[m], 1+r.IntN(150))
			next[m] += uint64(len(evs))
			want[m] = append(want[m], evs...)
			parts = append(parts, EventPart{Member: m, Events: evs})
		}
		if err := g.Append(parts); err != nil {
			t.Fatal(err)
		}
	}
	bad := []EventPart{{0, events(r, next[0], 3)}, {1, events(r, next[1]+1, 3)}}
	if err := g.Append(bad); !errors.Is(err, ErrSequence) {
		t.Fatalf("Append with a gap = %v, want ErrSequence", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir, SyncPolicy{Mode: SyncOff}, nil)
	defer s.Close()
	for m, id := range assets {
		equalEvents(t, "asset scan", scanAll(t, s, id, 0), want[m])
	}
}

// TestEventGroupAllocs checks that a group append allocates nothing.
func TestEventGroupAllocs(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled {
		t.Skip("allocation counts are not meaningful under -race or -cover")
	}
	s, err := Open(Options{Dir: t.TempDir(), Sync: SyncPolicy{Mode: SyncOff}, Logger: quiet,
		MemTableSize: 4 << 20, MarkInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	g, err := s.EventGroup([]uint32{1, 2})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(69, 70))
	parts := []EventPart{{0, events(r, 1, 20)}, {1, events(r, 1, 20)}} // 200 runs stay inside one memtable
	next := func() {
		if err := g.Append(parts); err != nil {
			t.Fatal(err)
		}
		for _, p := range parts {
			for i := range p.Events {
				p.Events[i].Seq += uint64(len(p.Events))
			}
		}
	}
	next()
	if a := testing.AllocsPerRun(200, next); a > 0.1 {
		t.Errorf("%.2f allocations per group append, want 0", a)
	}
}

// TestGroupPartsOutOfOrder checks that a group write whose parts are not in
// strictly increasing member order (a member twice, or two members swapped)
// is refused with an error and journals nothing. The parts' locks are
// taken in the order given: a member twice locked its appender twice and
// hung the caller for good, and two members swapped against close (which
// locks them in member order) or another writer could deadlock.
func TestGroupPartsOutOfOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(65, 66))
	// The store is closed at the end, not deferred: after a deadlock its
	// Close would wait for the stuck locks too.
	s := openStore(t, t.TempDir(), SyncPolicy{Mode: SyncOff}, nil)
	w, err := s.CommandGroup([]uint32{1, 2})
	if err != nil {
		t.Fatal(err)
	}
	g, err := s.EventGroup([]uint32{1, 2})
	if err != nil {
		t.Fatal(err)
	}
	a, b := commands(r, 1, 3), commands(r, 4, 3)
	ev := []engine.Event{{Seq: 1}}
	for name, call := range map[string]func() error{
		"commands twice":   func() error { return w.WriteGroup([]GroupPart{{0, a}, {0, b}}) },
		"commands swapped": func() error { return w.WriteGroup([]GroupPart{{1, a}, {0, a}}) },
		"events twice":     func() error { return g.Append([]EventPart{{0, ev}, {0, ev}}) },
		"events swapped":   func() error { return g.Append([]EventPart{{1, ev}, {0, ev}}) },
	} {
		done := make(chan error, 1)
		go func() { done <- call() }()
		select {
		case err := <-done:
			if err == nil {
				t.Errorf("%s: nil error", name)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: still waiting after 5s (deadlocked on its own locks)", name)
		}
	}
	for _, id := range []uint32{1, 2} {
		if got := replayAll(t, s, id, 0); len(got) != 0 {
			t.Fatalf("asset %d holds %d commands after refused group writes, want 0", id, len(got))
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestEventGroupMembership checks that an asset's events belong to one
// group, and that asking again for the same assets returns that group, as
// CommandGroup does: a pipeline reopened over the same store (after Close,
// or after an Open that failed) asks for both again, and EventGroup used
// to refuse the second time. A refused request leaves nothing claimed.
func TestEventGroupMembership(t *testing.T) {
	s := openStore(t, t.TempDir(), SyncPolicy{Mode: SyncOff}, nil)
	defer s.Close()
	g, err := s.EventGroup([]uint32{1, 2})
	if err != nil {
		t.Fatal(err)
	}
	if again, err := s.EventGroup([]uint32{1, 2}); err != nil || again != g {
		t.Fatalf("the same group again = %p, %v; want %p", again, err, g)
	}
	for _, bad := range [][]uint32{{2, 3}, {1}, {3, 2}, {4, 4}, nil} {
		if _, err := s.EventGroup(bad); err == nil {
			t.Errorf("EventGroup(%v) = nil error", bad)
		}
	}
	// {3, 2} and {4, 4} were refused: 3 and 4 are still free.
	if _, err := s.EventGroup([]uint32{3, 4}); err != nil {
		t.Fatalf("EventGroup(3, 4) after refused requests naming them: %v", err)
	}
}
