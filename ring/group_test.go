package ring

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
)

// groupChecker is a GroupHandler that verifies each pass against an
// independent reference, like checker does for a Consumer: ranges in member
// order, each starting where the member's last one ended, within the ring's
// size, behind the member's upstream, over slots holding what the producers
// wrote (before and after the handler yields, so that a producer
// overwriting a slot the pass still holds is caught).
type groupChecker struct {
	t        *testing.T
	rings    []*Ring[entry]
	upstream []*Consumer // per member: a consumer it runs behind, or nil
	next     []int64
	// finished[m] is the highest sequence of member m whose pass has
	// returned (stored last thing in HandleGroup): the stages behind m
	// check it.
	finished []atomic.Int64
	passes   int
	multi    int // passes with more than one range
	errs     atomic.Int32
}

func newGroupChecker(t *testing.T, rings []*Ring[entry], upstream []*Consumer) *groupChecker {
	h := &groupChecker{t: t, rings: rings, upstream: upstream,
		next: make([]int64, len(rings)), finished: make([]atomic.Int64, len(rings))}
	for i := range h.finished {
		h.finished[i].Store(-1)
	}
	return h
}

func (h *groupChecker) fail(format string, args ...any) {
	if h.errs.Add(1) <= 3 {
		h.t.Errorf("group: "+format, args...)
	}
}

func (h *groupChecker) HandleGroup(rs []Range) {
	h.passes++
	if len(rs) == 0 {
		h.fail("pass %d with no ranges", h.passes)
	}
	if len(rs) > 1 {
		h.multi++
	}
	for i, r := range rs {
		if r.Member < 0 || r.Member >= len(h.rings) || (i > 0 && r.Member <= rs[i-1].Member) {
			h.fail("pass %d: ranges %v not one per member in member order", h.passes, rs)
			return
		}
		if r.Lo != h.next[r.Member] || r.Hi < r.Lo || r.Hi-r.Lo >= int64(h.rings[r.Member].Size()) {
			h.fail("pass %d: member %d handed [%d, %d], want lo %d, at most %d", h.passes,
				r.Member, r.Lo, r.Hi, h.next[r.Member], h.rings[r.Member].Size())
		}
		if up := h.upstream[r.Member]; up != nil && up.Sequence() < r.Hi {
			h.fail("member %d handed [%d, %d] while its upstream is at %d", r.Member, r.Lo, r.Hi, up.Sequence())
		}
		h.verify(r)
		h.next[r.Member] = r.Hi + 1
	}
	if h.passes%8 == 0 {
		runtime.Gosched() // let producers and dependents run while the pass holds its ranges
		for _, r := range rs {
			h.verify(r)
		}
	}
	for _, r := range rs {
		h.finished[r.Member].Store(r.Hi)
	}
}

func (h *groupChecker) verify(r Range) {
	for s := r.Lo; s <= r.Hi; s++ {
		if e := h.rings[r.Member].At(s); e.seq != s || e.check != checksum(s) {
			h.fail("member %d: slot of %d holds seq %d check %d", r.Member, s, e.seq, e.check)
			return
		}
	}
}

// groupFixture is three rings read by one group, with a dependent consumer
// behind each member:
//
//	ring 0, single producer:  producer -> member 0 -> dependent 0
//	ring 1, multi-producer:   producers -> member 1 -> dependent 1
//	ring 2, multi-producer:   producers -> pre -> member 2 -> dependent 2
//
// so that the group waits on a cursor of each kind and on a dependency.
type groupFixture struct {
	rings   []*Ring[entry]
	members []*Consumer
	pre     *Consumer
	deps    []*Consumer
	g       *Group
	gh      *groupChecker
	dh      []*checker
	preH    *checker

	wg      sync.WaitGroup
	groupRe chan error // the group's Run result
	runErrs chan error // the other consumers' errors
}

func newGroupFixture(t *testing.T, w WaitStrategy, sizes [3]int) *groupFixture {
	t.Helper()
	f := &groupFixture{groupRe: make(chan error, 1), runErrs: make(chan error, 4)}
	for i, size := range sizes {
		r, err := New[entry](Config{Size: size, Wait: w, MultiProducer: i > 0})
		if err != nil {
			t.Fatal(err)
		}
		f.rings = append(f.rings, r)
	}
	f.pre = f.rings[2].NewConsumer("pre")
	f.preH = &checker{t: t, name: "pre", r: f.rings[2]}
	upstream := []*Consumer{nil, nil, f.pre}
	for i, r := range f.rings {
		var ds []*Consumer
		if upstream[i] != nil {
			ds = append(ds, upstream[i])
		}
		f.members = append(f.members, r.NewConsumer(fmt.Sprintf("member%d", i), ds...))
	}
	g, err := NewGroup("journal", f.members...)
	if err != nil {
		t.Fatal(err)
	}
	f.g = g
	f.gh = newGroupChecker(t, f.rings, upstream)
	for i, r := range f.rings {
		name := fmt.Sprintf("dependent%d", i)
		f.deps = append(f.deps, r.NewConsumer(name, f.members[i]))
		f.dh = append(f.dh, &checker{t: t, name: name, r: r, deps: f.members[i : i+1], ahead: &f.gh.finished[i]})
	}
	for _, r := range f.rings {
		r.Start()
	}
	return f
}

func (f *groupFixture) run() {
	go func() { f.groupRe <- f.g.Run(f.gh) }()
	cons := append([]*Consumer{f.pre}, f.deps...)
	hs := append([]*checker{f.preH}, f.dh...)
	for i, c := range cons {
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			if err := c.Run(hs[i]); err != nil {
				f.runErrs <- err
			}
		}()
	}
}

// groupResult waits for the group's Run to return, failing the test after
// a generous bound.
func (f *groupFixture) groupResult(t *testing.T) error {
	t.Helper()
	select {
	case err := <-f.groupRe:
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("group did not return after Close")
		return nil
	}
}

// closeAndWait closes every ring and waits for everything to return.
func (f *groupFixture) closeAndWait(t *testing.T) {
	t.Helper()
	for _, r := range f.rings {
		r.Close()
	}
	if err := f.groupResult(t); err != nil {
		t.Errorf("group Run: %v", err)
	}
	waitGroupBounded(t, &f.wg, "consumers did not return after Close")
	close(f.runErrs)
	for err := range f.runErrs {
		t.Errorf("Run: %v", err)
	}
}

func waitGroupBounded(t *testing.T, wg *sync.WaitGroup, msg string) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal(msg)
	}
}

// waitParked waits until g is parked on its doorbell (Blocking).
func waitParked(t *testing.T, g *Group) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); g.bell.waiters.Load() == 0; time.Sleep(100 * time.Microsecond) {
		if time.Now().After(deadline) {
			t.Fatal("group did not park")
		}
	}
}

// TestGroup runs three rings with several producers each through one group
// and a consumer behind each member, with every wait strategy. Each ring is
// closed as soon as its producers are done, so the group goes on with the
// others after a member's ring is drained. The checkers verify order, every
// item exactly once, slot contents (producers never overwrite what the
// pass holds) and gating (a dependent never sees what the group's pass has
// not finished).
func TestGroup(t *testing.T) {
	totals := [3]int{10000, 20000, 30000}
	if testing.Short() {
		totals = [3]int{1000, 2000, 3000}
	}
	for _, w := range strategies {
		t.Run(w.String(), func(t *testing.T) {
			f := newGroupFixture(t, w, [3]int{8, 16, 32})
			f.run()
			var producers sync.WaitGroup
			for i, r := range f.rings {
				producers.Add(1)
				go func() {
					defer producers.Done()
					produce(t, r, 1+i, totals[i], 1<<i+2, uint64(10+i))
					r.Close()
				}()
			}
			prodDone := make(chan struct{})
			go func() { producers.Wait(); close(prodDone) }()
			select {
			case <-prodDone:
			case err := <-f.groupRe:
				f.groupRe <- err // for closeAndWait
				open := 0
				for _, r := range f.rings {
					if !r.closed.Load() {
						open++
					}
				}
				if open > 0 {
					// Unblock the producers gated on the group, then fail.
					for _, r := range f.rings {
						r.Close()
					}
					<-prodDone
					t.Fatalf("group returned %v with %d rings open", err, open)
				}
				<-prodDone
			case <-time.After(60 * time.Second):
				t.Fatal("producers stuck")
			}
			f.closeAndWait(t)
			for i, m := range f.members {
				want := int64(totals[i])
				if f.gh.next[i] != want || m.Sequence() != want-1 {
					t.Errorf("member %d handled up to %d, Sequence %d; want %d", i, f.gh.next[i]-1, m.Sequence(), want-1)
				}
				if f.dh[i].next != want || f.deps[i].Sequence() != want-1 {
					t.Errorf("dependent %d handled up to %d, Sequence %d; want %d", i, f.dh[i].next-1, f.deps[i].Sequence(), want-1)
				}
			}
			t.Logf("%d passes, %d with ranges of several members", f.gh.passes, f.gh.multi)
		})
	}
}

// passRecorder is a GroupHandler that reports each pass's ranges on a
// channel and, while hold is set, blocks in the pass until released.
type passRecorder struct {
	passes  chan []Range
	hold    atomic.Bool
	release chan struct{}
}

func newPassRecorder() *passRecorder {
	return &passRecorder{passes: make(chan []Range, 64), release: make(chan struct{})}
}

func (p *passRecorder) HandleGroup(rs []Range) {
	p.passes <- append([]Range(nil), rs...)
	if p.hold.Load() {
		<-p.release
	}
}

// next returns the next pass, failing the test if none comes.
func (p *passRecorder) next(t *testing.T) []Range {
	t.Helper()
	select {
	case rs := <-p.passes:
		return rs
	case <-time.After(10 * time.Second):
		t.Fatal("no group pass")
		return nil
	}
}

func publishN[T any](t *testing.T, r *Ring[T], n int) (lo, hi int64) {
	t.Helper()
	hi, err := r.Claim(n)
	if err != nil {
		t.Fatal(err)
	}
	lo = hi - int64(n) + 1
	r.Publish(lo, hi)
	return lo, hi
}

// TestGroupPass checks what one pass is: everything available to every
// member, handed over at once, and released only when the pass returns.
func TestGroupPass(t *testing.T) {
	for _, w := range strategies {
		t.Run(w.String(), func(t *testing.T) {
			r0, _ := New[entry](Config{Size: 8, Wait: w})
			r1, _ := New[int64](Config{Size: 8, Wait: w, MultiProducer: true})
			m0, m1 := r0.NewConsumer("m0"), r1.NewConsumer("m1")
			d0 := r0.NewConsumer("d0", m0)
			g, err := NewGroup("g", m0, m1)
			if err != nil {
				t.Fatal(err)
			}
			r0.Start()
			r1.Start()
			p := newPassRecorder()
			p.hold.Store(true)
			groupDone := make(chan error, 1)
			go func() { groupDone <- g.Run(p) }()
			d0h := &checker{t: t, name: "d0", r: r0, deps: []*Consumer{m0}}
			depDone := make(chan error, 1)
			go func() { depDone <- d0.Run(d0h) }()

			for s := range int64(4) {
				*r0.At(s) = entry{seq: s, check: checksum(s)}
			}
			publishN(t, r0, 4)
			if rs := p.next(t); len(rs) != 1 || rs[0] != (Range{0, 0, 3}) {
				t.Fatalf("first pass %v, want [{0 0 3}]", rs)
			}
			// The pass holds [0, 3] of ring 0: nothing behind it moves.
			if s := m0.Sequence(); s != -1 {
				t.Errorf("member released %d during its pass", s)
			}
			if _, err := r0.TryClaim(5); !errors.Is(err, ErrFull) {
				t.Errorf("TryClaim(5) on a ring of 8 with 4 held by the pass = %v, want ErrFull", err)
			}
			// Work arrives on both rings while the pass runs: the next pass
			// takes all of it.
			for s := int64(4); s < 6; s++ {
				*r0.At(s) = entry{seq: s, check: checksum(s)}
			}
			publishN(t, r0, 2)
			publishN(t, r1, 3)
			if got := d0h.handled.Load(); got != 0 {
				t.Errorf("dependent handled %d entries during the pass that holds them", got)
			}
			p.hold.Store(false)
			close(p.release)
			if rs := p.next(t); len(rs) != 2 || rs[0] != (Range{0, 4, 5}) || rs[1] != (Range{1, 0, 2}) {
				t.Fatalf("second pass %v, want [{0 4 5} {1 0 2}]", rs)
			}
			r0.Close()
			r1.Close()
			for _, ch := range []chan error{groupDone, depDone} {
				select {
				case err := <-ch:
					if err != nil {
						t.Error(err)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("Run did not return after Close")
				}
			}
			if d0h.next != 6 || m1.Sequence() != 2 {
				t.Errorf("dependent handled up to %d, member 1 released %d; want 5, 2", d0h.next-1, m1.Sequence())
			}
		})
	}
}

// TestGroupBlockingWakes parks a Blocking group and wakes it with a publish
// on each ring in turn: a single-producer cursor, a multi-producer one,
// and, for a member behind another consumer, that consumer's release.
// Then it closes the rings one by one: the group parks again until the
// last one is closed, then returns.
func TestGroupBlockingWakes(t *testing.T) {
	r0, _ := New[entry](Config{Size: 8, Wait: Blocking})
	r1, _ := New[int64](Config{Size: 8, Wait: Blocking, MultiProducer: true})
	r2, _ := New[[3]int64](Config{Size: 8, Wait: Blocking})
	pre := r2.NewConsumer("pre")
	members := []*Consumer{r0.NewConsumer("m0"), r1.NewConsumer("m1"), r2.NewConsumer("m2", pre)}
	g, err := NewGroup("g", members...)
	if err != nil {
		t.Fatal(err)
	}
	r0.Start()
	r1.Start()
	r2.Start()
	p := newPassRecorder()
	groupDone := make(chan error, 1)
	go func() { groupDone <- g.Run(p) }()
	preH := &steppedHandler{entered: make(chan struct{}), release: make(chan struct{})}
	preDone := make(chan error, 1)
	go func() { preDone <- pre.Run(preH) }()

	publish := []func() (int64, int64){
		func() (int64, int64) { return publishN(t, r0, 1) },
		func() (int64, int64) { return publishN(t, r1, 1) },
		func() (int64, int64) {
			// The publish wakes pre, not the group (whose member 2 has
			// nothing yet); pre's release must wake the group.
			lo, hi := publishN(t, r2, 1)
			preH.step(t, func() { waitParked(t, g) })
			return lo, hi
		},
	}
	for round := range 3 {
		for i, pub := range publish {
			waitParked(t, g)
			lo, hi := pub()
			if rs := p.next(t); len(rs) != 1 || rs[0] != (Range{i, lo, hi}) {
				t.Fatalf("round %d: publish on ring %d woke a pass %v, want [{%d %d %d}]", round, i, rs, i, lo, hi)
			}
		}
	}
	for i, closeRing := range []func(){r0.Close, r1.Close, r2.Close} {
		waitParked(t, g)
		closeRing()
		if i < 2 {
			select {
			case err := <-groupDone:
				t.Fatalf("group returned %v with %d rings still open", err, 2-i)
			default:
			}
		}
	}
	select {
	case err := <-groupDone:
		if err != nil {
			t.Errorf("group Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("parked group did not return after every ring was closed")
	}
	if err := <-preDone; err != nil {
		t.Error(err)
	}
}

// steppedHandler is a Handler that, in each batch, signals entered and
// waits for release.
type steppedHandler struct{ entered, release chan struct{} }

func (h *steppedHandler) Handle(lo, hi int64) {
	h.entered <- struct{}{}
	<-h.release
}

// step waits for the handler to enter a batch, calls during, and lets the
// batch finish.
func (h *steppedHandler) step(t *testing.T, during func()) {
	t.Helper()
	select {
	case <-h.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("handler not called")
	}
	during()
	h.release <- struct{}{}
}

// TestGroupUpstreamFailed runs a member behind a consumer that fails (it
// cannot pin): once its ring is closed, the group returns an error naming
// it, as Consumer.Run would, and the consumer behind that member returns
// an error too instead of hanging.
func TestGroupUpstreamFailed(t *testing.T) {
	for _, w := range strategies {
		t.Run(w.String(), func(t *testing.T) {
			r0, _ := New[entry](Config{Size: 8, Wait: w})
			r1, _ := New[entry](Config{Size: 8, Wait: w})
			up := r1.NewConsumer("unpinnable")
			up.PinCPU(-2)
			m0, m1 := r0.NewConsumer("m0"), r1.NewConsumer("m1", up)
			behind := r1.NewConsumer("behind", m1)
			g, err := NewGroup("g", m0, m1)
			if err != nil {
				t.Fatal(err)
			}
			r0.Start()
			r1.Start()
			if err := up.Run(nopHandler{}); err == nil {
				t.Fatal("Run pinned to CPU -2 succeeded")
			}
			p := newPassRecorder()
			groupDone := make(chan error, 1)
			go func() { groupDone <- g.Run(p) }()
			behindDone := make(chan error, 1)
			go func() { behindDone <- behind.Run(nopHandler{}) }()

			publishN(t, r1, 1) // stuck behind the failed consumer
			lo, hi := publishN(t, r0, 1)
			if rs := p.next(t); len(rs) != 1 || rs[0] != (Range{0, lo, hi}) {
				t.Fatalf("pass %v, want [{0 %d %d}]", rs, lo, hi)
			}
			r0.Close()
			if w == Blocking {
				// Ring 0 drained, ring 1 open: the group waits.
				waitParked(t, g)
				select {
				case err := <-groupDone:
					t.Fatalf("group returned %v before ring 1 was closed", err)
				default:
				}
			}
			r1.Close()
			select {
			case err := <-groupDone:
				if err == nil || !strings.Contains(err.Error(), `"unpinnable" failed`) {
					t.Errorf("group Run = %v, want an error naming the failed upstream", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("group behind a failed consumer hangs after Close")
			}
			select {
			case err := <-behindDone:
				if err == nil {
					t.Error("consumer behind a failed group returned nil")
				}
			case <-time.After(10 * time.Second):
				t.Fatal("consumer behind a failed group hangs after Close")
			}
		})
	}
}

func TestNewGroupErrors(t *testing.T) {
	newRing := func(w WaitStrategy) *Ring[entry] {
		r, err := New[entry](Config{Size: 8, Wait: w})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	a, b := newRing(Blocking), newRing(Blocking)
	a1, a2, b1 := a.NewConsumer("a1"), a.NewConsumer("a2"), b.NewConsumer("b1")
	spin := newRing(BusySpin)
	s1 := spin.NewConsumer("s1")
	started := newRing(Blocking)
	st1 := started.NewConsumer("st1")
	started.Start()
	grouped := newRing(Blocking)
	g1 := grouped.NewConsumer("g1")
	if _, err := NewGroup("first", g1); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name    string
		members []*Consumer
		want    string
	}{
		{"none", nil, "no members"},
		{"nil", []*Consumer{a1, nil}, "nil"},
		{"same ring", []*Consumer{a1, b1, a2}, "same ring"},
		{"mixed strategies", []*Consumer{a1, s1}, "waits with"},
		{"already grouped", []*Consumer{b1, g1}, `already in group "first"`},
		{"started", []*Consumer{a1, st1}, "already started"},
	} {
		if _, err := NewGroup(tc.name, tc.members...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewGroup(%s) = %v; want an error with %q", tc.name, err, tc.want)
		}
	}
	// The failed calls left their members free.
	if _, err := NewGroup("after", a1, b1); err != nil {
		t.Errorf("NewGroup after failed attempts: %v", err)
	}
}

func TestGroupRunErrors(t *testing.T) {
	r0, _ := New[entry](Config{Size: 8, Wait: Blocking})
	r1, _ := New[entry](Config{Size: 8, Wait: Blocking})
	m0, m1 := r0.NewConsumer("m0"), r1.NewConsumer("m1")
	d1 := r1.NewConsumer("d1", m1)
	g, err := NewGroup("g", m0, m1)
	if err != nil {
		t.Fatal(err)
	}
	r0.Start()
	if err := g.Run(nopGroupHandler{}); err == nil || !strings.Contains(err.Error(), "before Start") {
		t.Errorf("Run with ring 1 not started = %v", err)
	}
	r1.Start()
	// Running a member on its own fails and does not count as a failure of
	// the member: d1 behind it runs normally.
	memberRun := make(chan error, 1)
	go func() { memberRun <- m1.Run(nopHandler{}) }()
	select {
	case err := <-memberRun:
		if err == nil || !strings.Contains(err.Error(), `member of group "g"`) {
			t.Errorf("Consumer.Run on a member = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Consumer.Run on a member runs")
	}
	d1Done := make(chan error, 1)
	go func() { d1Done <- d1.Run(nopHandler{}) }()
	gh := newPassRecorder()
	groupDone := make(chan error, 1)
	go func() { groupDone <- g.Run(gh) }()
	publishN(t, r1, 2)
	gh.next(t)
	r0.Close()
	r1.Close()
	for _, ch := range []chan error{groupDone, d1Done} {
		select {
		case err := <-ch:
			if err != nil {
				t.Error(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return after Close")
		}
	}
	if err := g.Run(nopGroupHandler{}); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("second Run = %v", err)
	}
}

// TestGroupPinCPU: a group that cannot pin fails, and the consumers behind
// its members return errors after Close instead of hanging.
func TestGroupPinCPU(t *testing.T) {
	r0, _ := New[entry](Config{Size: 8, Wait: Blocking})
	m0 := r0.NewConsumer("m0")
	d0 := r0.NewConsumer("d0", m0)
	g, _ := NewGroup("g", m0)
	g.PinCPU(1 << 20)
	r0.Start()
	d0Done := make(chan error, 1)
	go func() { d0Done <- d0.Run(nopHandler{}) }()
	if err := g.Run(nopGroupHandler{}); err == nil {
		t.Error("Run pinned to CPU 1<<20 succeeded")
	}
	publishN(t, r0, 1) // which the failed group will never release
	r0.Close()
	select {
	case err := <-d0Done:
		if err == nil {
			t.Error("consumer behind a failed group returned nil")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("consumer behind a failed group hangs after Close")
	}

	// A group pinned to a CPU that exists runs.
	r1, _ := New[entry](Config{Size: 8, Wait: Blocking})
	m1 := r1.NewConsumer("m1")
	g, _ = NewGroup("pinned", m1)
	g.PinCPU(runtime.NumCPU() - 1)
	r1.Start()
	p := newPassRecorder()
	done := make(chan error, 1)
	go func() { done <- g.Run(p) }()
	publishN(t, r1, 3)
	if rs := p.next(t); len(rs) != 1 || rs[0] != (Range{0, 0, 2}) {
		t.Errorf("pass %v, want [{0 0 2}]", rs)
	}
	r1.Close()
	if err := <-done; err != nil {
		t.Error(err)
	}
}

type nopGroupHandler struct{}

func (nopGroupHandler) HandleGroup([]Range) {}

// countingGroupHandler counts what it is handed, for goroutines outside the
// group.
type countingGroupHandler struct{ handled atomic.Int64 }

func (h *countingGroupHandler) HandleGroup(rs []Range) {
	for _, r := range rs {
		h.handled.Add(r.Hi - r.Lo + 1)
	}
}

// TestGroupAllocs: a pass allocates nothing in the steady state, whether
// the group finds work at once (BusySpin) or parks and is woken (Blocking).
// (Skipped under -race, whose instrumentation allocates.)
func TestGroupAllocs(t *testing.T) {
	if raceEnabled || testing.CoverMode() != "" {
		t.Skip("allocation counts are not meaningful under -race or -cover")
	}
	for _, w := range []WaitStrategy{BusySpin, Blocking} {
		t.Run(w.String(), func(t *testing.T) {
			var rings []*Ring[entry]
			var members []*Consumer
			for i := range 3 {
				r, _ := New[entry](Config{Size: 64, Wait: w, MultiProducer: i == 1})
				rings = append(rings, r)
				members = append(members, r.NewConsumer("m"))
			}
			g, err := NewGroup("g", members...)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rings {
				r.Start()
			}
			h := &countingGroupHandler{}
			done := make(chan error, 1)
			go func() { done <- g.Run(h) }()
			var sent int64
			pass := func() {
				for _, r := range rings {
					hi, err := r.Claim(1)
					if err != nil {
						panic(err)
					}
					r.Publish(hi, hi)
				}
				sent += 3
				for h.handled.Load() < sent {
					runtime.Gosched()
				}
			}
			for range 100 {
				pass()
			}
			if a := testing.AllocsPerRun(1000, pass); a != 0 {
				t.Errorf("%v allocations per pass, want 0", a)
			}
			for _, r := range rings {
				r.Close()
			}
			if err := <-done; err != nil {
				t.Error(err)
			}
		})
	}
}

// TestSequenceLayout: the hot words of a sequence (value, waiters, bells)
// fill exactly one padded line, and the parking lot starts on the next.
func TestSequenceLayout(t *testing.T) {
	var s sequence
	if got := unsafe.Offsetof(s.mu); got != 2*cacheLinePad {
		t.Errorf("sequence.mu at offset %d, want %d", got, 2*cacheLinePad)
	}
	if end := unsafe.Offsetof(s.bells) + unsafe.Sizeof(s.bells); end > 2*cacheLinePad {
		t.Errorf("sequence.bells ends at %d, past the hot line", end)
	}
}
