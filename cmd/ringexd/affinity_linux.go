package main

import (
	"errors"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// affinity returns whether the process may run on a CPU, and the CPUs it
// may run on, listed.
func affinity() (allowed func(int) bool, list string, err error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, "", err
	}
	var ids []string
	for i := 0; i < 1024; i++ { // CPU_SETSIZE
		if set.IsSet(i) {
			ids = append(ids, strconv.Itoa(i))
		}
	}
	return func(cpu int) bool { return cpu < 1024 && set.IsSet(cpu) }, strings.Join(ids, ","), nil
}

// affinityList is affinity's list, empty if it cannot be read.
func affinityList() string {
	_, list, _ := affinity()
	return list
}

// confineThreads binds every thread of the process to cpus. A thread
// started later is cloned from one of them, or, when the runtime starts it
// for a goroutine locked to its thread (a market-data loop bound to its own
// CPUs), from the runtime's template thread, which is one of them too. So
// after this only threads that bind themselves elsewhere run elsewhere.
// The task list is read until a pass finds no thread it has not bound,
// since the runtime may start a thread while it is read.
func confineThreads(cpus []int) error {
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
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
			if err := unix.SchedSetaffinity(tid, &set); err != nil && !errors.Is(err, unix.ESRCH) {
				return err // ESRCH: the thread ended meanwhile
			}
		}
		if fresh == 0 {
			return nil
		}
	}
}
