//go:build !linux

package ring

import (
	"errors"
	"fmt"
)

var errNoPinning = errors.New("CPU pinning needs Linux")

// PinThread is not supported on this system: it always fails.
func PinThread(cpu int) error {
	return fmt.Errorf("ring: pin to CPU %d: %w", cpu, errNoPinning)
}

// BindThread is not supported on this system: it always fails.
func BindThread(int, []int) error { return errNoPinning }

// ProcessCPUs is not supported on this system: it always fails.
func ProcessCPUs() ([]int, error) { return nil, errNoPinning }
