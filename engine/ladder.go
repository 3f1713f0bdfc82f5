package engine

// ladder is one side's price levels, sorted so that the best price is last.
// Keys are prices for bids and negated prices for asks, so on both sides a
// larger key is a better price and "best" is always keys[len-1]: reading the
// best price is one load, and the levels that change most (those at and near
// the top) sit at the end, where inserting or removing moves few elements.
//
// The ladder orders levels; priceMap finds them by price, so the ladder is
// searched only to create or remove a level. It works for any price band,
// which a dense tick-indexed array does not (the default assets span 10^11
// ticks); doc.go has the measurements behind the choice.
type ladder struct {
	keys []int64 // ascending; the best level is last
	lvls []int32 // level index for keys[i]
}

// linearSteps is how many levels search scans from the top before it
// switches to binary search: most prices a command touches are near the top.
const linearSteps = 8

// search returns the position of key: the first i with keys[i] >= key (len
// if none), and whether keys[i] == key.
func (l *ladder) search(key int64) (int, bool) {
	keys := l.keys
	i := len(keys)
	for n := 0; n < linearSteps; n++ {
		if i == 0 || keys[i-1] < key {
			return i, i < len(keys) && keys[i] == key
		}
		i--
	}
	// keys[i] >= key: the answer is in [0, i].
	lo, hi := 0, i
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if keys[m] < key {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, keys[lo] == key
}

// insert puts key and its level at position i.
func (l *ladder) insert(i int, key int64, li int32) {
	if i == len(l.keys) {
		l.keys = append(l.keys, key)
		l.lvls = append(l.lvls, li)
		return
	}
	l.keys = append(l.keys, 0)
	l.lvls = append(l.lvls, 0)
	copy(l.keys[i+1:], l.keys[i:])
	copy(l.lvls[i+1:], l.lvls[i:])
	l.keys[i] = key
	l.lvls[i] = li
}

// removeAt deletes position i.
func (l *ladder) removeAt(i int) {
	n := len(l.keys) - 1
	if i != n {
		copy(l.keys[i:], l.keys[i+1:])
		copy(l.lvls[i:], l.lvls[i+1:])
	}
	l.keys = l.keys[:n]
	l.lvls = l.lvls[:n]
}

// best returns the best level, or nilIndex if the side is empty.
func (l *ladder) best() int32 {
	if n := len(l.lvls); n > 0 {
		return l.lvls[n-1]
	}
	return nilIndex
}

// reaches reports whether an order of side s (the other side) with limit
// price limit would trade with this ladder's best level. It reads only the
// ladder's keys, which stay in cache, not the level: the best key is the best
// price, negated for asks, so the test is one add for either side (a buy at
// limit reaches an ask at p if limit-p >= 0, a sell reaches a bid at p if
// p-limit >= 0).
func (l *ladder) reaches(s Side, limit int64) bool {
	n := len(l.keys)
	return n > 0 && sideKey(s, limit)+l.keys[n-1] >= 0
}

// sideKey maps a price to its ladder key on side (Buy or Sell): price for
// bids, -price for asks, computed without a branch.
func sideKey(side Side, price int64) int64 {
	return price * (3 - 2*int64(side))
}

func newLadder(n int) ladder {
	return ladder{keys: make([]int64, 0, n), lvls: make([]int32, 0, n)}
}
