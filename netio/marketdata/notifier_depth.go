package marketdata

// depthLevel is one price level of the notifier's L2 picture.
type depthLevel struct {
	price int64
	qty   int64
	count int32
}

// depthSide is one side of an asset's L2 depth as the notifier knows it,
// built only from the level changes of the output ring (and the book's own
// depth at start-up). Because the subscribe snapshot is read from this
// picture under the same lock that applies the changes, a snapshot followed
// by the increments published after it rebuilds the book exactly.
//
// Levels are sorted with the best price last: bids ascending, asks
// descending. Most changes happen near the top of the book, so inserting or
// removing there moves few elements.
type depthSide struct {
	bid    bool
	levels []depthLevel
}

// nearer reports whether price a sorts before price b, that is, is further
// from the top of the book.
func (d *depthSide) nearer(a, b int64) bool {
	if d.bid {
		return a < b
	}
	return a > b
}

// find returns the index where price is or would be inserted.
func (d *depthSide) find(price int64) (int, bool) {
	lo, hi := 0, len(d.levels)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if d.nearer(d.levels[m].price, price) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(d.levels) && d.levels[lo].price == price
}

// apply sets the level at price; a zero quantity removes it.
func (d *depthSide) apply(price, qty int64, count int32) {
	i, found := d.find(price)
	switch {
	case qty == 0 && found:
		d.levels = append(d.levels[:i], d.levels[i+1:]...)
	case qty == 0:
		// Removing a level we do not have: the picture and the stream
		// disagree, which the tests catch through the final comparison.
	case found:
		d.levels[i].qty, d.levels[i].count = qty, count
	default:
		d.levels = append(d.levels, depthLevel{})
		copy(d.levels[i+1:], d.levels[i:])
		d.levels[i] = depthLevel{price: price, qty: qty, count: count}
	}
}

// best returns the top level, or a zero level when the side is empty.
func (d *depthSide) best() depthLevel {
	if n := len(d.levels); n > 0 {
		return d.levels[n-1]
	}
	return depthLevel{}
}

// len reports how many levels the side has.
func (d *depthSide) len() int { return len(d.levels) }

// at returns the i-th level counted from the top (0 is the best).
func (d *depthSide) at(i int) depthLevel { return d.levels[len(d.levels)-1-i] }

// reset replaces the side with levels given best first.
func (d *depthSide) reset(bestFirst []depthLevel) {
	d.levels = d.levels[:0]
	for i := len(bestFirst) - 1; i >= 0; i-- {
		d.levels = append(d.levels, bestFirst[i])
	}
}
