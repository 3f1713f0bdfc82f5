//go:build !linux

package perf

import "time"

func lockPrecise() func() { return func() {} }

func preciseSleep(d time.Duration) { time.Sleep(d) }
