package marketdata

import "testing"

// retainedBatchBytes sums the buffer capacity held by the batches in the
// notifier's free list, by draining and refilling it.
func retainedBatchBytes(n *Notifier) (total int64, count int) {
	var held []*loopBatch
	for {
		select {
		case b := <-n.batches.list.c:
			total += b.capBytes()
			held = append(held, b)
			continue
		default:
		}
		break
	}
	for _, b := range held {
		n.batches.list.c <- b
	}
	return total, len(held)
}

// After a burst in which many batches grew large (loops behind, churn),
// the free list must not keep all of their buffers: memory returns.
func TestBatchFreeListRetainsAtMostItsBudget(t *testing.T) {
	n := NewNotifier(NotifierConfig{})
	const burst = 512
	msg := make([]byte, 256<<10) // 512 x 256 KiB = 128 MiB grown at once
	var out []*loopBatch
	for range burst {
		b := n.getBatch()
		b.addPriv(nil, msg, 1, 0)
		out = append(out, b)
	}
	for _, b := range out {
		n.putBatch(b)
	}
	total, count := retainedBatchBytes(n)
	if count != burst {
		t.Fatalf("free list holds %d batches, want %d (the structs are still recycled)", count, burst)
	}
	// A fixed figure, not maxFreeBatchBytes: the list must keep well under
	// the 128 MiB the burst grew, whatever the budget is set to.
	if total > 32<<20 || total > maxFreeBatchBytes {
		t.Fatalf("free list retains %d MiB of buffers after a 128 MiB burst, want <= 32 MiB and the budget (%d MiB)", total>>20, maxFreeBatchBytes>>20)
	}
	if got := n.batches.bytes.Load(); got != total {
		t.Fatalf("accounted %d bytes, retained %d", got, total)
	}
	// Taking every batch out brings the account back to zero.
	for range burst {
		n.getBatch()
	}
	if got := n.batches.bytes.Load(); got != 0 {
		t.Fatalf("accounted %d bytes with the list empty", got)
	}
}

// The steady state, batches that fit the budget, recycles them with their
// buffers: taking and giving back allocates nothing.
func TestBatchFreeListSteadyStateAllocatesNothing(t *testing.T) {
	n := NewNotifier(NotifierConfig{})
	msg := make([]byte, 64<<10)
	warm := func() {
		var bs [8]*loopBatch
		for i := range bs {
			bs[i] = n.getBatch()
			bs[i].addPriv(nil, msg, 1, 0)
		}
		for _, b := range bs {
			n.putBatch(b)
		}
	}
	warm()
	if allocs := testing.AllocsPerRun(100, warm); allocs != 0 {
		t.Fatalf("%v allocations per round in the steady state, want 0", allocs)
	}
}
