package engine

// priceMap finds the level at a price: the same open-addressing scheme as
// idMap (linear probing, backward-shift deletion, at most half full, 4-byte
// slots holding a level index plus one), keyed by the level's price. A price
// is on at most one side of the book at any time (the book is never
// crossed), so one table serves both sides.
//
// Most commands rest or move an order to a price that already has a level;
// this makes finding it O(1) instead of a search of the ladder, which is
// then needed only to create or remove a level.
type priceMap struct {
	slots []int32 // len is a power of two
	shift uint    // 64 - log2(len(slots))
	n     int
}

func newPriceMap(size int) priceMap {
	n := 256
	for n < 2*size {
		n *= 2
	}
	return priceMap{slots: make([]int32, n), shift: 64 - log2(uint64(n))}
}

func (m *priceMap) home(price int64) uint64 {
	return (uint64(price) * 0x9E3779B97F4A7C15) >> m.shift
}

// get returns the level at price.
func (m *priceMap) get(price int64, levels []level) (int32, bool) {
	mask := uint64(len(m.slots) - 1)
	for i := m.home(price); ; i = (i + 1) & mask {
		v := m.slots[i]
		if v == 0 {
			return nilIndex, false
		}
		if levels[v-1].price == price {
			return v - 1, true
		}
	}
}

// put indexes level li, whose price must not be present.
func (m *priceMap) put(li int32, levels []level) {
	if 2*(m.n+1) > len(m.slots) {
		m.grow(levels)
	}
	mask := uint64(len(m.slots) - 1)
	i := m.home(levels[li].price)
	for m.slots[i] != 0 {
		i = (i + 1) & mask
	}
	m.slots[i] = li + 1
	m.n++
}

// del removes price. It must be called while the level still holds its
// price.
func (m *priceMap) del(price int64, levels []level) {
	mask := uint64(len(m.slots) - 1)
	i := m.home(price)
	for {
		v := m.slots[i]
		if v == 0 {
			return
		}
		if levels[v-1].price == price {
			break
		}
		i = (i + 1) & mask
	}
	for j := (i + 1) & mask; m.slots[j] != 0; j = (j + 1) & mask {
		h := m.home(levels[m.slots[j]-1].price)
		if (j-h)&mask >= (j-i)&mask {
			m.slots[i] = m.slots[j]
			i = j
		}
	}
	m.slots[i] = 0
	m.n--
}

func (m *priceMap) grow(levels []level) {
	old := m.slots
	m.slots = make([]int32, 2*len(old))
	m.shift--
	m.n = 0
	for _, v := range old {
		if v != 0 {
			m.put(v-1, levels)
		}
	}
}
