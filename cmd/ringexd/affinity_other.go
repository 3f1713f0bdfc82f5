//go:build !linux

package main

import "errors"

// affinity fails: CPU pinning needs Linux (see ring.PinThread).
func affinity() (allowed func(int) bool, list string, err error) {
	return nil, "", errors.New("CPU pinning needs Linux")
}

// affinityList is empty: see affinity.
func affinityList() string { return "" }

// confineThreads fails: see affinity.
func confineThreads([]int) error { return errors.New("CPU pinning needs Linux") }
