package main

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestReadmeDefaultAssets holds the README's table of default assets to
// defaultAssets, so that what a client author reads is what ringexd runs.
func TestReadmeDefaultAssets(t *testing.T) {
	f, err := os.Open("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows [][]string
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			in = line == "### Default assets"
			continue
		}
		if !in || !strings.HasPrefix(line, "| `") {
			continue
		}
		var cells []string
		for _, c := range strings.Split(strings.Trim(line, "|"), "|") {
			cells = append(cells, strings.Trim(strings.TrimSpace(c), "`"))
		}
		rows = append(rows, cells)
	}
	if len(rows) != len(defaultAssets) {
		t.Fatalf("README lists %d default assets, ringexd has %d", len(rows), len(defaultAssets))
	}
	for i, s := range defaultAssets {
		spec, err := parseAsset(s)
		if err != nil {
			t.Fatal(err)
		}
		c := spec.Config
		want := []string{c.Symbol, strconv.Itoa(int(spec.ID)), itoa(c.TickSize), itoa(c.LotSize), itoa(c.MinPrice),
			itoa(c.MaxPrice), itoa(c.MaxQty), strconv.Itoa(spec.PriceDecimals), strconv.Itoa(spec.QtyDecimals)}
		if strings.Join(rows[i], " ") != strings.Join(want, " ") {
			t.Errorf("README row %d: %v, ringexd: %v", i+1, rows[i], want)
		}
	}
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }
