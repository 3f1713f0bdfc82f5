package perf

import (
	"strings"
	"testing"
)

func TestFillCheck(t *testing.T) {
	for _, tc := range []struct {
		name  string
		do    func(c *FillCheck)
		fails []string // substrings, one per expected failure line
	}{
		{"complete", func(c *FillCheck) {
			c.Trade(0, 1, 5)
			c.Fill(0, 1, 5)
			c.Fill(0, 1, 5)
			c.Fill(1, 1, 7) // fills before the public trade
			c.Fill(1, 1, 7)
			c.Trade(1, 1, 7)
		}, nil},
		{"missing fill", func(c *FillCheck) {
			c.Trade(0, 1, 5)
			c.Fill(0, 1, 5)
			c.Trade(0, 2, 5)
		}, []string{"2 public trades without both fill notifications"}},
		{"no public trade", func(c *FillCheck) {
			c.Fill(0, 3, 5)
			c.Fill(0, 3, 5)
		}, []string{"1 trades notified to an owner but never published"}},
		{"duplicate fill", func(c *FillCheck) {
			c.Trade(0, 1, 5)
			c.Fill(0, 1, 5)
			c.Fill(0, 1, 5)
			c.Fill(0, 1, 5)
		}, []string{"trades notified to an owner but never published"}},
		{"three fills before the trade", func(c *FillCheck) {
			c.Fill(0, 1, 5)
			c.Fill(0, 1, 5)
			c.Fill(0, 1, 5)
			c.Trade(0, 1, 5)
		}, []string{"1 duplicate"}},
		{"wrong quantity", func(c *FillCheck) {
			c.Fill(0, 1, 4)
			c.Trade(0, 1, 5)
			c.Fill(0, 1, 5)
			c.Trade(0, 2, 5)
			c.Fill(0, 2, 5)
			c.Fill(0, 2, 6)
		}, []string{"2 fills whose quantity is not the trade's"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c FillCheck
			tc.do(&c)
			got := c.Failures()
			var lines []string
			for _, l := range got {
				if !strings.HasPrefix(l, "  e.g.") {
					lines = append(lines, l)
				}
			}
			if len(lines) != len(tc.fails) {
				t.Fatalf("failures %q, want %q", got, tc.fails)
			}
			for i, want := range tc.fails {
				if !strings.Contains(lines[i], want) {
					t.Fatalf("failure %q, want %q", lines[i], want)
				}
			}
		})
	}
	var c FillCheck
	c.Trade(0, 1, 5)
	c.Fill(0, 1, 5)
	if c.Open() != 1 {
		t.Fatal("an incomplete trade is not open")
	}
	c.Fill(0, 1, 5)
	if c.Open() != 0 {
		t.Fatal("a complete trade is still open")
	}
	if tr, f := c.Totals(); tr != 1 || f != 2 {
		t.Fatalf("totals %d trades, %d fills", tr, f)
	}
}
