package journal

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// The tests in this file simulate crashes with Pebble's crashable in-memory
// file system. A clone with every byte written to the file system is what a
// kill -9 of the process leaves (the operating system keeps what was
// written, whether synced or not; what was still in the process is gone); a
// clone with only the synced bytes is what a crash of the machine leaves.

var (
	processCrash = vfs.CrashCloneCfg{UnsyncedDataPercent: 100, RNG: rand.New(rand.NewPCG(1, 1))}
	machineCrash = vfs.CrashCloneCfg{UnsyncedDataPercent: 0}
)

var policies = []SyncPolicy{{Mode: SyncAlways}, {Mode: SyncInterval, Interval: time.Hour}, {Mode: SyncOff}}

// crashStore opens a store under policy on a new crashable in-memory file
// system and closes it when the test ends.
func crashStore(t *testing.T, policy SyncPolicy) (*vfs.MemFS, *Store) {
	t.Helper()
	fs := vfs.NewCrashableMem()
	s := openStore(t, "db", policy, fs)
	t.Cleanup(func() { s.Close() })
	return fs, s
}

// lastCommand reopens a crash clone and returns its last command sequence.
func lastCommand(t *testing.T, fs *vfs.MemFS, policy SyncPolicy) uint64 {
	t.Helper()
	s := openStore(t, "db", policy, fs)
	defer s.Close()
	return uint64(len(replayAll(t, s, 1, 0)))
}

// TestProcessCrashKeepsCommands: under every policy, a command batch whose
// append returned is in the operating system, so a crash of the process
// cannot lose it. It fails if commands wait in Pebble's WAL buffer (an
// Apply with NoSync) until a block fills.
func TestProcessCrashKeepsCommands(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, policy := range policies {
		t.Run(policy.String(), func(t *testing.T) {
			fs, s := crashStore(t, policy)
			if err := s.AppendCommands(1, commands(r, 1, 3)); err != nil {
				t.Fatal(err)
			}
			w := s.Commands(1)
			if err := w.Write(commands(r, 4, 2)); err != nil {
				t.Fatal(err)
			}
			if _, err := w.Sync(); err != nil {
				t.Fatal(err)
			}
			// Events may stay buffered: recovery rebuilds them.
			if err := s.AppendEvents(1, events(r, 1, 2)); err != nil {
				t.Fatal(err)
			}
			if got := lastCommand(t, fs.CrashClone(processCrash), policy); got != 5 {
				t.Fatalf("after a process crash the journal holds %d commands, want 5", got)
			}
		})
	}
}

// TestMachineCrash: what a crash of the machine keeps. Under always every
// command; under interval, once the syncer has run, every command; under
// off whatever was synced. Snapshots are durable under always and interval.
func TestMachineCrash(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, policy := range []SyncPolicy{{Mode: SyncAlways}, {Mode: SyncInterval, Interval: time.Millisecond}} {
		t.Run(policy.String(), func(t *testing.T) {
			fs, s := crashStore(t, policy)
			if err := s.AppendCommands(1, commands(r, 1, 3)); err != nil {
				t.Fatal(err)
			}
			if !eventually(func() bool { return lastCommand(t, fs.CrashClone(machineCrash), policy) == 3 }) {
				t.Fatal("the commands are not on disk")
			}
			if err := s.PutSnapshot(1, 3, 0, []byte("book")); err != nil {
				t.Fatal(err)
			}
			c := openStore(t, "db", policy, fs.CrashClone(machineCrash))
			defer c.Close()
			if seq, _, _, ok, err := c.LatestSnapshot(1); err != nil || !ok || seq != 3 {
				t.Fatalf("snapshot after a machine crash: seq %d ok %v err %v", seq, ok, err)
			}
		})
	}
}

// TestIntervalDoesNotSyncInCommitPath: under interval and off a command
// commit returns without an fsync of the WAL.
func TestIntervalDoesNotSyncInCommitPath(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, policy := range policies[1:] {
		t.Run(policy.String(), func(t *testing.T) {
			fs, s := crashStore(t, policy)
			if err := s.AppendCommands(1, commands(r, 1, 3)); err != nil {
				t.Fatal(err)
			}
			if got := lastCommand(t, fs.CrashClone(machineCrash), policy); got != 0 {
				t.Fatalf("%d commands fsynced by the commit under %v", got, policy)
			}
		})
	}
}

// TestIDReservationSurvivesMachineCrash: a reservation is fsynced under
// every policy, even off, and reads back after a crash of the machine.
func TestIDReservationSurvivesMachineCrash(t *testing.T) {
	for _, policy := range policies {
		t.Run(policy.String(), func(t *testing.T) {
			fs, s := crashStore(t, policy)
			if got, err := s.OrderIDReservation(1); err != nil || got != 0 {
				t.Fatalf("new store: reservation %d, %v", got, err)
			}
			if err := s.ReserveOrderIDs(1, 1<<20); err != nil {
				t.Fatal(err)
			}
			if err := s.ReserveOrderIDs(2, 7); err != nil {
				t.Fatal(err)
			}
			c := openStore(t, "db", policy, fs.CrashClone(machineCrash))
			defer c.Close()
			for asset, want := range map[uint32]uint64{1: 1 << 20, 2: 7, 3: 0} {
				if got, err := c.OrderIDReservation(asset); err != nil || got != want {
					t.Fatalf("asset %d: reservation %d, %v after a machine crash, want %d", asset, got, err, want)
				}
			}
			if err := c.ReserveOrderIDs(1, MaxIDNumber+1); err == nil {
				t.Fatal("a reservation past 48 bits was accepted")
			}
			// The metadata scan of asset configurations skips reservations.
			if cfgs, err := c.AssetConfigs(); err != nil || len(cfgs) != 0 {
				t.Fatalf("AssetConfigs: %v, %v", cfgs, err)
			}
		})
	}
}

// TestRotatedWALIsSynced: the store fsyncs a WAL when Pebble closes it on
// rotation, under every policy, because Pebble's recovery requires every WAL
// but the newest to end cleanly (a torn older WAL is corruption). The test
// syncs part of a WAL (as the interval syncer does), writes until Pebble
// rotates to a new WAL, and crashes the machine: the store must open and
// hold every command written before the rotation.
func TestRotatedWALIsSynced(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	policy := SyncPolicy{Mode: SyncInterval, Interval: time.Hour}
	fs, s := crashStore(t, policy)
	first := s.fs.openWALs()
	seq := uint64(1)
	appendBatch := func() {
		if err := s.AppendCommands(1, commands(r, seq, 512)); err != nil {
			t.Fatal(err)
		}
		seq += 512
	}
	appendBatch()
	if err := s.fsyncWAL(); err != nil {
		t.Fatal(err)
	}
	for rotated := false; !rotated; {
		appendBatch()
		rotated = true
		for _, f := range s.fs.openWALs() {
			for _, g := range first {
				if f == g {
					rotated = false
				}
			}
		}
		if seq > 1<<20 {
			t.Fatal("no WAL rotation after 1 M commands")
		}
	}
	beforeRotation := seq - 1 - 512
	t.Logf("rotated after %d commands; %d WALs open at first", beforeRotation, len(first))
	appendBatch()
	c, err := Open(Options{Dir: "db", Sync: policy, FS: fs.CrashClone(machineCrash), Logger: quiet, MemTableSize: 4 << 20})
	if err != nil {
		t.Fatalf("open after a machine crash: %v", err)
	}
	defer c.Close()
	if got := uint64(len(replayAll(t, c, 1, 0))); got < beforeRotation {
		t.Fatalf("after a machine crash the journal holds %d commands, want at least the %d written before the rotation", got, beforeRotation)
	}
}
