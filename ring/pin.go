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
	var set unix.CPUSet
	if cpu < 0 || cpu >= maxCPUs {
		return fmt.Errorf("ring: pin to CPU %d: no such CPU", cpu)
	}
	set.Set(cpu)
	runtime.LockOSThread()
	// pid 0 is the calling thread.
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("ring: pin to CPU %d: %w", cpu, err)
	}
	return nil
}
