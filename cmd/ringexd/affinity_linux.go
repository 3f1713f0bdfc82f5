package main

import (
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
