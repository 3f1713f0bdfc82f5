package perf

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// ProcStats are a process's cumulative costs as Linux counts them: CPU
// time (user + system, /proc/PID/stat), read and write system calls
// (/proc/PID/io syscr + syscw) and context switches (voluntary +
// nonvoluntary, summed over /proc/PID/task/*/status). The difference of
// two readings divided by the orders between them is a cost per order that
// moves far less with a shared machine's noise than a time does.
type ProcStats struct {
	CPUTicks   int64 // user + system time, in clock ticks (ClockTicks per second)
	Syscalls   int64 // read and write system calls (syscr + syscw); -1 if /proc/PID/io is unreadable
	CtxSwitch  int64 // voluntary + nonvoluntary context switches of every live thread
	haveCounts bool
}

// ClockTicks is the kernel's USER_HZ, the unit of /proc/PID/stat's times:
// 100 on every Linux architecture Go supports.
const ClockTicks = 100

// ReadProc reads the stats of process pid (0: this process) from /proc.
func ReadProc(pid int) (ProcStats, error) {
	dir := procDir(pid)
	var s ProcStats
	b, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return s, fmt.Errorf("perf: %w", err)
	}
	if s.CPUTicks, err = parseStatCPU(b); err != nil {
		return s, fmt.Errorf("perf: %s/stat: %w", dir, err)
	}
	s.Syscalls = -1
	if b, err := os.ReadFile(dir + "/io"); err == nil {
		if s.Syscalls, err = parseIOSyscalls(b); err != nil {
			return s, fmt.Errorf("perf: %s/io: %w", dir, err)
		}
	}
	tasks, err := filepath.Glob(dir + "/task/*/status")
	if err != nil {
		return s, fmt.Errorf("perf: %w", err)
	}
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue // the thread exited meanwhile
		}
		n, err := parseCtxSwitches(b)
		if err != nil {
			return s, fmt.Errorf("perf: %s: %w", t, err)
		}
		s.CtxSwitch += n
	}
	s.haveCounts = true
	return s, nil
}

// ReadRSS returns the resident set size of process pid (0: this process),
// in bytes: VmRSS of /proc/PID/status.
func ReadRSS(pid int) (int64, error) {
	b, err := os.ReadFile(procDir(pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("perf: %w", err)
	}
	kb, err := sumKeysUnit(b, "kB", "VmRSS:")
	if err != nil {
		return 0, fmt.Errorf("perf: %s/status: %w", procDir(pid), err)
	}
	return kb * 1024, nil
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

// parseStatCPU returns utime + stime, fields 14 and 15 of /proc/PID/stat.
// The command name (field 2) is in parentheses and may hold spaces and
// parentheses itself, so the fields are counted after the last ')'.
func parseStatCPU(b []byte) (int64, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("no command name")
	}
	f := bytes.Fields(b[i+1:]) // f[0] is field 3, the state
	if len(f) < 13 {
		return 0, fmt.Errorf("%d fields after the command name, want at least 13", len(f))
	}
	var sum int64
	for _, s := range f[11:13] {
		v, err := strconv.ParseInt(string(s), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("cpu time %q: %w", s, err)
		}
		sum += v
	}
	return sum, nil
}

// parseIOSyscalls returns syscr + syscw of /proc/PID/io.
func parseIOSyscalls(b []byte) (int64, error) {
	return sumKeys(b, "syscr:", "syscw:")
}

// parseCtxSwitches returns voluntary_ctxt_switches +
// nonvoluntary_ctxt_switches of a /proc/PID/task/TID/status.
func parseCtxSwitches(b []byte) (int64, error) {
	return sumKeys(b, "voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:")
}

// sumKeys adds the values of the "key: value" lines named, each of which
// must be present exactly once.
func sumKeys(b []byte, keys ...string) (int64, error) {
	return sumKeysUnit(b, "", keys...)
}

// sumKeysUnit is sumKeys for values followed by unit, as in
// "VmRSS:  1234 kB" of /proc/PID/status.
func sumKeysUnit(b []byte, unit string, keys ...string) (int64, error) {
	var sum int64
	for _, k := range keys {
		found := 0
		for line := range bytes.Lines(b) {
			rest, ok := bytes.CutPrefix(line, []byte(k))
			if !ok {
				continue
			}
			rest = bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(rest), []byte(unit)))
			v, err := strconv.ParseInt(string(rest), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("%s %q: %w", k, rest, err)
			}
			sum += v
			found++
		}
		if found != 1 {
			return 0, fmt.Errorf("%d lines %q, want 1", found, k)
		}
	}
	return sum, nil
}

// Costs are a process's costs per order over part of a run.
type Costs struct {
	CPUMicros   float64 `json:"cpu_us_per_order"`
	Syscalls    float64 `json:"syscalls_per_order"`     // read + write; negative: not readable
	CtxSwitches float64 `json:"ctx_switches_per_order"` // summed over the threads alive at both readings
}

// PerOrder divides the difference between two readings (s earlier, e
// later) by the orders between them. Threads that exited between the
// readings take their context switches with them; Go keeps its threads,
// so the count is whole for a Go server.
func PerOrder(s, e ProcStats, orders int64) Costs {
	if orders <= 0 || !s.haveCounts || !e.haveCounts {
		return Costs{}
	}
	n := float64(orders)
	c := Costs{
		CPUMicros:   float64(e.CPUTicks-s.CPUTicks) * (1e6 / ClockTicks) / n,
		Syscalls:    -1,
		CtxSwitches: float64(e.CtxSwitch-s.CtxSwitch) / n,
	}
	if s.Syscalls >= 0 && e.Syscalls >= 0 {
		c.Syscalls = float64(e.Syscalls-s.Syscalls) / n
	}
	return c
}
