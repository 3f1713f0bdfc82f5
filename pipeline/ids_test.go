package pipeline

import (
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/ringex/ringex/engine"
	"github.com/ringex/ringex/journal"
	"github.com/ringex/ringex/ring"
)

// TestOrderIDsNeverReused runs the exchange three times on one data
// directory, each run ended by a simulated crash of the machine (a clone of
// the file system with only what was fsynced), and checks that no order id
// acknowledged in one run is acknowledged again in a later one, under every
// sync policy. Under interval and off the crash loses the acknowledged
// commands themselves, so the ids cannot come from the journal alone.
func TestOrderIDsNeverReused(t *testing.T) {
	for _, policy := range []journal.SyncPolicy{
		{Mode: journal.SyncAlways}, {Mode: journal.SyncInterval, Interval: time.Hour}, {Mode: journal.SyncOff},
	} {
		t.Run(policy.String(), func(t *testing.T) {
			fs := vfs.NewCrashableMem()
			owner := map[uint64]int{} // order id -> the run that acknowledged it
			rng := rand.New(rand.NewPCG(3, 4))
			for run := range 3 {
				store, err := journal.Open(journal.Options{Dir: "db", FS: fs, Sync: policy, Logger: quiet})
				if err != nil {
					t.Fatal(err)
				}
				ex, err := Open(store, []AssetSpec{testAsset}, Config{InSize: 64, OutSize: 256, Wait: ring.Blocking, Logger: quiet})
				if err != nil {
					t.Fatal(err)
				}
				acks := &ackRecorder{}
				ex.Start(acks, nil)
				a := ex.BySymbol("TEST")
				const n = 200
				for i := range n {
					c := randomCommand(rng, 1, nil) // no known orders: every command is a New
					if _, err := a.Submit(&c, uint64(i), time.Second); err != nil {
						t.Fatal(err)
					}
				}
				if !eventually(func() bool { acks.mu.Lock(); defer acks.mu.Unlock(); return len(acks.acks) == n }) {
					t.Fatalf("run %d: not every order acknowledged", run)
				}
				crashed := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 0})
				ex.Close()
				store.Close()
				for _, c := range acks.acks {
					if c.Kind != engine.CmdNew {
						t.Fatalf("command %+v is not a New", c)
					}
					if AssetOfOrder(c.OrderID) != testAsset.ID {
						t.Fatalf("order id %#x does not name asset %d", c.OrderID, testAsset.ID)
					}
					if prev, dup := owner[c.OrderID]; dup {
						t.Fatalf("run %d: order id %#x (seq %d) was acknowledged in run %d already", run, c.OrderID, c.Seq, prev)
					}
					owner[c.OrderID] = run
				}
				fs = crashed
			}
		})
	}
}

var quiet = slog.New(slog.DiscardHandler)

// eventually polls cond for up to 5 seconds.
func eventually(cond func() bool) bool {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if cond() {
			return true
		}
	}
	return false
}
