package engine

// idMap maps order ids to order slots: an open-addressing hash table with
// linear probing and backward-shift deletion (no tombstones, so lookups
// never slow down with churn). Its load stays at most 1/2. It replaces a Go
// map because every command does one or two lookups and the generic map
// costs several times more per operation on this workload (see doc.go).
type idMap struct {
	slots []idSlot // len is a power of two
	shift uint     // 64 - log2(len(slots))
	n     int
}

// idSlot holds one entry; val is the order index plus one, so that the zero
// slot is empty and any key, including 0, can be stored.
type idSlot struct {
	key uint64
	val int32
}

const idMapMinSize = 1024

func newIDMap(size int) idMap {
	n := idMapMinSize
	for n < 2*size {
		n *= 2
	}
	m := idMap{slots: make([]idSlot, n)}
	m.shift = 64 - log2(uint64(n))
	return m
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

// get returns the order index stored for key.
func (m *idMap) get(key uint64) (int32, bool) {
	mask := uint64(len(m.slots) - 1)
	for i := m.home(key); ; i = (i + 1) & mask {
		s := &m.slots[i]
		if s.val == 0 {
			return nilIndex, false
		}
		if s.key == key {
			return s.val - 1, true
		}
	}
}

// put stores key -> oi. key must not be present.
func (m *idMap) put(key uint64, oi int32) {
	if 2*(m.n+1) > len(m.slots) {
		m.grow()
	}
	mask := uint64(len(m.slots) - 1)
	i := m.home(key)
	for m.slots[i].val != 0 {
		i = (i + 1) & mask
	}
	m.slots[i] = idSlot{key: key, val: oi + 1}
	m.n++
}

// del removes key if present. The entries after it in its probe run are
// shifted back so that every entry stays reachable from its home slot.
func (m *idMap) del(key uint64) {
	mask := uint64(len(m.slots) - 1)
	i := m.home(key)
	for {
		s := &m.slots[i]
		if s.val == 0 {
			return
		}
		if s.key == key {
			break
		}
		i = (i + 1) & mask
	}
	for j := (i + 1) & mask; m.slots[j].val != 0; j = (j + 1) & mask {
		// The entry at j may move to the hole at i only if its home is
		// not in the cyclic range (i, j].
		h := m.home(m.slots[j].key)
		if (j-h)&mask >= (j-i)&mask {
			m.slots[i] = m.slots[j]
			i = j
		}
	}
	m.slots[i] = idSlot{}
	m.n--
}

func (m *idMap) grow() {
	old := m.slots
	m.slots = make([]idSlot, 2*len(old))
	m.shift--
	m.n = 0
	for _, s := range old {
		if s.val != 0 {
			m.put(s.key, s.val-1)
		}
	}
}
