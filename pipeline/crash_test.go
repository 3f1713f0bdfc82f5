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
// names its data directory, crashSyncEnv its sync policy) that recovers,
// then submits orders as fast as it can and prints one line per
// acknowledgement and per event it publishes. The parent kills it with
// SIGKILL at a random instant and restarts it on the same directory.
const (
	crashChildEnv = "RINGEX_CRASH_CHILD_DIR"
	crashSyncEnv  = "RINGEX_CRASH_SYNC"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(dir)
		return
	}
	os.Exit(m.Run())
}

// crashOut prints the child's lines for the parent: "ack <seq> <client
// order id> <kind> <order id> $" per acknowledged command and "ev <seq>
// <event> $" per published event, each written (flushed to the pipe) before
// the next batch is handled: a line the parent has read is an ack the
// exchange gave, or an event it published. The trailing "$" marks a whole
// line: a kill can cut the last write short. The ack and notifier
// goroutines share the writer under mu, so lines never interleave.
//
// The child keeps at most crashWindow requests unacknowledged, as a client
// with a window does: so the acks the parent has read are never far behind
// what the journal has taken, and a journal that loses its last writes
// loses acknowledged ones. (A child that floods its ring hides such a loss:
// its acks lag the journal by a whole ring.)
type crashOut struct {
	mu     sync.Mutex
	w      *bufio.Writer
	window chan struct{} // one token per request in flight
}

const crashWindow = 64

func (o *crashOut) HandleAcks(a *Asset, lo, hi int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for q := lo; q <= hi; q++ {
		slot := a.Input(q)
		if !slot.Failed() {
			c := &slot.Cmd
			fmt.Fprintf(o.w, "ack %d %d %d %d $\n", c.Seq, c.ClientOrderID, c.Kind, c.OrderID)
		}
	}
	o.w.Flush()
	for q := lo; q <= hi; q++ {
		<-o.window
	}
}

func (o *crashOut) HandleOutput(a *Asset, lo, hi int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for q := lo; q <= hi; q++ {
		if out := a.Output(q); !out.IsLevel {
			fmt.Fprintf(o.w, "ev %d %s $\n", out.Event.Seq, eventString(&out.Event))
		}
	}
	o.w.Flush()
}

// eventString is an event's every field, for comparing the events seen live
// with the recovered ones.
func eventString(e *engine.Event) string { return strings.ReplaceAll(fmt.Sprintf("%+v", *e), " ", ",") }

func crashChild(dir string) {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		os.Exit(3)
	}
	policy, err := journal.ParseSyncPolicy(os.Getenv(crashSyncEnv))
	if err != nil {
		fail(err)
	}
	// RINGEX_CRASH_MEMTABLE (bytes) shrinks the memtable, so that the
	// store rotates epochs, and Pebble flushes, many times a cycle; with
	// it, the child prunes after each snapshot.
	memtable, _ := strconv.ParseUint(os.Getenv(crashMemtableEnv), 10, 64)
	store, err := journal.Open(journal.Options{Dir: dir, Sync: policy, MemTableSize: memtable})
	if err != nil {
		fail(err)
	}
	ex, err := Open(store, []AssetSpec{testAsset}, Config{InSize: 1024, OutSize: 4096, Wait: ring.Blocking, SnapshotEvery: 500,
		Prune: memtable != 0})
	if err != nil {
		fail(err)
	}
	a := ex.BySymbol("TEST")
	fmt.Printf("ready %d\n", a.Book().LastCmdSeq())
	out := &crashOut{w: bufio.NewWriterSize(os.Stdout, 1<<16), window: make(chan struct{}, crashWindow)}
	ex.Start(out, out)
	epoch, _ := strconv.ParseUint(os.Getenv("RINGEX_CRASH_EPOCH"), 10, 32)
	rng := rand.New(rand.NewPCG(epoch, 3))
	var known []uint64
	for i := uint64(0); ; i++ {
		c := randomCommand(rng, uint32(1+rng.IntN(3)), known)
		c.ClientOrderID = epoch<<32 | i
		out.window <- struct{}{}
		if _, err := a.Submit(&c, 0, time.Second); err != nil {
			fail(err)
		}
		if c.Kind == engine.CmdNew && len(known) < 4096 {
			known = append(known, c.OrderID)
		}
	}
}

// crashLog is what the parent saw from its children, across every cycle.
type crashLog struct {
	acked    map[uint64]ackLine // by journal sequence
	newIDs   map[uint64]uint64  // exchange order id -> the sequence of the New that got it
	events   map[uint64]string  // event sequence -> eventString, as published live
	cycleAck int                // acks in the current cycle
}

type ackLine struct {
	clientID, orderID uint64
	kind              engine.CommandKind
}

// line takes one line of a child's output; it returns "ready" for the
// ready line and an error for an ack or event that contradicts an earlier
// one: a sequence acknowledged for two requests, an order id given to two
// orders, an event published twice with different contents.
func (l *crashLog) line(s string) (string, error) {
	f := strings.Fields(s)
	if len(f) == 2 && f[0] == "ready" {
		return "ready", nil
	}
	if len(f) < 2 || f[len(f)-1] != "$" {
		return "", nil // cut short by the kill
	}
	switch {
	case f[0] == "ack" && len(f) == 6:
		seq, _ := strconv.ParseUint(f[1], 10, 64)
		cid, _ := strconv.ParseUint(f[2], 10, 64)
		kind, _ := strconv.ParseUint(f[3], 10, 8)
		oid, _ := strconv.ParseUint(f[4], 10, 64)
		a := ackLine{clientID: cid, orderID: oid, kind: engine.CommandKind(kind)}
		if prev, dup := l.acked[seq]; dup && prev != a {
			return "", fmt.Errorf("seq %d acknowledged as %+v and as %+v", seq, prev, a)
		}
		l.acked[seq] = a
		l.cycleAck++
		if a.kind == engine.CmdNew {
			if prev, dup := l.newIDs[oid]; dup && prev != seq {
				return "", fmt.Errorf("order id %#x acknowledged for the New orders at seqs %d and %d", oid, prev, seq)
			}
			l.newIDs[oid] = seq
		}
	case f[0] == "ev" && len(f) == 4:
		seq, _ := strconv.ParseUint(f[1], 10, 64)
		if prev, dup := l.events[seq]; dup && prev != f[2] {
			return "", fmt.Errorf("event %d published as %s and later as %s", seq, prev, f[2])
		}
		l.events[seq] = f[2]
	}
	return "", nil
}

// crashPolicies are the sync policies the crash test runs. The interval is
// long enough that its background fsync never covers the last acks: a
// kill -9 must lose nothing all the same.
var crashPolicies = []string{"always", "interval=50ms", "off"}

// TestCrashRecovery kills a running exchange pipeline with SIGKILL at random
// instants, under each sync policy, and checks that every acknowledged
// request is in the journal exactly once with the order id it was
// acknowledged with, that no order id names two orders, that every event
// published before a kill is the same after the restart, that sequences
// have no gaps or duplicates, and that the recovered book equals a clean
// replay.
func TestCrashRecovery(t *testing.T) {
	cycles := 5
	if os.Getenv("RINGEX_SOAK") != "" {
		cycles = 50
	}
	for i, policy := range crashPolicies {
		t.Run(policy, func(t *testing.T) {
			crashCycles(t, policy, 0, cycles, uint64(42+i))
		})
	}
	// Epoch rotations, flushes and pruning many times a cycle, killed at
	// any point of them.
	t.Run("always,memtable=512KiB,prune", func(t *testing.T) {
		crashCycles(t, "always", 512<<10, cycles, 99)
	})
}

// crashMemtableEnv passes the child's memtable size (0: the default).
const crashMemtableEnv = "RINGEX_CRASH_MEMTABLE"

func crashCycles(t *testing.T, policy string, memtable uint64, cycles int, seed uint64) {
	dir := t.TempDir()
	log := &crashLog{acked: map[uint64]ackLine{}, newIDs: map[uint64]uint64{}, events: map[uint64]string{}}
	rng := rand.New(rand.NewPCG(seed, 42))
	for cycle := range cycles {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, crashSyncEnv+"="+policy,
			fmt.Sprintf("RINGEX_CRASH_EPOCH=%d", cycle+1), fmt.Sprintf("%s=%d", crashMemtableEnv, memtable))
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
			sc.Buffer(nil, 1<<20)
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
		log.cycleAck = 0
		var lineErr error
		for s := range lines {
			what, err := log.line(s)
			if err != nil && lineErr == nil {
				lineErr = err
				kill()
			}
			if what == "ready" {
				ready = true
				if timer == nil {
					timer = time.AfterFunc(killAfter, kill)
				}
			}
		}
		readDone.Wait()
		watchdog.Stop()
		if timer != nil {
			timer.Stop()
		}
		err = cmd.Wait()
		if lineErr != nil {
			t.Fatalf("cycle %d: %v", cycle, lineErr)
		}
		if !ready && !duringRecovery {
			t.Fatalf("cycle %d: child never became ready: %s", cycle, stderr.String())
		}
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("cycle %d: child ended by itself (%v, ready=%v): %s", cycle, err, ready, stderr.String())
		}
		t.Logf("cycle %d: killed (during recovery: %v), %d acks this cycle, %d acks and %d events so far",
			cycle, duringRecovery, log.cycleAck, len(log.acked), len(log.events))
	}
	verifyJournal(t, dir, log, memtable != 0)
}

// verifyJournal checks the journal against what the children acknowledged
// and published; pruned says the children pruned, so only what is after
// the first command (event) left is checked.
func verifyJournal(t *testing.T, dir string, log *crashLog, pruned bool) {
	store, err := journal.Open(journal.Options{Dir: dir, Sync: journal.SyncPolicy{Mode: journal.SyncOff}})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	// The child does not prune, so the journal must start at 1 and be dense.
	first, want := uint64(0), uint64(0)
	seen := map[uint64]engine.Command{}
	err = store.ReplayCommands(testAsset.ID, 0, func(c *engine.Command) error {
		if first == 0 {
			first, want = c.Seq, c.Seq
		}
		if c.Seq != want {
			t.Fatalf("journal: seq %d after %d: a gap or duplicate", c.Seq, want-1)
		}
		want++
		seen[c.Seq] = *c
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[uint64]bool{}
	orders := map[uint64]uint64{}
	for seq, c := range seen {
		if ids[c.ClientOrderID] {
			t.Fatalf("client order id %d journaled twice", c.ClientOrderID)
		}
		ids[c.ClientOrderID] = true
		if c.Kind == engine.CmdNew {
			if prev, dup := orders[c.OrderID]; dup {
				t.Fatalf("order id %#x journaled for the New orders at seqs %d and %d", c.OrderID, prev, seq)
			}
			orders[c.OrderID] = seq
		}
	}
	if len(log.acked) == 0 {
		t.Fatal("no order was acknowledged in any cycle: the test proved nothing")
	}
	lost := 0
	for seq, a := range log.acked {
		if pruned && seq < first {
			continue
		}
		c, ok := seen[seq]
		if !ok || c.ClientOrderID != a.clientID || c.OrderID != a.orderID || c.Kind != a.kind {
			if lost == 0 {
				t.Errorf("acknowledged seq %d (%+v) missing from the journal (found %v: %+v)", seq, a, ok, c)
			}
			lost++
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged requests missing from the journal", lost, len(log.acked))
	}

	t.Logf("journal holds commands %d-%d", first, want-1)
	if first != 1 && !pruned {
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
	if !pruned {
		clean, _ := replayAll(t, store)
		if !bytes.Equal(recovered, snapshotBytes(t, clean)) {
			t.Fatal("recovered book differs from a clean replay of the journal")
		}
	}
	// The event journal (rebuilt by recovery where it lacked events) is
	// dense and holds every event published live, unchanged.
	var last, firstEvent uint64
	journaled := map[uint64]string{}
	err = store.ScanEvents(testAsset.ID, 0, func(e *engine.Event) error {
		if last != 0 && e.Seq != last+1 {
			t.Fatalf("event journal: seq %d after %d", e.Seq, last)
		}
		if firstEvent == 0 {
			firstEvent = e.Seq
		}
		last = e.Seq
		journaled[e.Seq] = eventString(e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(log.events) == 0 {
		t.Fatal("no event was published in any cycle: the test proved nothing")
	}
	changed := 0
	for seq, live := range log.events {
		if pruned && seq < firstEvent {
			continue
		}
		if got := journaled[seq]; got != live {
			if changed == 0 {
				t.Errorf("event %d published live as %s, after the restart %q", seq, live, got)
			}
			changed++
		}
	}
	if changed > 0 {
		t.Fatalf("%d of %d events published live are missing or different after the restart", changed, len(log.events))
	}
}
