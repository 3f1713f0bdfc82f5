package testproc

import (
	"net"
	"strconv"
	"testing"
)

// TestAddr: the addresses are distinct, listenable, below the ephemeral
// range, and reserved until the test that took them ends.
func TestAddr(t *testing.T) {
	lo, hi := portRange()
	if hi <= lo {
		t.Skip("no port range below the ephemeral one here: Addr falls back to port 0")
	}
	var held string
	t.Run("take", func(t *testing.T) {
		seen := map[string]bool{}
		for range 200 {
			a := Addr(t)
			_, p, _ := net.SplitHostPort(a)
			if port, _ := strconv.Atoi(p); seen[a] || port < lo || port >= hi {
				t.Fatalf("%s: repeated, or outside [%d, %d)", a, lo, hi)
			}
			seen[a] = true
			held = a
		}
		l, err := net.Listen("tcp", held)
		if err != nil {
			t.Fatal(err)
		}
		l.Close()
		_, p, _ := net.SplitHostPort(held)
		port, _ := strconv.Atoi(p)
		if _, ok := reserve(t, port); ok {
			t.Fatalf("%s reserved twice", held)
		}
	})
	// The subtest has ended: its ports are free to take again.
	_, p, _ := net.SplitHostPort(held)
	port, _ := strconv.Atoi(p)
	if _, ok := reserve(t, port); !ok {
		t.Fatalf("%s still reserved after its test ended", held)
	}
}
