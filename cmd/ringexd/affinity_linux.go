package main

import (
	"errors"
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/ringex/ringex/ring"
)

// confineThreads binds every thread of the process to cpus. A thread
// started later is cloned from one of them, or, when the runtime starts it
// for a goroutine locked to its thread (a market-data loop bound to its own
// CPUs), from the runtime's template thread, which is one of them too. So
// after this only threads that bind themselves elsewhere run elsewhere.
// The task list is read until a pass finds no thread it has not bound,
// since the runtime may start a thread while it is read.
func confineThreads(cpus []int) error {
	done := map[int]bool{}
	for {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return err
		}
		fresh := 0
		for _, task := range tasks {
			tid, err := strconv.Atoi(task.Name())
			if err != nil || done[tid] {
				continue
			}
			fresh++
			done[tid] = true
			if err := ring.BindThread(tid, cpus); err != nil && !errors.Is(err, unix.ESRCH) {
				return err // ESRCH: the thread ended meanwhile
			}
		}
		if fresh == 0 {
			return nil
		}
	}
}
