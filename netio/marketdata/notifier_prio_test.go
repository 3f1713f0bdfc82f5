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
	"github.com/ringex/ringex/ring"
)

// threads returns this process's threads, by id, whose
// /proc/self/task/TID/FILE has passes. A thread that ends while it is
// read is left out.
func threads(t *testing.T, file string, has func(content string) bool) map[string]bool {
	t.Helper()
	paths, err := filepath.Glob("/proc/self/task/*/" + file)
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil && has(string(b)) {
			found[filepath.Base(filepath.Dir(p))] = true
		}
	}
	return found
}

// atNice is whether a thread's stat says nice value n (field 19). The
// command name, field 2, is in parentheses and may hold spaces: the fields
// are counted from the last ')', which ends it; field 3 (the state) is the
// first after it.
func atNice(t *testing.T, n int) func(string) bool {
	return func(stat string) bool {
		fields := strings.Fields(stat[strings.LastIndexByte(stat, ')')+1:])
		if len(fields) < 17 {
			t.Fatalf("a thread's stat: %q", stat)
		}
		v, err := strconv.Atoi(fields[19-3])
		return err == nil && v == n
	}
}

// boundTo is whether a thread's status says it may run on list only.
func boundTo(list string) func(string) bool {
	return func(status string) bool {
		_, v, _ := strings.Cut(status, "Cpus_allowed_list:")
		v, _, _ = strings.Cut(v, "\n")
		return strings.TrimSpace(v) == list
	}
}

// checkLoopThreads starts a notifier with cfg (Loops 2), drains each of
// its event loops and checks that exactly its two loops' threads, and no
// other, have gained what the file says (has), and that once the notifier
// has stopped no thread keeps it: the loops' goroutines exit locked and the
// runtime ends their threads, so none goes back to run other goroutines
// so lowered or bound. Threads that had it before are not counted, nor,
// after the stop, the main thread: a locked goroutine that exits on the
// process's first thread wedges it for good (the runtime cannot end it). It returns the
// stopped notifier's harness.
func checkLoopThreads(t *testing.T, cfg NotifierConfig, what, file string, has func(string) bool) *feedHarness {
	t.Helper()
	cfg.Loops = 2
	before := threads(t, file, has)
	gained := func() map[string]bool {
		now := threads(t, file, has)
		for tid := range before {
			delete(now, tid)
		}
		return now
	}
	h := startFeed(t, "", cfg)
	// A subscriber on each loop (least connections puts the second on
	// the other), and trades for both to drain.
	var feeds []*testFeed
	for range cfg.Loops {
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
	if n := len(gained()); n != cfg.Loops {
		t.Errorf("%d threads %s with %d event loops draining, want %d", n, what, cfg.Loops, cfg.Loops)
	}
	h.stop()
	// The loops' goroutines have returned (Serve did); the runtime ends
	// their locked threads as they exit, which the kernel shows shortly.
	// The main thread may be the one a loop wedged (see above).
	main := strconv.Itoa(os.Getpid())
	deadline := time.Now().Add(5 * time.Second)
	for left := gained(); len(left) != 0 && !(len(left) == 1 && left[main]); left = gained() {
		if time.Now().After(deadline) {
			t.Fatalf("threads %v still %s after the notifier stopped", left, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return h
}

// With LoopNice each event loop runs on a thread of that nice value, and
// only the loops, which end with them.
func TestNotifierLoopNice(t *testing.T) {
	const nice = 7
	checkLoopThreads(t, NotifierConfig{LoopNice: nice}, "at nice 7", "stat", atNice(t, nice))
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

// With LoopCPUs each event loop runs on a thread bound to those CPUs, and
// only the loops, which end with them; loops bound but not lowered never
// yield their P.
func TestNotifierLoopCPUs(t *testing.T) {
	cpus, err := ring.ProcessCPUs()
	if err != nil {
		t.Fatal(err)
	}
	if len(cpus) < 2 {
		t.Skip("one CPU: a loop bound to it is not told apart from the others")
	}
	cpu := cpus[len(cpus)-1]
	list := strconv.Itoa(cpu)
	h := checkLoopThreads(t, NotifierConfig{LoopCPUs: []int{cpu}}, "bound to CPU "+list, "status", boundTo(list))
	if n := h.n.yields.Load(); n != 0 {
		t.Errorf("loops bound to CPUs but not lowered yielded %d times", n)
	}
}
