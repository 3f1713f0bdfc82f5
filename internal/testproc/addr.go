// Package testproc holds what tests that run a server in a child process
// (a ringexd, a ringex-load) share: loopback addresses for it to listen on
// and a buffer for its output. Only tests import it.
//
// The usual way to get an address, listening on 127.0.0.1:0 and closing
// the listener so that the child can bind the port, leaves a window in
// which the port is free and inside the range the kernel hands out to
// every bind to port 0 and every connect on the machine: a test package
// running in parallel can take it, and the child then fails with "address
// already in use" (or the test's readiness check connects to the wrong
// server). Two such calls in a row can even return the same port.
//
// Addr closes both holes. It picks ports just below the kernel's ephemeral
// range (ip_local_port_range), which the kernel never hands out by itself,
// checks that each is free, and reserves it until the test ends with an
// abstract unix socket named after it: another Addr, in this process or in
// another test binary, never picks a reserved port. Where that cannot be
// done (not Linux, an odd port range) it falls back to port 0.
package testproc

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// span is how many ports below the ephemeral range Addr picks from; it
// keeps above 10000, clear of the well-known and default ports (ringexd
// listens on 7001 and 7002 by default).
const span = 12000

// Addr returns a 127.0.0.1 address whose port is free and reserved for
// the test until it ends.
func Addr(t testing.TB) string {
	t.Helper()
	if lo, hi := portRange(); hi > lo {
		for range 1000 {
			if addr, ok := reserve(t, lo+rand.IntN(hi-lo)); ok {
				return addr
			}
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// reserve takes port for the test if no other test holds it and nothing
// listens on it.
func reserve(t testing.TB, port int) (string, bool) {
	lock, err := net.Listen("unix", "@ringex-testproc-port-"+strconv.Itoa(port))
	if err != nil {
		return "", false // another test holds it
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	l, err := net.Listen("tcp", addr)
	if err != nil {
		lock.Close()
		return "", false // in use outside the tests
	}
	l.Close()
	t.Cleanup(func() { lock.Close() })
	return addr, true
}

var (
	rangeOnce sync.Once
	lo, hi    int
)

// portRange returns the ports Addr picks from, [lo, hi), empty if it must
// fall back to port 0.
func portRange() (int, int) {
	rangeOnce.Do(func() {
		if runtime.GOOS != "linux" { // abstract unix sockets are Linux's
			return
		}
		b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
		if err != nil {
			return
		}
		f := strings.Fields(string(b))
		if len(f) != 2 {
			return
		}
		first, err := strconv.Atoi(f[0])
		if err != nil || first-span < 10000 {
			return
		}
		lo, hi = first-span, first
	})
	return lo, hi
}
