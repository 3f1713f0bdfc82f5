//go:build !linux

package ring

import "fmt"

// PinThread is not supported on this system: it always fails.
func PinThread(cpu int) error {
	return fmt.Errorf("ring: pin to CPU %d: CPU pinning needs Linux", cpu)
}
