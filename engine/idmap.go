package engine

// idMap maps order ids to order slots: an open-addressing hash table with
// linear probing and backward-shift deletion (no tombstones, so lookups do
// not slow down with churn), at most half full.
//
// A slot holds only the order's index plus one (0 is empty), 4 bytes; the
// key is the id of the order it points to. Every lookup that finds an order
// goes on to read that order anyway, so keeping keys out of the table costs
// nothing on a hit and makes the table a quarter of the size of a
// key-and-value one: the table for a book of 10,000 orders fits in 128 KiB,
// inside the L2 cache, which is what matters when commands name orders at
// random. The generic Go map costs several times more per operation here
// (see doc.go).
type idMap struct {
	slots []int32 // len is a power of two
	shift uint    // 64 - log2(len(slots))
	n     int
}

const idMapMinSize = 1024

func newIDMap(size int) idMap {
	n := idMapMinSize
	for n < 2*size {
		n *= 2
	}
	return idMap{slots: make([]int32, n), shift: 64 - log2(uint64(n))}
}

func log2(n uint64) uint {
	var k uint
	for n > 1 {
		n >>= 1
		k++
	}
	return k
}

// home is key's preferred slot (Fibonacci hashing: order ids are often
// sequential, and the multiply spreads them over the table).
func (m *idMap) home(key uint64) uint64 {
	return (key * 0x9E3779B97F4A7C15) >> m.shift
}

// get returns the index of the order with id key.
func (m *idMap) get(key uint64, orders []order) (int32, bool) {
	mask := uint64(len(m.slots) - 1)
	for i := m.home(key); ; i = (i + 1) & mask {
		v := m.slots[i]
		if v == 0 {
			return nilIndex, false
		}
		if orders[v-1].id == key {
			return v - 1, true
		}
	}
}

// put indexes order oi, whose id must not be present.
func (m *idMap) put(oi int32, orders []order) {
	if 2*(m.n+1) > len(m.slots) {
		m.grow(orders)
	}
	mask := uint64(len(m.slots) - 1)
	i := m.home(orders[oi].id)
	for m.slots[i] != 0 {
		i = (i + 1) & mask
	}
	m.slots[i] = oi + 1
	m.n++
}

// del removes key if present. It must be called while the order still holds
// its id. The entries after it in its probe run are shifted back so that
// every entry stays reachable from its home slot.
func (m *idMap) del(key uint64, orders []order) {
	mask := uint64(len(m.slots) - 1)
	i := m.home(key)
	for {
		v := m.slots[i]
		if v == 0 {
			return
		}
		if orders[v-1].id == key {
			break
		}
		i = (i + 1) & mask
	}
	for j := (i + 1) & mask; m.slots[j] != 0; j = (j + 1) & mask {
		// The entry at j may move to the hole at i only if its home is
		// not in the cyclic range (i, j].
		h := m.home(orders[m.slots[j]-1].id)
		if (j-h)&mask >= (j-i)&mask {
			m.slots[i] = m.slots[j]
			i = j
		}
	}
	m.slots[i] = 0
	m.n--
}

func (m *idMap) grow(orders []order) {
	old := m.slots
	m.slots = make([]int32, 2*len(old))
	m.shift--
	m.n = 0
	for _, v := range old {
		if v != 0 {
			m.put(v-1, orders)
		}
	}
}
