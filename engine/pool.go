package engine

// This file holds the book's storage: orders and price levels live in two
// slabs (plain slices of fixed-size structs) and refer to each other by int32
// index, never by pointer. Freed slots go on a free list threaded through the
// slot itself, so in steady state the book allocates nothing: a slab only
// grows when the book holds more orders or levels than it ever held before.
// Indices rather than pointers also keep the slabs free of pointers, so the
// garbage collector never scans them.

// The structs here are written field by field rather than assigned from
// composite literals: the compiler builds a literal in a temporary and copies
// it with 16-byte loads, which stall on the narrow stores that just filled the
// temporary (store-to-load forwarding fails), costing more than the rest of
// the write.

// nilIndex marks the end of a list (no order, no level).
const nilIndex int32 = -1

// order is one resting order (or a replaced order while it matches as a
// taker). prev and next link it into its level's FIFO; on the free list next
// links free slots.
type order struct {
	id       uint64
	clientID uint64
	price    int64
	qty      int64 // open quantity; always > 0 while linked
	user     uint32
	prev     int32
	next     int32
	level    int32
	side     Side
	stp      STPMode
	postOnly bool
}

// level is one price on one side: a FIFO of orders in time priority plus
// the aggregates market data needs. qty is always the sum of its orders' qty
// and count their number.
type level struct {
	price int64
	qty   int64
	count int32
	head  int32
	tail  int32
	side  Side

	// stamp is the Submit that last recorded this level in Book.changes,
	// and change its index there; see Book.touch.
	change int32
	stamp  uint64
}

// allocOrder returns the index of a free order slot.
func (b *Book) allocOrder() int32 {
	if oi := b.freeOrders; oi != nilIndex {
		b.freeOrders = b.orders[oi].next
		return oi
	}
	b.orders = append(b.orders, order{})
	return int32(len(b.orders) - 1)
}

func (b *Book) freeOrder(oi int32) {
	o := &b.orders[oi]
	*o = order{}
	o.next, o.prev, o.level = b.freeOrders, nilIndex, nilIndex
	b.freeOrders = oi
}

// allocLevel returns the index of an empty level for side and price.
func (b *Book) allocLevel(side Side, price int64) int32 {
	li := b.freeLevels
	if li != nilIndex {
		b.freeLevels = b.levels[li].head
	} else {
		b.levels = append(b.levels, level{})
		li = int32(len(b.levels) - 1)
	}
	lv := &b.levels[li]
	*lv = level{}
	lv.price, lv.side, lv.head, lv.tail = price, side, nilIndex, nilIndex
	return li
}

// freeLevel returns an empty level to the free list. Its stamp is cleared so
// that a reuse within the same Submit records a new change entry instead of
// overwriting the one for the old price.
func (b *Book) freeLevel(li int32) {
	lv := &b.levels[li]
	*lv = level{}
	lv.head, lv.tail = b.freeLevels, nilIndex
	b.freeLevels = li
}

// pushBack appends order oi to the tail of level li (lowest time priority).
func (b *Book) pushBack(li, oi int32) {
	lv := &b.levels[li]
	o := &b.orders[oi]
	o.level = li
	o.next = nilIndex
	o.prev = lv.tail
	if lv.tail != nilIndex {
		b.orders[lv.tail].next = oi
	} else {
		lv.head = oi
	}
	lv.tail = oi
	lv.count++
	lv.qty += o.qty
}

// unlink removes order oi from its level, leaving the level possibly empty.
func (b *Book) unlink(oi int32) {
	o := &b.orders[oi]
	lv := &b.levels[o.level]
	if o.prev != nilIndex {
		b.orders[o.prev].next = o.next
	} else {
		lv.head = o.next
	}
	if o.next != nilIndex {
		b.orders[o.next].prev = o.prev
	} else {
		lv.tail = o.prev
	}
	lv.count--
	lv.qty -= o.qty
	o.prev, o.next, o.level = nilIndex, nilIndex, nilIndex
}
