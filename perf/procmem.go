package perf

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// ReadRSS returns the resident set size of process pid (0: this process),
// in bytes: VmRSS of /proc/PID/status.
func ReadRSS(pid int) (int64, error) {
	b, err := os.ReadFile(procDir(pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("perf: %w", err)
	}
	for line := range bytes.Lines(b) {
		if rest, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			kb, err := strconv.ParseInt(string(bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(rest), []byte("kB")))), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("perf: %s/status: VmRSS %q: %w", procDir(pid), bytes.TrimSpace(rest), err)
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("perf: %s/status: no VmRSS line", procDir(pid))
}

// ReadWrites returns the write system calls of process pid (0: this
// process) so far: syscw of /proc/PID/io.
func ReadWrites(pid int) (int64, error) {
	b, err := os.ReadFile(procDir(pid) + "/io")
	if err != nil {
		return 0, fmt.Errorf("perf: %w", err)
	}
	n, err := sumKeys(b, "syscw:")
	if err != nil {
		return 0, fmt.Errorf("perf: %s/io: %w", procDir(pid), err)
	}
	return n, nil
}

func procDir(pid int) string {
	if pid == 0 {
		return "/proc/self"
	}
	return "/proc/" + strconv.Itoa(pid)
}
