package marketdata

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestDepthSide applies random level changes to a depthSide and to a map,
// and checks that the side lists exactly the map's levels, best first.
func TestDepthSide(t *testing.T) {
	for _, bid := range []bool{true, false} {
		rng := rand.New(rand.NewPCG(1, 2))
		d := depthSide{bid: bid}
		ref := map[int64]depthLevel{}
		for i := 0; i < 20000; i++ {
			price := int64(900 + rng.IntN(200))
			qty := int64(rng.IntN(4)) * 10 // a quarter are removals
			count := int32(1 + rng.IntN(5))
			d.apply(price, qty, count)
			if qty == 0 {
				delete(ref, price)
			} else {
				ref[price] = depthLevel{price: price, qty: qty, count: count}
			}
			if i%97 != 0 {
				continue
			}
			want := make([]depthLevel, 0, len(ref))
			for _, l := range ref {
				want = append(want, l)
			}
			slices.SortFunc(want, func(a, b depthLevel) int {
				if bid {
					return int(b.price - a.price)
				}
				return int(a.price - b.price)
			})
			if d.len() != len(want) {
				t.Fatalf("bid=%v step %d: %d levels, want %d", bid, i, d.len(), len(want))
			}
			for j := range want {
				if got := d.at(j); got != want[j] {
					t.Fatalf("bid=%v step %d: level %d = %+v, want %+v", bid, i, j, got, want[j])
				}
			}
			if len(want) > 0 && d.best() != want[0] {
				t.Fatalf("bid=%v: best %+v, want %+v", bid, d.best(), want[0])
			}
		}
	}
}

func TestDepthSideReset(t *testing.T) {
	d := depthSide{bid: false}
	d.reset([]depthLevel{{price: 10, qty: 1, count: 1}, {price: 11, qty: 2, count: 1}, {price: 13, qty: 3, count: 2}})
	d.apply(12, 5, 1)
	d.apply(10, 0, 0)
	want := []depthLevel{{11, 2, 1}, {12, 5, 1}, {13, 3, 2}}
	for i, w := range want {
		if got := d.at(i); got != w {
			t.Fatalf("level %d = %+v, want %+v", i, got, w)
		}
	}
}

func BenchmarkDepthApply(b *testing.B) {
	d := depthSide{bid: true}
	for p := int64(0); p < 1000; p++ {
		d.apply(p, 10, 1)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		p := int64(990 + i%10)
		d.apply(p, int64(i%3)*10, 1)
	}
}
