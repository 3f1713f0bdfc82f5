package pipeline

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ringex/ringex/engine"
	"github.com/ringex/ringex/journal"
	"github.com/ringex/ringex/ring"
)

// The crash test runs this test binary as a child process (crashChildEnv
// names its data directory) that recovers, then submits orders as fast as it
// can and prints one line per acknowledgement. The parent kills it with
// SIGKILL at a random instant and restarts it on the same directory.
const crashChildEnv = "RINGEX_CRASH_CHILD_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(dir)
		return
	}
	os.Exit(m.Run())
}

// stdoutAcks prints "ack <seq> <client-order-id>" per acknowledged command,
// written before the next batch is handled: a line the parent has read is an
// acknowledgement the exchange gave.
type stdoutAcks struct{ w *bufio.Writer }

func (s *stdoutAcks) HandleAcks(a *Asset, lo, hi int64) {
	for q := lo; q <= hi; q++ {
		slot := a.Input(q)
		if !slot.Failed() {
			fmt.Fprintf(s.w, "ack %d %d\n", slot.Cmd.Seq, slot.Cmd.ClientOrderID)
		}
	}
	s.w.Flush()
}

func crashChild(dir string) {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		os.Exit(3)
	}
	store, err := journal.Open(journal.Options{Dir: dir, Sync: journal.SyncPolicy{Mode: journal.SyncAlways}})
	if err != nil {
		fail(err)
	}
	ex, err := Open(store, []AssetSpec{testAsset}, Config{InSize: 1024, OutSize: 4096, Wait: ring.Blocking, SnapshotEvery: 500})
	if err != nil {
		fail(err)
	}
	a := ex.BySymbol("TEST")
	fmt.Printf("ready %d\n", a.Book().LastCmdSeq())
	ex.Start(&stdoutAcks{bufio.NewWriterSize(os.Stdout, 1<<16)}, nil)
	epoch, _ := strconv.ParseUint(os.Getenv("RINGEX_CRASH_EPOCH"), 10, 32)
	rng := rand.New(rand.NewPCG(epoch, 3))
	var known []uint64
	for i := uint64(0); ; i++ {
		c := randomCommand(rng, uint32(1+rng.IntN(3)), known)
		c.ClientOrderID = epoch<<32 | i
		if _, err := a.Submit(&c, 0, time.Second); err != nil {
			fail(err)
		}
		if c.Kind == engine.CmdNew && len(known) < 4096 {
			known = append(known, c.OrderID)
		}
	}
}

// TestCrashRecovery kills a running exchange pipeline with SIGKILL at random
// instants and checks, after each restart and at the end, that every
// acknowledged order is in the journal exactly once, that sequences have no
// gaps or duplicates, and that the recovered book equals a clean replay.
func TestCrashRecovery(t *testing.T) {
	cycles := 5
	if os.Getenv("RINGEX_SOAK") != "" {
		cycles = 50
	}
	dir := t.TempDir()
	acked := map[uint64]uint64{} // seq -> client order id
	rng := rand.New(rand.NewPCG(42, 42))
	for cycle := range cycles {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, fmt.Sprintf("RINGEX_CRASH_EPOCH=%d", cycle+1))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1024)
		var readDone sync.WaitGroup
		readDone.Add(1)
		go func() {
			defer readDone.Done()
			defer close(lines)
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
			io.Copy(io.Discard, stdout)
		}()
		// Kill at a random instant: one cycle in four during start-up and
		// recovery, the others under load, timed from the child's "ready"
		// so that a slow start (a busy CI machine) cannot leave a cycle
		// with nothing in flight.
		kill := func() { cmd.Process.Signal(syscall.SIGKILL) }
		killAfter := time.Duration(30+rng.IntN(300)) * time.Millisecond
		duringRecovery := rng.IntN(4) == 0
		var timer *time.Timer
		if duringRecovery {
			timer = time.AfterFunc(time.Duration(rng.IntN(30))*time.Millisecond, kill)
		}
		// A child that never becomes ready is killed after 30 s, and the
		// check below reports it.
		watchdog := time.AfterFunc(30*time.Second, kill)
		ready := false
		for line := range lines {
			f := strings.Fields(line)
			switch {
			case len(f) == 2 && f[0] == "ready":
				ready = true
				if timer == nil {
					timer = time.AfterFunc(killAfter, kill)
				}
			case len(f) == 3 && f[0] == "ack":
				seq, _ := strconv.ParseUint(f[1], 10, 64)
				id, _ := strconv.ParseUint(f[2], 10, 64)
				if prev, dup := acked[seq]; dup && prev != id {
					t.Fatalf("cycle %d: seq %d acknowledged for client id %d and %d", cycle, seq, prev, id)
				}
				acked[seq] = id
			}
		}
		readDone.Wait()
		watchdog.Stop()
		if timer != nil {
			timer.Stop()
		}
		err = cmd.Wait()
		if !ready && !duringRecovery {
			t.Fatalf("cycle %d: child never became ready: %s", cycle, stderr.String())
		}
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("cycle %d: child ended by itself (%v, ready=%v): %s", cycle, err, ready, stderr.String())
		}
		t.Logf("cycle %d: killed (during recovery: %v), %d acks so far", cycle, duringRecovery, len(acked))
	}
	verifyJournal(t, dir, acked)
}

func verifyJournal(t *testing.T, dir string, acked map[uint64]uint64) {
	store, err := journal.Open(journal.Options{Dir: dir, Sync: journal.SyncPolicy{Mode: journal.SyncOff}})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	// The child does not prune, so the journal must start at 1 and be dense.
	first, want := uint64(0), uint64(0)
	seen := map[uint64]uint64{}
	err = store.ReplayCommands(testAsset.ID, 0, func(c *engine.Command) error {
		if first == 0 {
			first, want = c.Seq, c.Seq
		}
		if c.Seq != want {
			t.Fatalf("journal: seq %d after %d: a gap or duplicate", c.Seq, want-1)
		}
		want++
		seen[c.Seq] = c.ClientOrderID
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[uint64]bool{}
	for _, id := range seen {
		if ids[id] {
			t.Fatalf("client order id %d journaled twice", id)
		}
		ids[id] = true
	}
	if len(acked) == 0 {
		t.Fatal("no order was acknowledged in any cycle: the test proved nothing")
	}
	for seq, id := range acked {
		if got, ok := seen[seq]; !ok || got != id {
			t.Fatalf("acknowledged seq %d (client id %d) missing from the journal (found %d, %v)", seq, id, got, ok)
		}
	}

	if first != 1 {
		t.Fatalf("journal starts at seq %d, want 1", first)
	}
	// Recovery (newest snapshot plus replay) must equal a clean replay of
	// the whole journal.
	ex, err := Open(store, []AssetSpec{testAsset}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	recovered := snapshotBytes(t, ex.BySymbol("TEST").Book())
	ex.Close()
	clean, _ := replayAll(t, store)
	if !bytes.Equal(recovered, snapshotBytes(t, clean)) {
		t.Fatal("recovered book differs from a clean replay of the journal")
	}
	var last uint64
	store.ScanEvents(testAsset.ID, 0, func(e *engine.Event) error {
		if last != 0 && e.Seq != last+1 {
			t.Fatalf("event journal: seq %d after %d", e.Seq, last)
		}
		last = e.Seq
		return nil
	})
}
