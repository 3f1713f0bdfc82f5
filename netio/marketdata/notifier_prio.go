package marketdata

import (
	"runtime"

	"github.com/ringex/ringex/ring"
)

// Priority and CPUs of the fan-out (NotifierConfig.LoopNice, LoopCPUs).
//
// On a machine with few cores the market-data loops' writes (one write(2)
// per subscriber per drain) can keep every core busy, and the order path's
// threads (the order-entry loop, the journal goroutine that commits and
// acks) then wait in the run queue behind them. With LoopNice set, each
// event loop, on its first drain task, locks its goroutine to the OS thread
// it runs on and raises that thread's nice value, so that the kernel gives
// the order path's threads a core first and the fan-out takes what is left.
//
// The goroutine is never unlocked: when the loop ends, its goroutine exits
// locked and the runtime ends the thread with it, so no thread of the
// lowered priority ever returns to the runtime's pool to run other
// goroutines. Everything of a loop runs on its one goroutine (gnet's
// Polling: reads, writes, and the drain tasks queued by Execute), so the
// whole loop, and nothing else, runs at the lower priority.
//
// The kernel's priority does not reach the Go scheduler: a loop in a long
// drain pass (hundreds of writes, milliseconds) holds its P throughout, and
// with a loop per P the order path's goroutines, once ready, wait for the
// pass to end (go_sched_latencies_seconds p99 5-8 ms with 1,000
// subscribers on 2 cores). So a lowered loop also yields its P every
// yieldEvery writes of a pass (runtime.Gosched): a ready goroutine waits
// for at most that many writes. On a locked thread a yield hands the P to
// another thread and back (two wake-ups), hence not after every write.
//
// A lowered thread still holds its Go P while it runs: with GOMAXPROCS at
// the core count and a loop per core, a loop descheduled by the kernel
// mid-pass keeps a P the order path's goroutines could have used; ringexd's
// -gomaxprocs gives the runtime more Ps than cores for that
// (docs/performance-notifier.md, "The matcher never waits for a
// subscriber").
//
// LoopCPUs is the stronger separation where the operator can spare cores:
// each loop's thread, locked the same way, may run only on those CPUs, so
// the fan-out's writes never take a core of the order path however many
// subscribers there are (the kernel still lets the order path's threads
// use the fan-out's CPUs when they are idle). On a locked thread the Go
// runtime starts new threads from its template thread, not by cloning the
// locked one, so no other thread inherits the loops' CPU set.

// MaxLoopNice is the largest LoopNice: the nice values are 0-19 and an
// unprivileged process may only raise its own.
const MaxLoopNice = 19

// yieldEvery is how many connections a lowered loop writes in a pass
// between two yields of its P: at 2-5 us a write, under a millisecond.
const yieldEvery = 128

// wrote counts a write of the drain pass and yields the P every
// yieldEvery writes if the loop is lowered (see above). Loop only.
func (fl *feedLoop) wrote() {
	fl.passWrites++
	if fl.n.cfg.LoopNice > 0 && fl.passWrites%yieldEvery == 0 { // claimThread lowered it
		fl.n.yields.Add(1)
		runtime.Gosched()
	}
}

// claimThread, once, locks the calling loop's goroutine to its thread and
// gives that thread the configured CPUs and nice value, if any is
// configured. Loop only (it runs first in the drain task).
func (fl *feedLoop) claimThread() {
	cfg := &fl.n.cfg
	if fl.claimed || (cfg.LoopNice <= 0 && len(cfg.LoopCPUs) == 0) {
		return
	}
	fl.claimed = true
	runtime.LockOSThread() // for the goroutine's life: see above
	if len(cfg.LoopCPUs) > 0 {
		if err := ring.BindThread(0, cfg.LoopCPUs); err != nil {
			fl.n.log.Warn("market data: cannot bind an event loop to its CPUs", "cpus", cfg.LoopCPUs, "err", err)
		}
	}
	if cfg.LoopNice > 0 {
		if err := setThreadNice(cfg.LoopNice); err != nil {
			fl.n.log.Warn("market data: cannot lower an event loop's priority", "nice", cfg.LoopNice, "err", err)
		}
	}
}
