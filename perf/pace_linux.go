package perf

import (
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// lockPrecise locks the goroutine to its thread and lowers the thread's
// timer slack (50 us by default) to 1 ns; the returned func undoes both.
func lockPrecise() func() {
	runtime.LockOSThread()
	if err := unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0); err != nil {
		return runtime.UnlockOSThread
	}
	return func() {
		unix.Prctl(unix.PR_SET_TIMERSLACK, 0, 0, 0, 0) // 0: back to the thread's default
		runtime.UnlockOSThread()
	}
}

// preciseSleep sleeps d in the kernel, resuming after signals (the Go
// runtime preempts with signals).
func preciseSleep(d time.Duration) {
	ts := unix.NsecToTimespec(int64(d))
	for unix.Nanosleep(&ts, &ts) == unix.EINTR {
	}
}
