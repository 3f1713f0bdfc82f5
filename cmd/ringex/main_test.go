package main

import "testing"

func TestDecimal(t *testing.T) {
	for _, tc := range []struct {
		in   string
		dec  int
		want int64
		bad  bool
	}{
		{"65000.50", 2, 6500050, false},
		{"65000.5", 2, 6500050, false},
		{"65000", 2, 6500000, false},
		{"0.0001", 4, 1, false},
		{".5", 1, 5, false},
		{"1.234", 2, 0, true},
		{"abc", 2, 0, true},
		{"", 2, 0, true},
		{"7", 0, 7, false},
	} {
		got, err := parseDecimal(tc.in, tc.dec)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("parseDecimal(%q, %d) = %d, %v", tc.in, tc.dec, got, err)
		}
		if !tc.bad && parseBack(t, formatDecimal(got, tc.dec), tc.dec) != got {
			t.Errorf("formatDecimal(%d, %d) does not parse back", got, tc.dec)
		}
	}
}

func parseBack(t *testing.T, s string, dec int) int64 {
	v, err := parseDecimal(s, dec)
	if err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return v
}
