package fanout

// Check is one subscriber's account of the trades it received: how many,
// whether each came after the previous one, and a running hash of their
// sequences, so that two subscribers that got the same trades in the same
// order have equal Checks. It is a few words: a run keeps one per
// subscriber.
type Check struct {
	Count      uint64 // trades received
	Last       uint64 // the sequence of the last one (Subscribed's at the start)
	OutOfOrder uint64 // trades whose sequence was not above the previous one's
	Gaps       uint64 // Contiguous: sequences skipped
	Hash       uint64 // FNV-1a over the sequences, in order of arrival
	Contiguous bool   // the feed numbers its trades without gaps (a floor; not ringexd, whose trades channel skips the sequences of other events)
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// Start resets c at a subscription confirmed at sequence seq.
func (c *Check) Start(seq uint64, contiguous bool) {
	*c = Check{Last: seq, Hash: fnvOffset, Contiguous: contiguous}
}

// Trade accounts for one trade of sequence seq.
func (c *Check) Trade(seq uint64) {
	c.Count++
	switch {
	case seq <= c.Last:
		c.OutOfOrder++
	case c.Contiguous && seq != c.Last+1:
		c.Gaps += seq - c.Last - 1
	}
	if seq > c.Last {
		c.Last = seq
	}
	c.Hash = (c.Hash ^ seq) * fnvPrime
}
