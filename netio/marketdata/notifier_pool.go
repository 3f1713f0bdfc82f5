package marketdata

import "sync/atomic"

// freeList recycles values between the notifier goroutines, which take
// them, and the event loops, which give them back. Unlike sync.Pool it is
// not emptied by the garbage collector, so the steady state allocates
// nothing; past its capacity (a burst), values are left to the collector.
type freeList[T any] struct {
	c chan *T
}

func newFreeList[T any](capacity int) freeList[T] {
	return freeList[T]{c: make(chan *T, capacity)}
}

// get returns a recycled value or a new one.
func (f freeList[T]) get() *T {
	select {
	case v := <-f.c:
		return v
	default:
		return new(T)
	}
}

// put offers v for reuse and reports whether the list took it.
func (f freeList[T]) put(v *T) bool {
	select {
	case f.c <- v:
		return true
	default:
		return false
	}
}

// maxFreeBatchBytes bounds the buffer capacity the notifier's free list of
// loop batches retains in total. A batch grows with the private events of
// one pass, and when the loops fall behind (a burst of subscribers, churn)
// thousands of batches grow large at once; kept in full, they would hold
// that high-water mark for good (570 MiB at 7,848 subscribers). Past the
// budget a batch goes back without its buffers, so memory returns after a
// burst, while the steady state, whose batches fit well inside it, keeps
// recycling them without allocating.
const maxFreeBatchBytes = 16 << 20

// batchPool is the free list of loop batches with its byte budget.
type batchPool struct {
	list  freeList[loopBatch]
	bytes atomic.Int64 // buffer capacity of the batches in list (an upper bound while one is in flight)
}

func newBatchPool(capacity int) *batchPool {
	return &batchPool{list: newFreeList[loopBatch](capacity)}
}

// get returns a reset batch, recycled if one is free.
func (p *batchPool) get() *loopBatch {
	b := p.list.get()
	if c := b.capBytes(); c != 0 {
		p.bytes.Add(-c)
	}
	return b
}

// put resets b and offers it for reuse, without its buffers if keeping
// them would take the list past maxFreeBatchBytes.
func (p *batchPool) put(b *loopBatch) {
	b.reset()
	c := b.capBytes()
	if c != 0 && p.bytes.Add(c) > maxFreeBatchBytes {
		p.bytes.Add(-c)
		b.priv, b.items, b.ctl = nil, nil, nil
		c = 0
	}
	if !p.list.put(b) && c != 0 {
		p.bytes.Add(-c)
	}
}
