package ring

import (
	"fmt"
	"sync/atomic"
)

// Handler handles a batch of sequences.
type Handler interface {
	// Handle is called with the whole range lo through hi (inclusive) that
	// became available at once; it reads the entries with Ring.At. When it
	// returns, the range is released to the stages behind.
	Handle(lo, hi int64)
}

// Consumer is one stage reading a ring. Declare it with Ring.NewConsumer and
// run it with Run on a goroutine of its own.
type Consumer struct {
	name    string
	core    *core
	deps    []*Consumer
	barrier barrier
	pinned  bool // Run pins to cpu
	cpu     int

	group *Group // set by NewGroup, before Start: the group runs this consumer

	running atomic.Bool
	failed  atomic.Bool // Run (or its group's Run) returned an error; see barrier.failedUpstream

	// seq is the highest sequence released: the stages behind and the
	// producers read it.
	seq sequence
}

// Name returns the name given to NewConsumer.
func (c *Consumer) Name() string { return c.name }

// Sequence returns the highest sequence this consumer has handled and
// released (-1 before the first).
func (c *Consumer) Sequence() int64 { return c.seq.load() }

// PinCPU makes Run lock its goroutine to an OS thread and bind that thread
// to cpu before it starts handling. Call it before Run.
func (c *Consumer) PinCPU(cpu int) { c.pinned, c.cpu = true, cpu }

// Run handles batches until the ring is closed and everything published has
// been handled, then returns nil. It returns an error if the consumer
// cannot be pinned to its CPU, if Run is called before Start or twice, or
// if, after Close, a consumer it depends on has failed; a failed consumer
// never releases anything, so the stages behind it and the producers wait
// until Close.
//
// A pinned consumer does not unlock its OS thread when it returns, so the
// runtime retires the thread instead of reusing it with a narrowed CPU
// affinity.
func (c *Consumer) Run(h Handler) (err error) {
	if !c.core.started.Load() {
		return fmt.Errorf("ring: consumer %q: Run before Start", c.name)
	}
	// Neither error below marks c as failed: c may be running, in this Run
	// or in its group's.
	if c.group != nil {
		return fmt.Errorf("ring: consumer %q: Run on a member of group %q (run the group)", c.name, c.group.name)
	}
	if !c.running.CompareAndSwap(false, true) {
		return fmt.Errorf("ring: consumer %q: Run called twice", c.name)
	}
	defer func() {
		if err != nil {
			c.failed.Store(true)
			c.seq.wakeAll()
		}
	}()
	if c.pinned {
		if err := PinThread(c.cpu); err != nil {
			return fmt.Errorf("ring: consumer %q: %w", c.name, err)
		}
	}
	wait := c.core.wait
	next := c.seq.load() + 1
	for {
		hi, res := c.barrier.waitFor(next)
		switch res {
		case drainedClosed:
			return nil
		case upstreamFailed:
			return fmt.Errorf("ring: consumer %q: upstream consumer %q failed",
				c.name, c.barrier.failedUpstream().name)
		}
		if hi-next >= c.core.size {
			panic(fmt.Sprintf("ring: consumer %q: barrier handed [%d, %d], more than the ring's %d entries",
				c.name, next, hi, c.core.size))
		}
		h.Handle(next, hi)
		c.seq.store(hi, wait)
		next = hi + 1
	}
}
