package marketdata

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// setThreadNice sets the calling thread's nice value: on Linux
// PRIO_PROCESS with a thread id names that thread alone.
func setThreadNice(n int) error {
	return unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), n)
}

// setThreadCPUs binds the calling thread to cpus: pid 0 names the calling
// thread alone.
func setThreadCPUs(cpus []int) error {
	var set unix.CPUSet
	for _, c := range cpus {
		if c < 0 || c >= 1024 { // CPU_SETSIZE
			return fmt.Errorf("no such CPU %d", c)
		}
		set.Set(c)
	}
	return unix.SchedSetaffinity(0, &set)
}
