package marketdata

import "golang.org/x/sys/unix"

// setThreadNice sets the calling thread's nice value: on Linux
// PRIO_PROCESS with a thread id names that thread alone.
func setThreadNice(n int) error {
	return unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), n)
}
