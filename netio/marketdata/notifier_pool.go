package marketdata

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

// put offers v for reuse.
func (f freeList[T]) put(v *T) {
	select {
	case f.c <- v:
	default:
	}
}
