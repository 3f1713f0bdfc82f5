package ring_test

import (
	"fmt"
	"sync"

	"github.com/ringex/ringex/ring"
)

type order struct {
	id    int64
	price int64
}

// journal and matcher are two stages; the matcher runs behind the journal.
type journal struct {
	r      *ring.Ring[order]
	logged int
}

func (j *journal) Handle(lo, hi int64) { j.logged += int(hi - lo + 1) }

type matcher struct {
	r     *ring.Ring[order]
	total int64
}

func (m *matcher) Handle(lo, hi int64) {
	for s := lo; s <= hi; s++ {
		m.total += m.r.At(s).price
	}
}

func Example() {
	r, err := ring.New[order](ring.Config{Size: 1024, Wait: ring.Blocking, MultiProducer: true})
	if err != nil {
		panic(err)
	}
	jc := r.NewConsumer("journal")
	mc := r.NewConsumer("matcher", jc) // sees an order only after the journal released it
	r.Start()

	j, m := &journal{r: r}, &matcher{r: r}
	var wg sync.WaitGroup
	for _, run := range []func() error{
		func() error { return jc.Run(j) },
		func() error { return mc.Run(m) },
	} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(); err != nil {
				panic(err)
			}
		}()
	}

	for i := range 100 {
		seq, err := r.Claim(1)
		if err != nil {
			panic(err)
		}
		*r.At(seq) = order{id: int64(i), price: 10}
		r.Publish(seq, seq)
	}
	r.Close() // the consumers drain the 100 orders, then return
	wg.Wait()
	fmt.Println(j.logged, m.total)
	// Output: 100 1000
}
