package perf

import (
	"fmt"
	"sort"
	"sync"
)

// FillCheck matches public trades against private fill notifications. A
// trade, named by its asset and event sequence, must be reported once on
// the public trade channel and once to each of its two owners (the taker's
// and the maker's; both may be the same user), each fill with the traded
// quantity. Trades are forgotten as soon as they are complete, so the
// check holds only the trades still open.
//
// It assumes that every trader on the server is watched: a trade with a
// user the run does not log in as has only one fill to be seen.
type FillCheck struct {
	mu     sync.Mutex
	open   map[tradeKey]*tradeState
	trades int64 // public trades seen
	fills  int64 // fill notifications seen
	extra  int64 // fills beyond two for one trade
	badQty int64 // fills whose quantity differs from the trade's
	first  []string
}

type tradeKey struct {
	asset int
	seq   uint64
}

type tradeState struct {
	public  bool
	qty     int64 // the public trade's quantity
	fills   int
	fillQty [2]int64 // the first two fills' quantities
}

// Trade records a public trade of asset (an index the caller chooses) with
// event sequence seq.
func (c *FillCheck) Trade(asset int, seq uint64, qty int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.trades++
	st := c.state(asset, seq)
	if st.public {
		c.problem(&c.extra, "asset %d seq %d: public trade reported twice", asset, seq)
		return
	}
	st.public, st.qty = true, qty
	for _, fq := range st.fillQty[:min(st.fills, 2)] {
		if fq != qty {
			c.problem(&c.badQty, "asset %d seq %d: fill of %d for a trade of %d", asset, seq, fq, qty)
		}
	}
	c.settle(asset, seq, st)
}

// Fill records a fill notification for trade seq of asset.
func (c *FillCheck) Fill(asset int, seq uint64, qty int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fills++
	st := c.state(asset, seq)
	st.fills++
	if st.fills > 2 {
		c.problem(&c.extra, "asset %d seq %d: %d fill notifications for one trade", asset, seq, st.fills)
		return
	}
	st.fillQty[st.fills-1] = qty
	if st.public && qty != st.qty {
		c.problem(&c.badQty, "asset %d seq %d: fill of %d for a trade of %d", asset, seq, qty, st.qty)
	}
	c.settle(asset, seq, st)
}

func (c *FillCheck) state(asset int, seq uint64) *tradeState {
	if c.open == nil {
		c.open = make(map[tradeKey]*tradeState)
	}
	k := tradeKey{asset, seq}
	st := c.open[k]
	if st == nil {
		st = &tradeState{}
		c.open[k] = st
	}
	return st
}

func (c *FillCheck) settle(asset int, seq uint64, st *tradeState) {
	if st.public && st.fills == 2 {
		delete(c.open, tradeKey{asset, seq})
	}
}

func (c *FillCheck) problem(counter *int64, format string, args ...any) {
	*counter++
	if len(c.first) < maxRecordedLost {
		c.first = append(c.first, fmt.Sprintf(format, args...))
	}
}

// Open is the number of trades not yet complete (a public trade or its
// fills still to come): the run waits for it to reach 0.
func (c *FillCheck) Open() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.open)
}

// Totals returns the public trades and fill notifications seen.
func (c *FillCheck) Totals() (trades, fills int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.trades, c.fills
}

// Failures lists what the check found wrong, one line per kind of
// problem, with the first examples.
func (c *FillCheck) Failures() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var missing, orphan int64
	var examples []string
	keys := make([]tradeKey, 0, len(c.open))
	for k := range c.open {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].asset != keys[j].asset {
			return keys[i].asset < keys[j].asset
		}
		return keys[i].seq < keys[j].seq
	})
	for _, k := range keys {
		st := c.open[k]
		switch {
		case !st.public:
			orphan++
			if len(examples) < maxRecordedLost {
				examples = append(examples, fmt.Sprintf("asset %d seq %d: %d fill notification(s) and no public trade", k.asset, k.seq, st.fills))
			}
		case st.fills < 2:
			missing++
			if len(examples) < maxRecordedLost {
				examples = append(examples, fmt.Sprintf("asset %d seq %d: %d of 2 fill notifications", k.asset, k.seq, st.fills))
			}
		}
	}
	var out []string
	if missing > 0 {
		out = append(out, fmt.Sprintf("%d public trades without both fill notifications (is another user trading on this server?)", missing))
	}
	if orphan > 0 {
		out = append(out, fmt.Sprintf("%d trades notified to an owner but never published", orphan))
	}
	if c.extra > 0 {
		out = append(out, fmt.Sprintf("%d duplicate trade or fill notifications", c.extra))
	}
	if c.badQty > 0 {
		out = append(out, fmt.Sprintf("%d fills whose quantity is not the trade's", c.badQty))
	}
	if len(out) > 0 {
		for _, e := range append(c.first, examples...) {
			out = append(out, "  e.g. "+e)
		}
	}
	return out
}
