//go:build !linux

package main

import "errors"

// confineThreads fails: CPU pinning needs Linux (see ring.PinThread).
func confineThreads([]int) error { return errors.New("CPU pinning needs Linux") }
