package engine

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestIDMap drives idMap and a Go map with the same random puts and deletes
// (clustered keys, so that probe runs are long and deletions shift) and
// requires the same answers.
func TestIDMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var orders []order
	var free []int32
	m := newIDMap(0)
	want := map[uint64]int32{}
	for i := range 200_000 {
		key := uint64(rng.IntN(3000))
		if rng.IntN(7) == 0 {
			key <<= 40 // far keys too
		}
		oi, ok := m.get(key, orders)
		w, wok := want[key]
		if ok != wok || ok && oi != w {
			t.Fatalf("step %d: get(%d) = %d %v, want %d %v", i, key, oi, ok, w, wok)
		}
		if ok {
			m.del(key, orders)
			delete(want, key)
			free = append(free, oi)
			continue
		}
		if n := len(free); n > 0 {
			oi, free = free[n-1], free[:n-1]
		} else {
			orders = append(orders, order{})
			oi = int32(len(orders) - 1)
		}
		orders[oi].id = key
		m.put(oi, orders)
		want[key] = oi
		if m.n != len(want) {
			t.Fatalf("step %d: %d entries, want %d", i, m.n, len(want))
		}
	}
	for k, w := range want {
		if oi, ok := m.get(k, orders); !ok || oi != w {
			t.Fatalf("final get(%d) = %d %v, want %d", k, oi, ok, w)
		}
	}
}

// TestPriceMap does the same for priceMap.
func TestPriceMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var levels []level
	var free []int32
	m := newPriceMap(0)
	want := map[int64]int32{}
	for i := range 200_000 {
		price := int64(rng.IntN(2000)) * 5
		li, ok := m.get(price, levels)
		w, wok := want[price]
		if ok != wok || ok && li != w {
			t.Fatalf("step %d: get(%d) = %d %v, want %d %v", i, price, li, ok, w, wok)
		}
		if ok {
			m.del(price, levels)
			delete(want, price)
			free = append(free, li)
			continue
		}
		if n := len(free); n > 0 {
			li, free = free[n-1], free[:n-1]
		} else {
			levels = append(levels, level{})
			li = int32(len(levels) - 1)
		}
		levels[li].price = price
		m.put(li, levels)
		want[price] = li
	}
}

// TestLadder checks search, insert and removeAt against a sorted slice.
func TestLadder(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	l := newLadder(0)
	var want []int64
	for i := range 50_000 {
		key := int64(rng.IntN(500) - 250)
		pos, found := l.search(key)
		wpos, wfound := slices.BinarySearch(want, key)
		if pos != wpos || found != wfound {
			t.Fatalf("step %d: search(%d) = %d %v, want %d %v", i, key, pos, found, wpos, wfound)
		}
		if found {
			l.removeAt(pos)
			want = slices.Delete(want, pos, pos+1)
		} else {
			l.insert(pos, key, int32(key))
			want = slices.Insert(want, pos, key)
		}
		if !slices.Equal(l.keys, want) {
			t.Fatalf("step %d: keys %v, want %v", i, l.keys, want)
		}
		for j, k := range l.keys {
			if l.lvls[j] != int32(k) {
				t.Fatalf("step %d: level %d for key %d", i, l.lvls[j], k)
			}
		}
	}
}

// BenchmarkLevelLookup compares ways to find the level at a price, with
// prices drawn as the book benchmarks draw them (most near the top of a
// side of 400 levels): a search of the sorted ladder, priceMap, a Go map,
// and a dense array indexed by tick (which the engine cannot use in
// general: the default assets' bands are 10^11 ticks wide).
func BenchmarkLevelLookup(b *testing.B) {
	const levels = 400
	rng := rand.New(rand.NewPCG(7, 8))
	var lv []level
	l := newLadder(levels)
	pm := newPriceMap(levels)
	gm := map[int64]int32{}
	dense := make([]int32, 2*levels+2)
	for i := range levels {
		price := int64(benchMid - 1 - i)
		lv = append(lv, level{price: price})
		li := int32(len(lv) - 1)
		l.keys = append(l.keys, 0)
		l.lvls = append(l.lvls, 0)
		copy(l.keys[1:], l.keys)
		copy(l.lvls[1:], l.lvls)
		l.keys[0], l.lvls[0] = price, li
		pm.put(li, lv)
		gm[price] = li
		dense[price-(benchMid-2*levels)] = li + 1
	}
	queries := make([]int64, 4096)
	for i := range queries {
		d := 1 + rng.IntN(levels)*rng.IntN(levels)/levels
		queries[i] = int64(benchMid - d)
	}
	sink := int32(0)
	b.Run("ladder", func(b *testing.B) {
		for i := range b.N {
			pos, _ := l.search(queries[i&4095])
			sink += l.lvls[pos]
		}
	})
	b.Run("priceMap", func(b *testing.B) {
		for i := range b.N {
			li, _ := pm.get(queries[i&4095], lv)
			sink += li
		}
	})
	b.Run("gomap", func(b *testing.B) {
		for i := range b.N {
			sink += gm[queries[i&4095]]
		}
	})
	b.Run("dense", func(b *testing.B) {
		for i := range b.N {
			sink += dense[queries[i&4095]-(benchMid-2*levels)]
		}
	})
	_ = sink
}

// BenchmarkIDLookup compares idMap with a Go map for finding one of 10,000
// resting orders by id.
func BenchmarkIDLookup(b *testing.B) {
	const n = 10_000
	rng := rand.New(rand.NewPCG(9, 10))
	orders := make([]order, n)
	m := newIDMap(n)
	gm := make(map[uint64]int32, n)
	for i := range orders {
		orders[i].id = uint64(1_000_000 + i*3)
		m.put(int32(i), orders)
		gm[orders[i].id] = int32(i)
	}
	queries := make([]uint64, 4096)
	for i := range queries {
		queries[i] = orders[rng.IntN(n)].id
	}
	sink := int32(0)
	b.Run("idMap", func(b *testing.B) {
		for i := range b.N {
			oi, _ := m.get(queries[i&4095], orders)
			sink += oi
		}
	})
	b.Run("gomap", func(b *testing.B) {
		for i := range b.N {
			sink += gm[queries[i&4095]]
		}
	})
	_ = sink
}
