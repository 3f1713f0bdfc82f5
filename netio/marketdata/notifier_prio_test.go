//go:build linux

package marketdata

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ringex/ringex/netio/internal/nettest"
	"golang.org/x/sys/unix"
)

// threadsAtNice returns this process's threads whose nice value is n
// (/proc/self/task/TID/stat, field 19), by thread id.
func threadsAtNice(t *testing.T, n int) map[string]bool {
	t.Helper()
	stats, err := filepath.Glob("/proc/self/task/*/stat")
	if err != nil {
		t.Fatal(err)
	}
	at := map[string]bool{}
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // the thread ended meanwhile
		}
		// The command name, field 2, is in parentheses and may hold
		// spaces: the fields are counted from the last ')', which ends
		// it; field 3 (the state) is the first after it.
		s := string(b)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) < 17 {
			t.Fatalf("%s: %q", p, s)
		}
		if v, err := strconv.Atoi(fields[19-3]); err == nil && v == n {
			at[filepath.Base(filepath.Dir(p))] = true
		}
	}
	return at
}

// newThreadsAtNice is threadsAtNice but for the threads in before and the
// main thread: a locked goroutine that exits on the main thread wedges it
// for good instead of ending it (the runtime cannot end the process's
// first thread), so it keeps its nice value but never runs a goroutine
// again.
func newThreadsAtNice(t *testing.T, n int, before map[string]bool) []string {
	var out []string
	main := strconv.Itoa(os.Getpid())
	for tid := range threadsAtNice(t, n) {
		if !before[tid] && tid != main {
			out = append(out, tid)
		}
	}
	return out
}

// With LoopNice each event loop runs on a thread of that nice value, and
// only the loops: once they have drained, exactly Loops threads have it,
// and when the notifier stops they end with their loops (none goes back
// to the runtime to run other goroutines at the lower priority).
func TestNotifierLoopNice(t *testing.T) {
	const nice, loops = 7, 2
	before := threadsAtNice(t, nice) // a wedged main thread (see above)
	h := startFeed(t, "", NotifierConfig{Loops: loops, LoopNice: nice})
	// A subscriber on each loop (least connections puts the second on
	// the other), and trades for both to drain.
	var feeds []*testFeed
	for range loops {
		f := dialTestFeed(t, h.addr)
		defer f.close()
		if err := f.subscribe(feedSpec.Config.Symbol, chTrades); err != nil {
			t.Fatal(err)
		}
		if _, err := f.waitFor(mAck); err != nil {
			t.Fatal(err)
		}
		feeds = append(feeds, f)
	}
	newTrader(1, h.asset, nettest.Alice.ID, nettest.Bob.ID).submit(t, 200)
	for i, f := range feeds {
		f.c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := f.waitFor(mTrade); err != nil {
			t.Fatalf("subscriber %d: %v", i, err)
		}
	}
	running := threadsAtNice(t, nice)
	for tid := range before {
		delete(running, tid)
	}
	if len(running) != loops {
		t.Errorf("%d threads at nice %d with %d event loops draining, want %d", len(running), nice, loops, loops)
	}
	h.stop()
	// The loops' goroutines have returned (Serve did); the runtime ends
	// their locked threads as they exit, which the kernel shows shortly.
	deadline := time.Now().Add(5 * time.Second)
	for left := newThreadsAtNice(t, nice, before); len(left) != 0; left = newThreadsAtNice(t, nice, before) {
		if time.Now().After(deadline) {
			t.Fatalf("threads %v still at nice %d after the notifier stopped", left, nice)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A lowered loop yields its P in a long pass: one drain that writes to
// more than yieldEvery connections yields at least once; a loop that is
// not lowered never does.
func TestNotifierLoopNiceYields(t *testing.T) {
	for _, nice := range []int{0, 7} {
		h := startFeed(t, "", NotifierConfig{Loops: 1, LoopNice: nice})
		feeds := make([]*testFeed, yieldEvery+20)
		for i := range feeds {
			f := dialTestFeed(t, h.addr)
			defer f.close()
			if err := f.subscribe(feedSpec.Config.Symbol, chTrades); err != nil {
				t.Fatal(err)
			}
			feeds[i] = f
		}
		for _, f := range feeds {
			f.c.SetReadDeadline(time.Now().Add(20 * time.Second))
			if _, err := f.waitFor(mAck); err != nil {
				t.Fatal(err)
			}
		}
		newTrader(1, h.asset, nettest.Alice.ID, nettest.Bob.ID).submit(t, 50)
		for i, f := range feeds {
			if _, err := f.waitFor(mTrade); err != nil {
				t.Fatalf("nice %d: subscriber %d: %v", nice, i, err)
			}
		}
		got := h.n.yields.Load()
		if nice == 0 && got != 0 {
			t.Errorf("a loop at the process's priority yielded %d times", got)
		}
		if nice > 0 && got == 0 {
			t.Errorf("a lowered loop wrote to %d connections per drain and never yielded", len(feeds))
		}
		h.stop()
	}
}

// threadsAllowed returns this process's threads whose CPU affinity list
// (/proc/self/task/TID/status, Cpus_allowed_list) is list, by thread id.
func threadsAllowed(t *testing.T, list string) map[string]bool {
	t.Helper()
	stats, err := filepath.Glob("/proc/self/task/*/status")
	if err != nil {
		t.Fatal(err)
	}
	at := map[string]bool{}
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // the thread ended meanwhile
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok && strings.TrimSpace(v) == list {
				at[filepath.Base(filepath.Dir(p))] = true
			}
		}
	}
	return at
}

// With LoopCPUs each event loop runs on a thread bound to those CPUs, and
// only the loops: exactly Loops new threads are bound there while they
// drain, none once the notifier has stopped (the threads end with their
// loops instead of running other goroutines on the fan-out's CPUs).
func TestNotifierLoopCPUs(t *testing.T) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		t.Fatal(err)
	}
	if set.Count() < 2 {
		t.Skip("one CPU: a loop bound to it is not told apart from the others")
	}
	cpu := -1
	for i := 0; i < 1024; i++ {
		if set.IsSet(i) {
			cpu = i // the last
		}
	}
	list := strconv.Itoa(cpu)
	const loops = 2
	before := threadsAllowed(t, list)
	h := startFeed(t, "", NotifierConfig{Loops: loops, LoopCPUs: []int{cpu}})
	var feeds []*testFeed
	for range loops {
		f := dialTestFeed(t, h.addr)
		defer f.close()
		if err := f.subscribe(feedSpec.Config.Symbol, chTrades); err != nil {
			t.Fatal(err)
		}
		if _, err := f.waitFor(mAck); err != nil {
			t.Fatal(err)
		}
		feeds = append(feeds, f)
	}
	newTrader(1, h.asset, nettest.Alice.ID, nettest.Bob.ID).submit(t, 200)
	for i, f := range feeds {
		f.c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := f.waitFor(mTrade); err != nil {
			t.Fatalf("subscriber %d: %v", i, err)
		}
	}
	bound := threadsAllowed(t, list)
	for tid := range before {
		delete(bound, tid)
	}
	if len(bound) != loops {
		t.Errorf("%d threads bound to CPU %s with %d event loops draining, want %d", len(bound), list, loops, loops)
	}
	if h.n.yields.Load() != 0 {
		t.Errorf("loops bound to CPUs but not lowered yielded %d times", h.n.yields.Load())
	}
	h.stop()
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := threadsAllowed(t, list)
		for tid := range before {
			delete(left, tid)
		}
		delete(left, strconv.Itoa(os.Getpid())) // see newThreadsAtNice
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("threads %v still bound to CPU %s after the notifier stopped", left, list)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
