package ring

import (
	"fmt"
	"runtime"
)

// WaitStrategy is what a consumer does while nothing is available to it, and
// what a producer does while the ring is full.
type WaitStrategy int

const (
	// BusySpin re-checks in a tight loop: the lowest latency, at the cost of
	// a whole core per waiting goroutine. It still yields the processor
	// every few hundred checks, because on a machine with fewer cores than
	// spinning goroutines the goroutine being waited for (a producer
	// between claim and publish, an upstream consumer) may need that
	// processor to make progress.
	BusySpin WaitStrategy = iota
	// Yield re-checks after runtime.Gosched on every miss: lower latency
	// than Blocking, friendlier than BusySpin, but never idle.
	Yield
	// Blocking spins briefly, then yields a little, then parks on the
	// sequence it waits for. Writers wake parked goroutines only when
	// someone is parked, so the busy path pays one load per publish, and
	// idle rings use no CPU.
	Blocking
)

// ParseWaitStrategy parses the flag spellings "spin", "yield" and "block".
func ParseWaitStrategy(s string) (WaitStrategy, error) {
	switch s {
	case "spin":
		return BusySpin, nil
	case "yield":
		return Yield, nil
	case "block":
		return Blocking, nil
	}
	return 0, fmt.Errorf("ring: unknown wait strategy %q (want spin, yield or block)", s)
}

// String returns the spelling ParseWaitStrategy accepts.
func (w WaitStrategy) String() string {
	switch w {
	case BusySpin:
		return "spin"
	case Yield:
		return "yield"
	case Blocking:
		return "block"
	}
	return fmt.Sprintf("WaitStrategy(%d)", int(w))
}

func (w WaitStrategy) valid() bool { return w >= BusySpin && w <= Blocking }

const (
	// spinYieldEvery is how many failed checks BusySpin makes between two
	// runtime.Gosched calls.
	spinYieldEvery = 256
	// blockSpins and blockYields are how many failed checks Blocking spins
	// and then yields before it parks: long enough to catch a burst that
	// is already on its way, short enough that an idle ring goes quiet
	// within microseconds. ringexd runs three consumers per asset (five before
	// the stages were fused), usually
	// on fewer cores, so spinning long costs the other stages their CPU;
	// the values were chosen by measurement (docs/performance-ring.md,
	// "Blocking's spin budget").
	blockSpins  = 10
	blockYields = 4
)

// spinPauses is how many PAUSE instructions a spinning wait executes between
// two checks. Each check of a sequence another core is writing pulls its
// cache line over; checking less often leaves that core's stores alone.
const spinPauses = 8

// backoff counts the failed checks of one wait and applies the strategy
// between them.
type backoff struct {
	strategy WaitStrategy
	misses   int
}

// pause is called after each failed check. It reports true when the caller
// should park rather than check again (Blocking only).
func (b *backoff) pause() (park bool) {
	b.misses++
	switch b.strategy {
	case BusySpin:
		if b.misses%spinYieldEvery == 0 {
			runtime.Gosched()
		} else {
			spinHint(spinPauses)
		}
	case Yield:
		runtime.Gosched()
	case Blocking:
		switch {
		case b.misses <= blockSpins:
			spinHint(spinPauses)
		case b.misses <= blockSpins+blockYields:
			runtime.Gosched()
		default:
			return true
		}
	}
	return false
}

// contended is called after a lost compare-and-swap race: it yields now and
// then, for the same reason BusySpin does.
func (b *backoff) contended() {
	b.misses++
	if b.misses%spinYieldEvery == 0 {
		runtime.Gosched()
	}
}
