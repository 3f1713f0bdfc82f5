package perf

import (
	"os"
	"runtime"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
		ok   bool
	}{
		// utime 1234 and stime 56 are fields 14 and 15.
		{"4242 (ringexd) S 1 4242 4242 0 -1 4194560 1234 0 0 0 1234 56 7 8 20 0 9 0 100 1000 200 0\n", 1290, true},
		// A command name with spaces and parentheses does not shift the fields.
		{"7 (a) b (c) R 1 7 7 0 -1 0 0 0 0 0 300 12 0 0 20 0 1 0 5 6 7\n", 312, true},
		{"7 (x) R 1 2 3\n", 0, false},
		{"no parentheses at all", 0, false},
		{"7 (x) R 1 7 7 0 -1 0 0 0 0 0 3x0 12 0 0 20 0 1 0 5 6 7\n", 0, false},
	} {
		got, err := parseStatCPU([]byte(c.in))
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("parseStatCPU(%q) = %d, %v; want %d, ok %v", c.in, got, err, c.want, c.ok)
		}
	}
}

func TestParseCounters(t *testing.T) {
	io := "rchar: 6976\nwchar: 10\nsyscr: 10\nsyscw: 32\nread_bytes: 0\nwrite_bytes: 0\ncancelled_write_bytes: 0\n"
	if n, err := parseIOSyscalls([]byte(io)); err != nil || n != 42 {
		t.Errorf("parseIOSyscalls = %d, %v; want 42", n, err)
	}
	if _, err := parseIOSyscalls([]byte("rchar: 1\nsyscr: 3\n")); err == nil {
		t.Error("parseIOSyscalls without syscw: no error")
	}
	status := "Name:\tringexd\nState:\tS (sleeping)\nvoluntary_ctxt_switches:\t150\nnonvoluntary_ctxt_switches:\t7\n"
	if n, err := parseCtxSwitches([]byte(status)); err != nil || n != 157 {
		t.Errorf("parseCtxSwitches = %d, %v; want 157", n, err)
	}
	if _, err := parseCtxSwitches([]byte("voluntary_ctxt_switches:\tmany\nnonvoluntary_ctxt_switches:\t7\n")); err == nil {
		t.Error("parseCtxSwitches of a non-number: no error")
	}
	if n, err := sumKeysUnit([]byte("Name:\tringexd\nVmRSS:\t   1234 kB\nVmData:\t 9 kB\n"), "kB", "VmRSS:"); err != nil || n != 1234 {
		t.Errorf("sumKeysUnit VmRSS = %d, %v; want 1234", n, err)
	}
	if runtime.GOOS == "linux" {
		if rss, err := ReadRSS(0); err != nil || rss <= 0 {
			t.Errorf("ReadRSS(0) = %d, %v; want > 0", rss, err)
		}
	}
}

// TestReadProc: the counters of a live process (this one) rise with the
// work it does, and the per-order costs divide the differences.
func TestReadProc(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc is Linux's")
	}
	s, err := ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("/proc/self/stat")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1)
	for range 200 {
		f.ReadAt(buf, 0) // 200 read system calls
	}
	f.Close()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		if e, _ := ReadProc(0); e.CPUTicks > s.CPUTicks {
			break // burn CPU until a tick is counted
		}
	}
	e, err := ReadProc(0)
	if err != nil {
		t.Fatal(err)
	}
	if e.CPUTicks <= s.CPUTicks || e.CtxSwitch < s.CtxSwitch || s.CtxSwitch <= 0 {
		t.Fatalf("before %+v, after %+v", s, e)
	}
	if s.Syscalls >= 0 && e.Syscalls-s.Syscalls < 200 {
		t.Fatalf("syscalls %d -> %d: fewer than the 200 reads", s.Syscalls, e.Syscalls)
	}
	c := PerOrder(s, e, 100)
	if want := float64(e.CPUTicks-s.CPUTicks) * 1e4 / 100; c.CPUMicros != want {
		t.Fatalf("cpu per order %v, want %v", c.CPUMicros, want)
	}
	if (PerOrder(s, e, 0) != Costs{}) || (PerOrder(ProcStats{}, e, 10) != Costs{}) {
		t.Fatal("per-order costs without orders or without a reading")
	}
}
