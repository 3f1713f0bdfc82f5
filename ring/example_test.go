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

// batchJournal journals the orders of every asset in one commit per pass.
type batchJournal struct {
	rings   []*ring.Ring[order]
	commits int
	logged  int
}

func (j *batchJournal) HandleGroup(rs []ring.Range) {
	for _, r := range rs {
		for s := r.Lo; s <= r.Hi; s++ {
			_ = j.rings[r.Member].At(s) // append to the batch
			j.logged++
		}
	}
	j.commits++ // one commit for every asset's orders
}

func ExampleNewGroup() {
	var rings []*ring.Ring[order]
	var journals, matchers []*ring.Consumer
	for range 3 { // one ring per asset
		r, err := ring.New[order](ring.Config{Size: 1024, Wait: ring.Blocking})
		if err != nil {
			panic(err)
		}
		jc := r.NewConsumer("journal")
		rings = append(rings, r)
		journals = append(journals, jc)
		matchers = append(matchers, r.NewConsumer("matcher", jc))
	}
	g, err := ring.NewGroup("journal", journals...) // before Start
	if err != nil {
		panic(err)
	}
	for _, r := range rings {
		r.Start()
	}

	j := &batchJournal{rings: rings}
	ms := make([]*matcher, len(rings))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := g.Run(j); err != nil {
			panic(err)
		}
	}()
	for i, mc := range matchers {
		ms[i] = &matcher{r: rings[i]}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := mc.Run(ms[i]); err != nil { // sees an order only after its pass returned
				panic(err)
			}
		}()
	}

	for i, r := range rings {
		for range 10 {
			seq, err := r.Claim(1)
			if err != nil {
				panic(err)
			}
			*r.At(seq) = order{id: seq, price: int64(i + 1)}
			r.Publish(seq, seq)
		}
		r.Close()
	}
	wg.Wait() // the group returns once every ring is closed and drained
	fmt.Println(j.logged, ms[0].total, ms[1].total, ms[2].total, j.commits <= j.logged)
	// Output: 30 10 20 30 true
}
