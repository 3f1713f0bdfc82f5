package perf

import (
	"math"
	"sync"
	"time"
)

// Request states, the bits of Tracker.state.
const (
	stAcked    uint8 = 1 << iota // answered with an ack
	stRejected                   // answered with a reject
	stRested                     // the order rested on the book (an accepted event)
	stTaker                      // its first fill as a taker has been timed
	stEnded                      // the order left the book (done, canceled)
)

// maxRecordedLost bounds the lost request numbers a Tracker lists.
const maxRecordedLost = 10

// Tracker is the request table of one connection. Requests are numbered
// 1, 2, 3, ... as they are sent (the caller builds its client order ids
// from the number, and the answers name it again), and the tracker keeps
// each one's intended send time and state for the whole run. That is what
// lets it prove exactly-once: an answer for a number already answered is a
// duplicate, one for a number never sent is unknown, and a number with no
// answer at the end is lost. It costs 14 bytes per request.
//
// Latencies are charged from the intended time: the ack latency when the
// answer arrives, the order-to-fill latency when the first fill of an order
// that took liquidity on arrival is notified.
type Tracker struct {
	base   time.Time
	window *Window
	ack    *Recorder // from the intended send time
	svc    *Recorder // from the actual send time
	fill   *Recorder
	lag    *Recorder

	mu       sync.Mutex
	intended []int64 // by number-1: nanoseconds from base
	lags     []int32 // by number-1: actual minus intended send time, ns, saturated
	tags     []uint8 // by number-1: the caller's tag (the request's kind)
	state    []uint8 // by number-1: stXxx bits
	acked    int64
	rejected int64
	dupes    int64
	unknown  int64
	rejects  map[uint16]int64 // rejects by reason code
}

// Add registers a request meant to go out at intended and returns its
// number. It must be called before the request is sent (so that no answer
// can come first). The send lag (now minus intended) is recorded here.
func (t *Tracker) Add(intended time.Time, tag uint8) uint64 {
	it := int64(intended.Sub(t.base))
	lag := time.Since(intended)
	t.mu.Lock()
	t.intended = append(t.intended, it)
	t.lags = append(t.lags, int32(min(max(lag, 0), math.MaxInt32)))
	t.tags = append(t.tags, tag)
	t.state = append(t.state, 0)
	n := uint64(len(t.state))
	t.mu.Unlock()
	t.lag.Record(lag)
	return n
}

// answer marks request n answered with bit; it returns the request's tag,
// intended time and send lag, and false if n is a duplicate or unknown.
func (t *Tracker) answer(n uint64, bit uint8) (tag uint8, intended int64, lag int32, ok bool) {
	if n == 0 || n > uint64(len(t.state)) {
		t.unknown++
		return 0, 0, 0, false
	}
	i := n - 1
	if t.state[i]&(stAcked|stRejected) != 0 {
		t.dupes++
		return t.tags[i], t.intended[i], t.lags[i], false
	}
	t.state[i] |= bit
	return t.tags[i], t.intended[i], t.lags[i], true
}

// Ack records the ack of request n: its latency from the intended send
// time (and, for comparison, from the actual send time), and the window
// slot it gives back. It returns the request's tag,
// and false (recording nothing) for a duplicate or unknown answer.
func (t *Tracker) Ack(n uint64) (tag uint8, ok bool) {
	now := int64(time.Since(t.base))
	t.mu.Lock()
	tag, intended, lag, ok := t.answer(n, stAcked)
	if ok {
		t.acked++
	}
	t.mu.Unlock()
	if ok {
		t.ack.Record(time.Duration(now - intended))
		t.svc.Record(time.Duration(now - intended - int64(lag)))
		t.window.Release()
	}
	return tag, ok
}

// Reject records the reject of request n with a reason code, as Ack.
// Rejects are counted by reason, not timed.
func (t *Tracker) Reject(n uint64, code uint16) (tag uint8, ok bool) {
	t.mu.Lock()
	tag, _, _, ok = t.answer(n, stRejected)
	if ok {
		t.rejected++
		if t.rejects == nil {
			t.rejects = make(map[uint16]int64)
		}
		t.rejects[code]++
	}
	t.mu.Unlock()
	if ok {
		t.window.Release()
	}
	return tag, ok
}

// Rested records that order n rested on the book: fills after this are
// fills as a maker.
func (t *Tracker) Rested(n uint64) { t.setState(n, stRested) }

// Ended records that order n left the book (done or canceled).
func (t *Tracker) Ended(n uint64) { t.setState(n, stEnded) }

func (t *Tracker) setState(n uint64, bit uint8) {
	t.mu.Lock()
	if n > 0 && n <= uint64(len(t.state)) {
		t.state[n-1] |= bit
	}
	t.mu.Unlock()
}

// Filled records a fill notification of order n. A fill that comes before
// the order rested is a fill as a taker, caused by the order itself (a
// user's events of one asset arrive in sequence order, and an order's
// taker fills precede its accepted event); the first such fill is timed
// from the order's intended send time. It reports whether it was timed.
func (t *Tracker) Filled(n uint64) bool {
	now := int64(time.Since(t.base))
	t.mu.Lock()
	if n == 0 || n > uint64(len(t.state)) || t.state[n-1]&(stRested|stTaker) != 0 {
		t.mu.Unlock()
		return false
	}
	t.state[n-1] |= stTaker
	intended := t.intended[n-1]
	t.mu.Unlock()
	t.fill.Record(time.Duration(now - intended))
	return true
}

// Live reports whether order n was acked and has not been seen to leave
// the book: a candidate for a cancel or a replace.
func (t *Tracker) Live(n uint64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return n > 0 && n <= uint64(len(t.state)) && t.state[n-1]&(stAcked|stEnded) == stAcked
}

// Counts are a tracker's totals, or a run's.
type Counts struct {
	Sent, Acked, Rejected, Duplicates, Unknown int64
	Rejects                                    map[uint16]int64
	LostNumbers                                []uint64 // the first few lost request numbers
}

// InFlight is the number of requests sent and not answered (at the end of
// a run: lost).
func (c Counts) InFlight() int64 { return c.Sent - c.Acked - c.Rejected }

// Counts returns the tracker's totals. withLost lists the first lost
// request numbers (a scan of the table: for the end of a run).
func (t *Tracker) Counts(withLost bool) Counts {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := Counts{Sent: int64(len(t.state)), Acked: t.acked, Rejected: t.rejected, Duplicates: t.dupes, Unknown: t.unknown,
		Rejects: make(map[uint16]int64, len(t.rejects))}
	for k, v := range t.rejects {
		c.Rejects[k] = v
	}
	if withLost && c.InFlight() > 0 {
		for i, s := range t.state {
			if s&(stAcked|stRejected) == 0 {
				c.LostNumbers = append(c.LostNumbers, uint64(i+1))
				if len(c.LostNumbers) == maxRecordedLost {
					break
				}
			}
		}
	}
	return c
}

func (c *Counts) add(o Counts) {
	c.Sent += o.Sent
	c.Acked += o.Acked
	c.Rejected += o.Rejected
	c.Duplicates += o.Duplicates
	c.Unknown += o.Unknown
	if c.Rejects == nil {
		c.Rejects = make(map[uint16]int64)
	}
	for k, v := range o.Rejects {
		c.Rejects[k] += v
	}
}
