//go:build linux

package ring

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// maxCPUs is the number of CPUs a unix.CPUSet can name (CPU_SETSIZE).
const maxCPUs = 1024

// PinThread locks the calling goroutine to its OS thread and binds that
// thread to cpu, so that a busy stage keeps its caches and is not migrated.
// It fails, leaving the goroutine unlocked, if cpu does not exist or is not
// available to the process.
func PinThread(cpu int) error {
	runtime.LockOSThread()
	if err := BindThread(0, []int{cpu}); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("ring: pin to CPU %d: %w", cpu, err)
	}
	return nil
}

// BindThread binds the thread tid (0: the calling one) to cpus. A caller
// binding its own thread locks its goroutine to it first, or the binding
// stays with a thread the goroutine may leave.
func BindThread(tid int, cpus []int) error {
	var set unix.CPUSet
	for _, c := range cpus {
		if c < 0 || c >= maxCPUs {
			return fmt.Errorf("no such CPU %d", c)
		}
		set.Set(c)
	}
	return unix.SchedSetaffinity(tid, &set)
}

// ProcessCPUs returns the CPUs the calling thread may run on (at start,
// the process's), in increasing order.
func ProcessCPUs() ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, err
	}
	var cpus []int
	for c := range maxCPUs {
		if set.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	return cpus, nil
}
