package journal

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/ringex/ringex/engine"
)

// TestCommandWriter writes more batches than can be in flight without a
// Sync, mixes in AppendCommands, and checks Sync's sequence and the journal
// after a reopen, including batches still in flight at Close.
func TestCommandWriter(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	dir := t.TempDir()
	s := openStore(t, dir, SyncPolicy{Mode: SyncAlways}, nil)
	w := s.Commands(1)
	if s.Commands(1) != w {
		t.Fatal("Commands returned a second writer for the same asset")
	}
	var want []engine.Command
	write := func(n int) {
		t.Helper()
		cmds := commands(r, uint64(len(want)+1), n)
		if err := w.Write(cmds); err != nil {
			t.Fatal(err)
		}
		want = append(want, cmds...)
	}
	for range 3 * maxInFlight {
		write(1 + r.IntN(100))
	}
	synced, err := w.Sync()
	if err != nil || synced != uint64(len(want)) {
		t.Fatalf("Sync = %d, %v; want %d", synced, err, len(want))
	}
	if synced, err := w.Sync(); err != nil || synced != uint64(len(want)) {
		t.Fatalf("idle Sync = %d, %v; want %d", synced, err, len(want))
	}
	// AppendCommands and Write share the sequence.
	cmds := commands(r, uint64(len(want)+1), 10)
	if err := s.AppendCommands(1, cmds); err != nil {
		t.Fatal(err)
	}
	want = append(want, cmds...)
	if err := w.Write(commands(r, uint64(len(want)), 1)); !errors.Is(err, ErrSequence) {
		t.Fatalf("Write repeating a sequence: %v, want ErrSequence", err)
	}
	write(5)
	equalCommands(t, "while open", replayAll(t, s, 1, 0), want)
	write(7) // in flight at Close
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir, SyncPolicy{Mode: SyncAlways}, nil)
	defer s.Close()
	equalCommands(t, "after reopen", replayAll(t, s, 1, 0), want)
}

// TestCommandWriterStages runs Write and Sync on two goroutines, as the
// pipeline's journal writer and syncer stages do.
func TestCommandWriterStages(t *testing.T) {
	for _, policy := range []SyncPolicy{{Mode: SyncAlways}, {Mode: SyncOff}} {
		r := rand.New(rand.NewPCG(43, 44))
		s := openStore(t, t.TempDir(), policy, nil)
		w := s.Commands(2)
		var want []engine.Command
		for range 200 {
			want = append(want, commands(r, uint64(len(want)+1), 1+r.IntN(64))...)
		}
		done := make(chan error, 1)
		go func() {
			for lo := 0; lo < len(want); {
				hi := min(lo+1+r.IntN(64), len(want))
				if err := w.Write(want[lo:hi]); err != nil {
					done <- err
					return
				}
				lo = hi
			}
			done <- nil
		}()
		var last uint64
		for last < uint64(len(want)) {
			synced, err := w.Sync()
			if err != nil {
				t.Fatal(err)
			}
			if synced < last {
				t.Fatalf("%v: Sync went back from %d to %d", policy, last, synced)
			}
			last = synced
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		equalCommands(t, policy.String(), replayAll(t, s, 2, 0), want)
		s.Close()
	}
}

// TestCommandWriterFailure breaks the disk under a writer: Sync and every
// later Write fail with ErrUnavailable, and after a reopen the journal holds
// everything Sync reported durable and nothing that was never written.
func TestCommandWriterFailure(t *testing.T) {
	r := rand.New(rand.NewPCG(45, 46))
	dir := t.TempDir()
	fs := &failFS{FS: vfs.Default}
	s := openStore(t, dir, SyncPolicy{Mode: SyncAlways}, fs)
	w := s.Commands(1)
	var written []engine.Command
	for range 10 {
		cmds := commands(r, uint64(len(written)+1), 50)
		if err := w.Write(cmds); err != nil {
			t.Fatal(err)
		}
		written = append(written, cmds...)
	}
	durable, err := w.Sync()
	if err != nil || durable != 500 {
		t.Fatalf("Sync = %d, %v", durable, err)
	}
	fs.broken.Store(true)
	// A Write does not wait for its fsync, so the first ones may succeed.
	for range 2 {
		cmds := commands(r, uint64(len(written)+1), 50)
		err := w.Write(cmds)
		if err == nil {
			written = append(written, cmds...)
		} else if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Write on a broken disk: %v", err)
		}
	}
	if got, err := w.Sync(); !errors.Is(err, ErrUnavailable) || got != durable {
		t.Fatalf("Sync on a broken disk = %d, %v; want %d and ErrUnavailable", got, err, durable)
	}
	if err := w.Write(commands(r, uint64(len(written)+1), 1)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Write after the failure: %v, want ErrUnavailable", err)
	}
	s.Close()
	fs.broken.Store(false)
	s = openStore(t, dir, SyncPolicy{Mode: SyncAlways}, nil)
	defer s.Close()
	got := replayAll(t, s, 1, 0)
	if len(got) < int(durable) || len(got) > len(written) {
		t.Fatalf("%d commands after reopen: want at least the %d synced, at most the %d written", len(got), durable, len(written))
	}
	equalCommands(t, "after reopen", got, written[:len(got)])
}
