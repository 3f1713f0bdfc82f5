package ring

import (
	"sync"
	"syscall"
	"testing"
	"time"
)

// Every ring benchmark has a buffered-channel twin doing the same work, so
// one `go test -bench` run gives the ratio. ns/op is per message; msgs/s
// is reported too. The rings use BusySpin (the latency configuration).

const benchSize = 1 << 16 // ring entries and channel buffer

type benchEntry struct{ v int64 }

// sumHandler reads every entry of its batch.
type sumHandler struct {
	r   *Ring[benchEntry]
	sum int64
}

func (h *sumHandler) Handle(lo, hi int64) {
	for s := lo; s <= hi; s++ {
		h.sum += h.r.At(s).v
	}
}

func reportRate(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// benchRing sends b.N messages from producers goroutines, claiming batch
// slots at a time, through a chain of stages consumers, each behind the
// previous one.
func benchRing(b *testing.B, producers, batch, stages int) {
	benchRingWait(b, BusySpin, producers, batch, stages)
}

func benchRingWait(b *testing.B, wait WaitStrategy, producers, batch, stages int) {
	r, err := New[benchEntry](Config{Size: benchSize, Wait: wait, MultiProducer: producers > 1})
	if err != nil {
		b.Fatal(err)
	}
	var cons []*Consumer
	for i := range stages {
		var deps []*Consumer
		if i > 0 {
			deps = append(deps, cons[i-1])
		}
		cons = append(cons, r.NewConsumer("stage", deps...))
	}
	r.Start()
	var consumers sync.WaitGroup
	for _, c := range cons {
		consumers.Add(1)
		go func() {
			defer consumers.Done()
			if err := c.Run(&sumHandler{r: r}); err != nil {
				b.Error(err)
			}
		}()
	}
	produce := func(count int) {
		for i := 0; i < count; i += batch {
			n := min(batch, count-i)
			hi, err := r.Claim(n)
			if err != nil {
				b.Error(err)
				return
			}
			lo := hi - int64(n) + 1
			for s := lo; s <= hi; s++ {
				r.At(s).v = s
			}
			r.Publish(lo, hi)
		}
	}

	b.ReportAllocs()
	b.ResetTimer()
	if producers == 1 {
		produce(b.N)
	} else {
		var wg sync.WaitGroup
		for p := range producers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				produce(share(b.N, producers, p))
			}()
		}
		wg.Wait()
	}
	r.Close()
	consumers.Wait() // the consumers drain everything before returning
	b.StopTimer()
	reportRate(b)
}

// share is producer p's part of n messages.
func share(n, producers, p int) int {
	s := n / producers
	if p == 0 {
		s += n % producers
	}
	return s
}

func BenchmarkRingSPSC(b *testing.B)        { benchRing(b, 1, 1, 1) }
func BenchmarkRingSPSCBatch16(b *testing.B) { benchRing(b, 1, 16, 1) }
func BenchmarkRingMPSC4(b *testing.B)       { benchRing(b, 4, 1, 1) }
func BenchmarkRingPipeline3(b *testing.B)   { benchRing(b, 1, 1, 3) }

// BenchmarkRingSPSCBlocking and BenchmarkRingMPSC4Blocking show the cost of
// the Blocking strategy that the pipeline runs with by default: sequentially
// consistent publishes plus a check for parked consumers.
func BenchmarkRingSPSCBlocking(b *testing.B)  { benchRingWait(b, Blocking, 1, 1, 1) }
func BenchmarkRingMPSC4Blocking(b *testing.B) { benchRingWait(b, Blocking, 4, 1, 1) }

// BenchmarkRingMPSC4Batch16 is MPSC4 with each producer claiming 16 slots
// at a time: one compare-and-swap per 16 messages.
func BenchmarkRingMPSC4Batch16(b *testing.B) { benchRing(b, 4, 16, 1) }

func BenchmarkChanSPSC(b *testing.B) {
	ch := make(chan int64, benchSize)
	done := make(chan int64)
	go func() {
		var sum int64
		for v := range ch {
			sum += v
		}
		done <- sum
	}()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		ch <- int64(i)
	}
	close(ch)
	<-done
	b.StopTimer()
	reportRate(b)
}

// BenchmarkChanSPSCBatch16 is the channel's best answer to batching: one
// send carries 16 messages.
func BenchmarkChanSPSCBatch16(b *testing.B) {
	ch := make(chan [16]int64, benchSize/16)
	done := make(chan int64)
	go func() {
		var sum int64
		for batch := range ch {
			for _, v := range batch {
				sum += v
			}
		}
		done <- sum
	}()
	b.ReportAllocs()
	b.ResetTimer()
	var batch [16]int64
	for i := 0; i < b.N; i += 16 {
		for j := range batch {
			batch[j] = int64(i + j)
		}
		ch <- batch
	}
	close(ch)
	<-done
	b.StopTimer()
	reportRate(b)
}

func BenchmarkChanMPSC4(b *testing.B) {
	const producers = 4
	ch := make(chan int64, benchSize)
	done := make(chan int64)
	go func() {
		var sum int64
		for v := range ch {
			sum += v
		}
		done <- sum
	}()
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range share(b.N, producers, p) {
				ch <- int64(i)
			}
		}()
	}
	wg.Wait()
	close(ch)
	<-done
	b.StopTimer()
	reportRate(b)
}

func BenchmarkChanMPSC4Batch16(b *testing.B) {
	const producers = 4
	ch := make(chan [16]int64, benchSize/16)
	done := make(chan int64)
	go func() {
		var sum int64
		for batch := range ch {
			for _, v := range batch {
				sum += v
			}
		}
		done <- sum
	}()
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var batch [16]int64
			for i := 0; i < share(b.N, producers, p); i += 16 {
				for j := range batch {
					batch[j] = int64(i + j)
				}
				ch <- batch
			}
		}()
	}
	wg.Wait()
	close(ch)
	<-done
	b.StopTimer()
	reportRate(b)
}

// BenchmarkChanPipeline3 passes every message through three stages, each a
// goroutine reading one channel and writing the next.
func BenchmarkChanPipeline3(b *testing.B) {
	in := make(chan int64, benchSize)
	mid1 := make(chan int64, benchSize)
	mid2 := make(chan int64, benchSize)
	done := make(chan int64)
	stage := func(from <-chan int64, to chan<- int64) {
		for v := range from {
			to <- v
		}
		close(to)
	}
	go stage(in, mid1)
	go stage(mid1, mid2)
	go func() {
		var sum int64
		for v := range mid2 {
			sum += v
		}
		done <- sum
	}()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		in <- int64(i)
	}
	close(in)
	<-done
	b.StopTimer()
	reportRate(b)
}

// groupSumHandler reads every entry of every range of a group pass.
type groupSumHandler struct {
	rings  []*Ring[benchEntry]
	sum    int64
	passes int
}

func (h *groupSumHandler) HandleGroup(rs []Range) {
	h.passes++
	for _, r := range rs {
		ring := h.rings[r.Member]
		for s := r.Lo; s <= r.Hi; s++ {
			h.sum += ring.At(s).v
		}
	}
}

// benchRings sends b.N messages over three rings, one producer goroutine
// each, read either by one Group (group) or by three Consumers, one per
// ring: what ringexd's journal does with three assets, with and without a
// group.
func benchRings(b *testing.B, wait WaitStrategy, group bool) {
	const n = 3
	var rings []*Ring[benchEntry]
	var cons []*Consumer
	for range n {
		r, err := New[benchEntry](Config{Size: benchSize, Wait: wait})
		if err != nil {
			b.Fatal(err)
		}
		rings = append(rings, r)
		cons = append(cons, r.NewConsumer("journal"))
	}
	var runs []func() error
	gh := &groupSumHandler{rings: rings}
	if group {
		g, err := NewGroup("journal", cons...)
		if err != nil {
			b.Fatal(err)
		}
		runs = append(runs, func() error { return g.Run(gh) })
	} else {
		for i, c := range cons {
			runs = append(runs, func() error { return c.Run(&sumHandler{r: rings[i]}) })
		}
	}
	for _, r := range rings {
		r.Start()
	}
	var consumers sync.WaitGroup
	for _, run := range runs {
		consumers.Add(1)
		go func() {
			defer consumers.Done()
			if err := run(); err != nil {
				b.Error(err)
			}
		}()
	}

	b.ReportAllocs()
	b.ResetTimer()
	before := benchRusage(b)
	var producers sync.WaitGroup
	for p, r := range rings {
		producers.Add(1)
		go func() {
			defer producers.Done()
			for range share(b.N, n, p) {
				hi, err := r.Claim(1)
				if err != nil {
					b.Error(err)
					return
				}
				r.At(hi).v = hi
				r.Publish(hi, hi)
			}
			r.Close()
		}()
	}
	producers.Wait()
	consumers.Wait()
	b.StopTimer()
	after := benchRusage(b)
	reportRate(b)
	// Process-wide counts, which a loaded machine moves less than ns/op:
	// CPU time and voluntary context switches (parks that reached the OS).
	cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/msg")
	b.ReportMetric(float64(after.Nvcsw-before.Nvcsw)*1000/float64(b.N), "vcsw/kmsg")
	if group {
		b.ReportMetric(float64(b.N)/float64(max(gh.passes, 1)), "msgs/pass")
	}
}

// BenchmarkGroup3 and BenchmarkSeparate3 compare one Group reading three
// rings with a Consumer per ring; the Blocking pair is ringexd's default.
func BenchmarkGroup3(b *testing.B)            { benchRings(b, BusySpin, true) }
func BenchmarkSeparate3(b *testing.B)         { benchRings(b, BusySpin, false) }
func BenchmarkGroup3Blocking(b *testing.B)    { benchRings(b, Blocking, true) }
func BenchmarkSeparate3Blocking(b *testing.B) { benchRings(b, Blocking, false) }

// benchPublishAlone measures a claim and publish with nobody reading: one
// goroutine, no cache-line transfers, so that the cost of the publish path
// itself (a wake check, under Blocking) shows through the noise of a
// shared machine. The consumer never runs; the benchmark releases for it.
func benchPublishAlone(b *testing.B, wait WaitStrategy, multi bool) {
	r, err := New[benchEntry](Config{Size: benchSize, Wait: wait, MultiProducer: multi})
	if err != nil {
		b.Fatal(err)
	}
	c := r.NewConsumer("idle")
	r.Start()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		hi, err := r.Claim(1)
		if err != nil {
			b.Fatal(err)
		}
		r.At(hi).v = hi
		r.Publish(hi, hi)
		if hi&1023 == 1023 {
			c.seq.value.Store(hi)
		}
	}
}

func BenchmarkPublishAlone(b *testing.B)              { benchPublishAlone(b, BusySpin, false) }
func BenchmarkPublishAloneBlocking(b *testing.B)      { benchPublishAlone(b, Blocking, false) }
func BenchmarkPublishAloneMulti(b *testing.B)         { benchPublishAlone(b, BusySpin, true) }
func BenchmarkPublishAloneMultiBlocking(b *testing.B) { benchPublishAlone(b, Blocking, true) }

func benchRusage(b *testing.B) syscall.Rusage {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru
}
