package ring

import (
	"fmt"
	"sync/atomic"
)

// Range is one member's available range in a group pass.
type Range struct {
	Member int   // index of the member in NewGroup's arguments
	Lo, Hi int64 // inclusive
}

// GroupHandler handles one pass of a Group.
type GroupHandler interface {
	// HandleGroup is called with the non-empty available range of every
	// member that has one, in member order; rs is reused by the next pass
	// (do not retain it). When it returns, every range is released to the
	// stages behind (each member's sequence is stored, as Consumer.Run
	// does).
	HandleGroup(rs []Range)
}

// Group runs consumers of several rings on one goroutine.
//
// Each pass collects the range available to every member (as each member's
// own barrier reports it), hands all the non-empty ones to the handler in
// one call, and then releases each of them by storing the member's
// sequence. So, member by member, a group keeps both gating invariants of
// the package exactly as a Consumer does: a member sees only what its
// dependencies released, and the stages behind it and the producers of its
// ring see a range only once the pass that handled it returned.
//
// With nothing available, a group waits as its rings' WaitStrategy says. A
// Blocking group parks on its doorbell, which every sequence a member
// waits on (its ring's cursor, or the sequences of its dependencies) rings
// when it moves, and which Close rings too.
type Group struct {
	name    string
	members []*Consumer
	wait    WaitStrategy
	pinned  bool // Run pins to cpu
	cpu     int
	running atomic.Bool

	// bell is the one place a Blocking group parks: a sequence whose value
	// is unused, woken by every sequence a member waits on (their bells;
	// see sequence.wake) and by Close (through wakeAll). A group cannot
	// park on any one of those sequences: a publish on another member's
	// ring would not wake it. The lost-wakeup argument is sequence.store's:
	// the writer stores what makes the group ready (a publish, a release,
	// closed, failed) and then loads the bell's waiters; park increments
	// them and then evaluates ready under the mutex. This needs the
	// writers' stores to be sequentially consistent, which they are under
	// Blocking (sequence.store, publishMulti), the only strategy that
	// parks.
	bell sequence

	// Run's state, touched only by its goroutine (and by ready, which runs
	// on it). Allocated by NewGroup so that a pass allocates nothing.
	next  []int64 // per member: the next sequence to handle
	done  []bool  // per member: its ring is closed and drained
	rs    []Range // the pass's ranges, capacity len(members)
	ready func() bool
}

// NewGroup makes a group of members: consumers (from Ring.NewConsumer, any
// element types, first-stage or behind other consumers of their own ring)
// of distinct rings that share one WaitStrategy. It must be called before
// any member's ring is Started. Errors: no members, two members of one
// ring, mixed wait strategies, a member already in a group, a ring already
// started.
//
// A member belongs to the group for good: Consumer.Run on it returns an
// error, and the group's Run handles it.
func NewGroup(name string, members ...*Consumer) (*Group, error) {
	if len(members) == 0 {
		return nil, fmt.Errorf("ring: group %q has no members", name)
	}
	rings := make(map[*core]*Consumer, len(members))
	for i, m := range members {
		switch {
		case m == nil:
			return nil, fmt.Errorf("ring: group %q: member %d is nil", name, i)
		case m.core.started.Load():
			return nil, fmt.Errorf("ring: group %q: ring of consumer %q already started", name, m.name)
		case m.group != nil:
			return nil, fmt.Errorf("ring: group %q: consumer %q is already in group %q", name, m.name, m.group.name)
		case m.core.wait != members[0].core.wait:
			return nil, fmt.Errorf("ring: group %q: consumer %q waits with %v, consumer %q with %v",
				name, m.name, m.core.wait, members[0].name, members[0].core.wait)
		}
		if other := rings[m.core]; other != nil {
			return nil, fmt.Errorf("ring: group %q: consumers %q and %q read the same ring", name, other.name, m.name)
		}
		rings[m.core] = m
	}
	g := &Group{
		name:    name,
		members: append([]*Consumer(nil), members...),
		wait:    members[0].core.wait,
		next:    make([]int64, len(members)),
		done:    make([]bool, len(members)),
		rs:      make([]Range, 0, len(members)),
	}
	g.bell.init()
	g.ready = g.readyToRun
	for _, m := range g.members {
		m.group = g
		// The sequences m's barrier reads are the ones whose moves can
		// make something available to m.
		if len(m.barrier.deps) == 0 {
			m.core.cursor.addBell(&g.bell)
		}
		for _, s := range m.barrier.deps {
			s.addBell(&g.bell)
		}
	}
	return g, nil
}

// Name returns the name given to NewGroup.
func (g *Group) Name() string { return g.name }

// PinCPU makes Run lock its goroutine to an OS thread and bind that thread
// to cpu before it starts handling. Call it before Run.
func (g *Group) PinCPU(cpu int) { g.pinned, g.cpu = true, cpu }

// Run handles passes until every member's ring is closed and drained, then
// returns nil; a member whose ring is drained is skipped while others still
// have work. Like Consumer.Run it returns an error if it cannot pin, if it
// is called before every member's ring is started or twice, or if, after
// Close, a dependency of some member has failed (checked when no member has
// anything to handle). On an error every member counts as failed, so the
// stages behind them return errors after Close instead of hanging.
//
// A pinned group does not unlock its OS thread when it returns (see
// Consumer.Run).
func (g *Group) Run(h GroupHandler) (err error) {
	for _, m := range g.members {
		if !m.core.started.Load() {
			return fmt.Errorf("ring: group %q: Run before Start of the ring of %q", g.name, m.name)
		}
	}
	if !g.running.CompareAndSwap(false, true) {
		return fmt.Errorf("ring: group %q: Run called twice", g.name)
	}
	defer func() {
		if err != nil {
			for _, m := range g.members {
				m.failed.Store(true)
				m.seq.wakeAll()
			}
		}
	}()
	if g.pinned {
		if err := PinThread(g.cpu); err != nil {
			return fmt.Errorf("ring: group %q: %w", g.name, err)
		}
	}
	for i, m := range g.members {
		g.next[i] = m.seq.load() + 1
	}
	bo := backoff{strategy: g.wait}
	for {
		if rs := g.collect(); len(rs) > 0 {
			h.HandleGroup(rs)
			for _, r := range rs {
				g.members[r.Member].seq.store(r.Hi, g.wait)
				g.next[r.Member] = r.Hi + 1
			}
			bo = backoff{strategy: g.wait}
			continue
		}
		// Nothing available: are we done, or stuck behind a failure?
		live := 0
		for i, m := range g.members {
			if g.done[i] {
				continue
			}
			if m.barrier.drained(g.next[i]) {
				g.done[i] = true
				continue
			}
			if m.core.closed.Load() {
				if up := m.barrier.failedUpstream(); up != nil {
					return fmt.Errorf("ring: group %q: member %q: upstream consumer %q failed",
						g.name, m.name, up.name)
				}
			}
			live++
		}
		if live == 0 {
			return nil
		}
		if bo.pause() {
			g.bell.park(g.ready)
		}
	}
}

// collect returns the non-empty available range of every member, in member
// order, in g.rs.
func (g *Group) collect() []Range {
	rs := g.rs[:0]
	for i, m := range g.members {
		next := g.next[i]
		hi := m.barrier.available(next)
		if hi < next {
			continue
		}
		if hi-next >= m.core.size {
			panic(fmt.Sprintf("ring: group %q: member %q: barrier handed [%d, %d], more than the ring's %d entries",
				g.name, m.name, next, hi, m.core.size))
		}
		rs = append(rs, Range{Member: i, Lo: next, Hi: hi})
	}
	return rs
}

// readyToRun is the condition a parked group waits for: some member that
// is not done has something available, is drained, or is stuck behind a
// failed dependency of a closed ring. It is the negation of what makes Run
// park, so that whatever makes Run move wakes it.
func (g *Group) readyToRun() bool {
	for i, m := range g.members {
		if g.done[i] {
			continue
		}
		next := g.next[i]
		if m.barrier.available(next) >= next || m.barrier.drained(next) ||
			(m.core.closed.Load() && m.barrier.failedUpstream() != nil) {
			return true
		}
	}
	return false
}
