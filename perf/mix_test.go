package perf

import (
	"math"
	"testing"
)

var testAssets = []AssetParams{
	{Symbol: "A", Tick: 5, Lot: 10, Mid: 1000, SpreadTicks: 3, MaxLots: 4},
	{Symbol: "B", Tick: 1, Lot: 1, Mid: 50, SpreadTicks: 2, MaxLots: 1},
	{Symbol: "C", Tick: 50, Lot: 1, Mid: 100, SpreadTicks: 20, MaxLots: 10}, // the spread reaches below 0
}

func TestMixPercentages(t *testing.T) {
	mix, err := ParseMix("market=5,ioc=10,fok=3,postonly=7,cancel=20,replace=15")
	if err != nil {
		t.Fatal(err)
	}
	g := NewGenerator(mix, testAssets, 42)
	const n = 200000
	var kinds [numKinds]int
	assets := make([]int, len(testAssets))
	sides := [3]int{}
	for range n {
		o := g.Next(true)
		kinds[o.Kind]++
		assets[o.Asset]++
		sides[o.Side]++
		a := testAssets[o.Asset]
		if o.Price%a.Tick != 0 || o.Price <= 0 || o.Qty%a.Lot != 0 || o.Qty <= 0 || o.Qty > a.MaxLots*a.Lot ||
			o.Price > a.Mid+a.SpreadTicks*a.Tick || o.Price < min(a.Mid-a.SpreadTicks*a.Tick, a.Tick) {
			t.Fatalf("order %+v invalid for %+v", o, a)
		}
	}
	want := map[Kind]float64{KindMarket: 5, KindIOC: 10, KindFOK: 3, KindPostOnly: 7, KindCancel: 20, KindReplace: 15, KindLimit: 40}
	for k, pct := range want {
		// 200000 draws: the standard error of a share is under 0.12
		// points, so 0.5 points is about 4 sigma.
		if got := 100 * float64(kinds[k]) / n; math.Abs(got-pct) > 0.5 {
			t.Errorf("%s: %.2f%%, want %.0f%%", k, got, pct)
		}
	}
	for i, c := range assets {
		if got := float64(c) / n; math.Abs(got-1.0/3) > 0.01 {
			t.Errorf("asset %d drawn %.3f of the time, want 1/3", i, got)
		}
	}
	if got := float64(sides[1]) / n; math.Abs(got-0.5) > 0.01 || sides[0] != 0 {
		t.Errorf("buys %.3f of the time, invalid sides %d", got, sides[0])
	}
	// Without resting orders, cancels and replaces become limits.
	for range 1000 {
		if k := g.Next(false).Kind; k == KindCancel || k == KindReplace {
			t.Fatal("a cancel with nothing to cancel")
		}
	}
}

func TestMixReproducible(t *testing.T) {
	mix := Mix{Market: 10, Cancel: 30}
	a, b, c := NewGenerator(mix, testAssets, 7), NewGenerator(mix, testAssets, 7), NewGenerator(mix, testAssets, 8)
	same := 0
	for i := range 1000 {
		oa, ob, oc := a.Next(i%3 != 0), b.Next(i%3 != 0), c.Next(i%3 != 0)
		if oa != ob {
			t.Fatalf("same seed, different request %d: %+v, %+v", i, oa, ob)
		}
		if oa == oc {
			same++
		}
	}
	if same > 100 {
		t.Fatalf("seeds 7 and 8 agree on %d of 1000 requests", same)
	}
}

func TestParseMix(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Mix
		ok   bool
	}{
		{"", Mix{}, true},
		{"market=5,ioc=10", Mix{Market: 5, IOC: 10}, true},
		{"limit=50,cancel=30,replace=20", Mix{Cancel: 30, Replace: 20}, true},
		{"limit=40,cancel=30", Mix{}, false}, // 70, not 100
		{"cancel=60,replace=50", Mix{}, false},
		{"cancel=-1", Mix{}, false},
		{"bogus=1", Mix{}, false},
		{"market", Mix{}, false},
	} {
		got, err := ParseMix(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("ParseMix(%q) = %+v, %v; want %+v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
		if tc.ok {
			if back, err := ParseMix(got.String()); err != nil || back != got {
				t.Errorf("ParseMix(%q) does not read back: %+v, %v", got.String(), back, err)
			}
		}
	}
}
