package ring

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// entry is the test payload. The producer writes the sequence and a
// checksum of it; a consumer that finds anything else saw a slot that was
// not yet written, or already overwritten.
type entry struct {
	seq   int64
	check int64
}

func checksum(seq int64) int64 { return seq*7919 + 13 }

var strategies = []WaitStrategy{BusySpin, Yield, Blocking}

// topology is a set of consumers; deps[i] lists the indexes of the
// consumers consumer i runs behind (always earlier ones).
type topology struct {
	name string
	deps [][]int
}

var topologies = []topology{
	{"single", [][]int{nil}},
	{"fanout", [][]int{nil, nil}},
	{"pipeline3", [][]int{nil, {0}, {1}}},
	{"diamond", [][]int{nil, {0}, {0}, {1, 2}}},
	// The pipeline's input ring: journal, then acker and matcher behind it.
	{"journal", [][]int{nil, {0}, {0}}},
}

// checker is a Handler that verifies what it is handed against an
// independent reference: the next sequence it expects, the slot contents
// and its dependencies' positions.
type checker struct {
	t     *testing.T
	name  string
	r     *Ring[entry]
	deps  []*Consumer
	next  int64
	delay func() // optional, called per batch
	// ahead, if set, is the highest sequence the stage ahead has finished
	// handling, as that stage's handler records it: a check of gating that
	// does not trust the sequence the stage stored.
	ahead   *atomic.Int64
	handled atomic.Int64 // the number of sequences handled, for other goroutines
	errs    atomic.Int32
	calls   int
}

func (h *checker) fail(format string, args ...any) {
	if h.errs.Add(1) <= 3 {
		h.t.Errorf("%s: "+format, append([]any{h.name}, args...)...)
	}
}

func (h *checker) Handle(lo, hi int64) {
	h.calls++
	if lo != h.next || hi < lo {
		h.fail("handed [%d, %d], want lo %d", lo, hi, h.next)
	}
	// Gating: every dependency has released the whole range.
	for _, d := range h.deps {
		if s := d.Sequence(); s < hi {
			h.fail("handed [%d, %d] while dependency %s is at %d", lo, hi, d.Name(), s)
		}
	}
	if h.ahead != nil {
		if s := h.ahead.Load(); s < hi {
			h.fail("handed [%d, %d] while the stage ahead has finished only %d", lo, hi, s)
		}
	}
	for s := lo; s <= hi; s++ {
		e := h.r.At(s)
		if e.seq != s || e.check != checksum(s) {
			h.fail("slot of %d holds seq %d check %d", s, e.seq, e.check)
		}
	}
	h.next = hi + 1
	h.handled.Add(hi - lo + 1)
	if h.delay != nil {
		h.delay()
	}
}

// harness builds a ring with a topology and runs its consumers.
type harness struct {
	r        *Ring[entry]
	cons     []*Consumer
	handlers []*checker
	wg       sync.WaitGroup
	runErrs  chan error
}

func newHarness(t *testing.T, cfg Config, topo topology) *harness {
	t.Helper()
	r, err := New[entry](cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{r: r, runErrs: make(chan error, len(topo.deps))}
	for i, deps := range topo.deps {
		var ds []*Consumer
		for _, d := range deps {
			ds = append(ds, h.cons[d])
		}
		name := fmt.Sprintf("c%d", i)
		h.cons = append(h.cons, r.NewConsumer(name, ds...))
		h.handlers = append(h.handlers, &checker{t: t, name: name, r: r, deps: ds})
	}
	r.Start()
	return h
}

func (h *harness) run() {
	for i, c := range h.cons {
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			if err := c.Run(h.handlers[i]); err != nil {
				h.runErrs <- err
			}
		}()
	}
}

// closeAndWait closes the ring and waits for the consumers, failing the
// test if they do not return within a generous bound.
func (h *harness) closeAndWait(t *testing.T) {
	t.Helper()
	h.r.Close()
	done := make(chan struct{})
	go func() { h.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("consumers did not return after Close")
	}
	close(h.runErrs)
	for err := range h.runErrs {
		t.Errorf("Run: %v", err)
	}
}

// produce publishes sequences from producers goroutines until total have
// been published, claiming random batches of up to maxBatch.
func produce(t *testing.T, r *Ring[entry], producers, total, maxBatch int, seed uint64) {
	t.Helper()
	var left atomic.Int64
	left.Store(int64(total))
	var wg sync.WaitGroup
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(p)))
			for {
				n := int64(1 + rng.IntN(maxBatch))
				// Take n from the budget, or what is left of it.
				rest := left.Add(-n)
				if rest < 0 {
					n += rest
				}
				if n <= 0 {
					return
				}
				hi, err := r.Claim(int(n))
				if err != nil {
					t.Errorf("Claim(%d): %v", n, err)
					return
				}
				lo := hi - n + 1
				for s := lo; s <= hi; s++ {
					*r.At(s) = entry{seq: s, check: checksum(s)}
				}
				r.Publish(lo, hi)
			}
		}()
	}
	wg.Wait()
}

// verifyAll checks that every consumer handled exactly sequences 0..total-1.
func (h *harness) verifyAll(t *testing.T, total int) {
	t.Helper()
	for i, c := range h.cons {
		if got := h.handlers[i].next; got != int64(total) {
			t.Errorf("%s handled up to %d, want %d", c.Name(), got-1, total-1)
		}
		if got := c.Sequence(); got != int64(total-1) {
			t.Errorf("%s.Sequence() = %d, want %d", c.Name(), got, total-1)
		}
	}
}

func TestTopologies(t *testing.T) {
	total := 20000
	if testing.Short() {
		total = 5000
	}
	for _, multi := range []bool{false, true} {
		for _, w := range strategies {
			for _, topo := range topologies {
				producers := 1
				if multi {
					producers = 3
				}
				name := fmt.Sprintf("%s/%s/producers=%d", topo.name, w, producers)
				t.Run(name, func(t *testing.T) {
					h := newHarness(t, Config{Size: 64, Wait: w, MultiProducer: multi}, topo)
					h.run()
					produce(t, h.r, producers, total, 8, 1)
					h.closeAndWait(t)
					h.verifyAll(t, total)
				})
			}
		}
	}
}

// TestWrapAround laps a ring of 8 entries thousands of times.
func TestWrapAround(t *testing.T) {
	total := 40000 // 5000 laps
	if testing.Short() {
		total = 8000
	}
	for _, multi := range []bool{false, true} {
		for _, w := range strategies {
			t.Run(fmt.Sprintf("multi=%v/%s", multi, w), func(t *testing.T) {
				h := newHarness(t, Config{Size: 8, Wait: w, MultiProducer: multi}, topologies[3])
				h.run()
				producers := 1
				if multi {
					producers = 4
				}
				produce(t, h.r, producers, total, 8, 2)
				h.closeAndWait(t)
				h.verifyAll(t, total)
				if h.r.Occupancy() != 0 {
					t.Errorf("Occupancy = %d after drain, want 0", h.r.Occupancy())
				}
			})
		}
	}
}

// TestStress runs random topologies, batch sizes and consumer delays with
// every strategy, for a bounded time per case.
func TestStress(t *testing.T) {
	budget := 150 * time.Millisecond
	cases := 12
	if os.Getenv("RINGEX_SOAK") != "" {
		budget, cases = 2*time.Second, 60
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	for i := range cases {
		seed := rng.Uint64()
		w := strategies[i%len(strategies)]
		multi := i%2 == 1
		topo := topologies[rng.IntN(len(topologies))]
		size := 1 << (1 + rng.IntN(7)) // 2..128
		t.Run(fmt.Sprintf("%d/%s/%s/multi=%v/size=%d/seed=%d", i, topo.name, w, multi, size, seed), func(t *testing.T) {
			h := newHarness(t, Config{Size: size, Wait: w, MultiProducer: multi}, topo)
			crng := rand.New(rand.NewPCG(seed, 99))
			for _, hd := range h.handlers {
				// Each consumer sleeps now and then, with its own odds.
				odds := 1 + crng.IntN(50)
				hrng := rand.New(rand.NewPCG(seed, uint64(odds)))
				hd.delay = func() {
					if hrng.IntN(odds) == 0 {
						time.Sleep(time.Duration(hrng.IntN(200)) * time.Microsecond)
					}
				}
			}
			h.run()
			producers := 1
			if multi {
				producers = 1 + crng.IntN(4)
			}
			// Produce in rounds until the time budget is spent.
			total := 0
			deadline := time.Now().Add(budget)
			for round := 0; time.Now().Before(deadline); round++ {
				n := 1 + crng.IntN(2000)
				produce(t, h.r, producers, n, 1+crng.IntN(size), seed+uint64(round))
				total += n
			}
			h.closeAndWait(t)
			h.verifyAll(t, total)
		})
	}
}

// blockingHandler holds up its consumer until release is closed.
type blockingHandler struct {
	release chan struct{}
	handled atomic.Int64
}

func (h *blockingHandler) Handle(lo, hi int64) {
	<-h.release
	h.handled.Add(hi - lo + 1)
}

func waitGoroutines(t *testing.T, baseline int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > baseline {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("goroutine leak: %d goroutines, baseline %d\n%s",
				runtime.NumGoroutine(), baseline, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestCloseUnblocksProducers fills a ring whose consumer is stuck, blocks
// producers in Claim, and closes: they must get ErrClosed, the consumer
// must drain what was published, and no goroutine may be left behind.
func TestCloseUnblocksProducers(t *testing.T) {
	for _, multi := range []bool{false, true} {
		for _, w := range strategies {
			t.Run(fmt.Sprintf("multi=%v/%s", multi, w), func(t *testing.T) {
				baseline := runtime.NumGoroutine()
				r, err := New[entry](Config{Size: 4, Wait: w, MultiProducer: multi})
				if err != nil {
					t.Fatal(err)
				}
				bh := &blockingHandler{release: make(chan struct{})}
				c := r.NewConsumer("stuck")
				r.Start()
				runDone := make(chan error)
				go func() { runDone <- c.Run(bh) }()

				hi, err := r.Claim(4)
				if err != nil || hi != 3 {
					t.Fatalf("Claim(4) = %d, %v", hi, err)
				}
				r.Publish(0, 3)
				producers := 1
				if multi {
					producers = 3
				}
				errs := make(chan error, producers)
				for range producers {
					go func() {
						_, err := r.Claim(1)
						errs <- err
					}()
				}
				waitClaimsBlocked(t, producers)
				select {
				case err := <-errs:
					t.Fatalf("Claim on a full ring returned %v before Close", err)
				default:
				}
				r.Close()
				for range producers {
					select {
					case err := <-errs:
						if !errors.Is(err, ErrClosed) {
							t.Errorf("blocked Claim returned %v, want ErrClosed", err)
						}
					case <-time.After(5 * time.Second):
						t.Fatal("producer still blocked after Close")
					}
				}
				if _, err := r.Claim(1); !errors.Is(err, ErrClosed) {
					t.Errorf("Claim after Close = %v, want ErrClosed", err)
				}
				if _, err := r.TryClaim(1); !errors.Is(err, ErrClosed) {
					t.Errorf("TryClaim after Close = %v, want ErrClosed", err)
				}
				close(bh.release)
				select {
				case err := <-runDone:
					if err != nil {
						t.Errorf("Run: %v", err)
					}
				case <-time.After(5 * time.Second):
					t.Fatal("consumer did not return after Close")
				}
				if got := bh.handled.Load(); got != 4 {
					t.Errorf("consumer handled %d entries, want the 4 published", got)
				}
				waitGoroutines(t, baseline)
			})
		}
	}
}

// TestCloseRacesProducers closes a multi-producer ring while producers claim
// as fast as they can: every claim that succeeded is published and must be
// drained by every consumer, and nothing else.
func TestCloseRacesProducers(t *testing.T) {
	for _, w := range strategies {
		t.Run(w.String(), func(t *testing.T) {
			h := newHarness(t, Config{Size: 16, Wait: w, MultiProducer: true}, topologies[4])
			h.run()
			var published atomic.Int64
			var wg sync.WaitGroup
			for range 3 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						hi, err := h.r.Claim(2)
						if err != nil {
							if !errors.Is(err, ErrClosed) {
								t.Errorf("Claim: %v", err)
							}
							return
						}
						for s := hi - 1; s <= hi; s++ {
							*h.r.At(s) = entry{seq: s, check: checksum(s)}
						}
						runtime.Gosched() // widen the claim-to-publish window
						h.r.Publish(hi-1, hi)
						published.Add(2)
					}
				}()
			}
			time.Sleep(20 * time.Millisecond)
			h.closeAndWait(t)
			wg.Wait()
			h.verifyAll(t, int(published.Load()))
		})
	}
}

func TestClaimTimeoutAndTryClaim(t *testing.T) {
	for _, multi := range []bool{false, true} {
		for _, w := range strategies {
			t.Run(fmt.Sprintf("multi=%v/%s", multi, w), func(t *testing.T) {
				r, err := New[entry](Config{Size: 4, Wait: w, MultiProducer: multi})
				if err != nil {
					t.Fatal(err)
				}
				bh := &blockingHandler{release: make(chan struct{})}
				c := r.NewConsumer("stuck")
				r.Start()
				runDone := make(chan error)
				go func() { runDone <- c.Run(bh) }()

				if hi, err := r.TryClaim(3); err != nil || hi != 2 {
					t.Fatalf("TryClaim(3) = %d, %v", hi, err)
				}
				if hi, err := r.ClaimTimeout(1, time.Millisecond); err != nil || hi != 3 {
					t.Fatalf("ClaimTimeout(1) = %d, %v", hi, err)
				}
				r.Publish(0, 2)
				r.Publish(3, 3)
				if _, err := r.TryClaim(1); !errors.Is(err, ErrFull) {
					t.Errorf("TryClaim on a full ring = %v, want ErrFull", err)
				}
				const d = 25 * time.Millisecond
				start := time.Now()
				_, err = r.ClaimTimeout(1, d)
				if el := time.Since(start); !errors.Is(err, ErrFull) || el < d || el > d+2*time.Second {
					t.Errorf("ClaimTimeout(1, %v) on a full ring = %v after %v, want ErrFull after %v", d, err, el, d)
				}
				if got := r.Occupancy(); got != 4 {
					t.Errorf("Occupancy = %d, want 4", got)
				}
				// Once the consumer moves, a timed claim succeeds.
				close(bh.release)
				if hi, err := r.ClaimTimeout(2, 5*time.Second); err != nil || hi != 5 {
					t.Errorf("ClaimTimeout after release = %d, %v, want 5", hi, err)
				}
				r.Publish(4, 5)
				r.Close()
				if err := <-runDone; err != nil {
					t.Error(err)
				}
				if got := bh.handled.Load(); got != 6 {
					t.Errorf("handled %d, want 6", got)
				}
			})
		}
	}
}

func TestClaimSize(t *testing.T) {
	r, _ := New[entry](Config{Size: 8})
	r.NewConsumer("c")
	r.Start()
	for _, n := range []int{0, -1, 9} {
		if _, err := r.Claim(n); err == nil {
			t.Errorf("Claim(%d) on a ring of 8 succeeded", n)
		}
	}
}

func TestNewErrors(t *testing.T) {
	for _, cfg := range []Config{{Size: 0}, {Size: -8}, {Size: 12}, {Size: 8, Wait: 9}} {
		if _, err := New[entry](cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}

func TestParseWaitStrategy(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want WaitStrategy
		ok   bool
	}{
		{"spin", BusySpin, true},
		{"yield", Yield, true},
		{"block", Blocking, true},
		{"", 0, false},
		{"blocking", 0, false},
	} {
		got, err := ParseWaitStrategy(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("ParseWaitStrategy(%q) = %v, %v", tc.in, got, err)
		}
		if tc.ok && got.String() != tc.in {
			t.Errorf("%v.String() = %q, want %q", got, got.String(), tc.in)
		}
	}
}

func TestPublishOutOfOrderPanics(t *testing.T) {
	r, _ := New[entry](Config{Size: 8})
	r.NewConsumer("c")
	r.Start()
	r.Claim(2)
	defer func() {
		if recover() == nil {
			t.Error("publishing sequence 1 before 0 did not panic")
		}
	}()
	r.Publish(1, 1)
}

func TestPinCPU(t *testing.T) {
	for _, cpu := range []int{-1 - 1, 1 << 20, maxCPUs - 1} {
		if cpu == maxCPUs-1 && runtime.NumCPU() >= maxCPUs {
			continue
		}
		r, _ := New[entry](Config{Size: 8, Wait: Blocking})
		first := r.NewConsumer("pinned")
		second := r.NewConsumer("behind", first)
		first.PinCPU(cpu)
		r.Start()
		errs := make(chan error, 2)
		go func() { errs <- first.Run(&checker{t: t, r: r}) }()
		go func() { errs <- second.Run(&checker{t: t, r: r}) }()
		if err := <-errs; err == nil {
			t.Errorf("Run pinned to CPU %d succeeded", cpu)
		}
		// The consumer behind the failed one returns once the ring is
		// closed, with an error (it could not handle what was published),
		// instead of hanging.
		hi, _ := r.Claim(1)
		*r.At(hi) = entry{seq: hi, check: checksum(hi)}
		r.Publish(hi, hi)
		r.Close()
		select {
		case err := <-errs:
			if err == nil {
				t.Errorf("Run behind a failed consumer returned nil")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("consumer behind a failed consumer hangs after Close")
		}
	}

	// CPU 0 exists everywhere.
	done := make(chan error)
	go func() { done <- PinThread(0) }() // the goroutine exits locked: its thread is retired
	if err := <-done; err != nil {
		t.Errorf("PinThread(0): %v", err)
	}
}

// TestPinnedConsumerRuns runs a consumer pinned to an existing CPU.
func TestPinnedConsumerRuns(t *testing.T) {
	h := newHarness(t, Config{Size: 16, Wait: Blocking}, topologies[0])
	h.cons[0].PinCPU(runtime.NumCPU() - 1)
	h.run()
	produce(t, h.r, 1, 1000, 4, 3)
	h.closeAndWait(t)
	h.verifyAll(t, 1000)
}

type nopHandler struct{}

func (nopHandler) Handle(lo, hi int64) {}

// TestBlockingIdleCPU starts 100 idle rings with two consumers each and
// checks that every Blocking consumer parks (idleRingsCPU waits for each
// to be counted as a waiter on the sequence it waits for): a parked
// goroutine uses no CPU. A spinning implementation would never park. The
// CPU share itself, which depends on what else the machine runs, is
// asserted only under RINGEX_SOAK (with the Yield control case, which shows
// that the measurement sees spinning); otherwise it is logged.
func TestBlockingIdleCPU(t *testing.T) {
	soak := os.Getenv("RINGEX_SOAK") != ""
	if share := idleRingsCPU(t, 100, Blocking, 300*time.Millisecond); soak && share > 0.15 {
		t.Errorf("100 idle Blocking rings used %.0f%% of a core, want < 15%%", 100*share)
	}
	if !soak {
		return
	}
	// Spinning consumers take whatever CPU the machine gives them (other
	// processes may take some): even a loaded machine gives them more
	// than 5%.
	if share := idleRingsCPU(t, 2, Yield, 100*time.Millisecond); share < 0.05 {
		t.Errorf("control: 2 idle Yield rings used only %.0f%% of a core: the CPU measurement is broken", 100*share)
	}
}

// idleRingsCPU starts n idle rings of two consumers with strategy w and
// returns the process CPU time over window as a share of one core.
func idleRingsCPU(t *testing.T, n int, w WaitStrategy, window time.Duration) float64 {
	var rings []*Ring[entry]
	var firsts []*Consumer
	var wg sync.WaitGroup
	for range n {
		r, err := New[entry](Config{Size: 64, Wait: w})
		if err != nil {
			t.Fatal(err)
		}
		a := r.NewConsumer("journal")
		b := r.NewConsumer("matcher", a)
		r.Start()
		rings = append(rings, r)
		firsts = append(firsts, a)
		for _, c := range []*Consumer{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := c.Run(nopHandler{}); err != nil {
					t.Error(err)
				}
			}()
		}
	}
	// Publish one message into each, so consumers have woken once, then
	// let them settle into parking.
	for _, r := range rings {
		hi, _ := r.Claim(1)
		r.Publish(hi, hi)
	}
	if w == Blocking {
		// Each ring's first consumer parks on its cursor, the second on
		// the first consumer's sequence.
		parked := func() bool {
			for i, r := range rings {
				if r.core.cursor.waiters.Load() < 1 || firsts[i].seq.waiters.Load() < 1 {
					return false
				}
			}
			return true
		}
		for deadline := time.Now().Add(10 * time.Second); !parked(); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("idle Blocking consumers did not all park")
			}
		}
	} else {
		time.Sleep(50 * time.Millisecond) // let them settle into their spin
	}

	before, start := cpuTime(t), time.Now()
	time.Sleep(window)
	used, elapsed := cpuTime(t)-before, time.Since(start)
	share := float64(used) / float64(elapsed)
	t.Logf("%d idle %s rings x 2 consumers: %v CPU over %v (%.1f%% of one core)",
		n, w, used, elapsed.Round(time.Millisecond), 100*share)
	for _, r := range rings {
		r.Close()
	}
	wg.Wait()
	return share
}

func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestCursorOccupancy(t *testing.T) {
	r, _ := New[entry](Config{Size: 8})
	c := r.NewConsumer("c")
	if r.Occupancy() != 0 || r.Cursor() != -1 || r.Size() != 8 {
		t.Fatalf("fresh ring: Occupancy %d Cursor %d Size %d", r.Occupancy(), r.Cursor(), r.Size())
	}
	r.Start()
	hi, _ := r.Claim(5)
	r.Publish(0, hi)
	if r.Cursor() != 4 || r.Occupancy() != 5 || c.Sequence() != -1 {
		t.Errorf("after 5: Cursor %d Occupancy %d Sequence %d", r.Cursor(), r.Occupancy(), c.Sequence())
	}
}

// waitClaimsBlocked waits until n goroutines are inside a Claim waiting for
// space (their stacks are in waitForSpace): the real condition a test of
// "Close unblocks producers" needs, whatever the wait strategy.
func waitClaimsBlocked(t *testing.T, n int) {
	t.Helper()
	buf := make([]byte, 1<<20)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		stacks := string(buf[:runtime.Stack(buf, true)])
		if strings.Count(stacks, "ring.(*core).waitForSpace") >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d producers did not block in Claim", n)
		}
	}
}
