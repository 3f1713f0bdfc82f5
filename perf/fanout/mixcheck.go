package fanout

import (
	"fmt"
	"sort"
	"sync"

	"github.com/ringex/ringex/netio/wire"
)

// The checks of a mixed run (Mix): subscribers of every kind, many of them
// subscribed while the trades are already flowing, so that each one must
// have received exactly the part of its stream that came after its
// Subscribed, in order.
//
// A Stream is the reference record of one stream (one asset's trades, one
// user's order events of one asset), kept by a feed subscribed before the
// first order. A subscriber keeps a Tally of the same stream: the count
// and the sum of a hash of each message (a sum, not a running hash, so
// that the reference can tell the count and the sum of any suffix in
// O(log n): the messages after a subscriber's start sequence), and the
// messages whose sequence went back. Equal counts and sums and nothing
// out of order mean the subscriber got exactly the reference's messages
// from its start on, in order (a different set with the same sum of
// 64-bit mixed hashes is a 2^-64 accident).

// mixKey is a 64-bit mixing function (splitmix64's finalizer): the hashes
// of messages that differ in any field are unrelated, so their sums are.
func mixKey(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// TradeKey is the hash of a trade: its sequence, price, quantity and side.
func TradeKey(t *wire.Trade) uint64 {
	return mixKey(t.Seq ^ mixKey(uint64(t.Price)^mixKey(uint64(t.Qty)<<8|uint64(t.Aggressor))))
}

// OrderEventKey is the hash of an order event: every field but the time.
func OrderEventKey(e *wire.OrderEvent) uint64 {
	k := mixKey(e.Seq ^ uint64(e.Kind)<<56 ^ uint64(e.Reason)<<48 ^ uint64(e.Side)<<40)
	k = mixKey(k ^ e.OrderID)
	k = mixKey(k ^ e.ClientOrderID)
	k = mixKey(k ^ uint64(e.Price))
	k = mixKey(k ^ uint64(e.Qty))
	return mixKey(k ^ uint64(e.Remaining))
}

// Stream is the reference record of one stream of messages, in the order
// they arrived. Its methods are safe for concurrent use.
type Stream struct {
	mu    sync.Mutex
	seqs  []uint64          // each message's sequence, non-decreasing
	sums  []uint64          // sums[i]: the sum of the keys of messages [0, i)
	marks map[uint64]uint64 // marker client order id -> the sequence of its acceptance
}

// MarkerBit marks a client order id as a run's marker: the last order of
// a run, whose acceptance tells the reference stream's last sequence.
const MarkerBit = 1 << 63

// NewStream returns an empty stream.
func NewStream() *Stream { return &Stream{sums: []uint64{0}} }

// Add records the next message of the stream.
func (s *Stream) Add(seq, key uint64) {
	s.mu.Lock()
	s.seqs = append(s.seqs, seq)
	s.sums = append(s.sums, s.sums[len(s.sums)-1]+key)
	s.mu.Unlock()
}

// Mark records the sequence at which a marker order (client order id
// with MarkerBit) was accepted.
func (s *Stream) Mark(id, seq uint64) {
	s.mu.Lock()
	if s.marks == nil {
		s.marks = make(map[uint64]uint64)
	}
	s.marks[id] = seq
	s.mu.Unlock()
}

// Marked returns the sequence of marker id's acceptance, if seen.
func (s *Stream) Marked(id uint64) (seq uint64, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seq, ok = s.marks[id]
	return seq, ok
}

// Len is the number of messages recorded.
func (s *Stream) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.seqs)
}

// Since returns the count and the sum of the keys of the messages whose
// sequence is above after: what a subscription confirmed at after must
// have received.
func (s *Stream) Since(after uint64) (n int, sum uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := sort.Search(len(s.seqs), func(i int) bool { return s.seqs[i] > after })
	return len(s.seqs) - i, s.sums[len(s.seqs)] - s.sums[i]
}

// Tally is one subscriber's account of one stream. It is owned by the
// subscriber's reader; the run reads it after the reader stopped or once
// the reader is known to be idle.
type Tally struct {
	Start  uint64 // the sequence of the Subscribed that started it
	Last   uint64 // the highest sequence received (Start before any)
	Count  int
	Sum    uint64
	Back   int  // messages whose sequence was below the previous one's (Strict: not above)
	Strict bool // every message has its own sequence (trades); order events share theirs
}

// Begin starts the tally at a subscription confirmed at seq.
func (t *Tally) Begin(seq uint64, strict bool) { *t = Tally{Start: seq, Last: seq, Strict: strict} }

// Add accounts for one message.
func (t *Tally) Add(seq, key uint64) {
	if seq < t.Last || (t.Strict && seq == t.Last) || seq <= t.Start {
		t.Back++
	}
	t.Last = max(t.Last, seq)
	t.Count++
	t.Sum += key
}

// Against compares t with the reference: the messages missing (or, if
// negative, received beyond the reference), and whether the messages
// received differ from the reference's though their number matches.
func (t *Tally) Against(s *Stream) (missing int, differ bool) {
	n, sum := s.Since(t.Start)
	return n - t.Count, n == t.Count && sum != t.Sum
}

// Book is an L2 book built from a book channel as docs/protocol.md says:
// cleared on Subscribed, replaced by a BookSnapshot, a level set (or
// removed at quantity 0) by each BookUpdate.
type Book struct {
	Seq       uint64 // the last sequence applied
	Bids      map[int64]wire.Level
	Asks      map[int64]wire.Level
	Snapshots int // snapshots applied: 1 after a subscription, more after a conflation
	Back      int // updates or snapshots whose sequence was below the last one applied
}

// Reset clears the book at a subscription confirmed at seq.
func (b *Book) Reset(seq uint64) {
	*b = Book{Seq: seq, Bids: make(map[int64]wire.Level), Asks: make(map[int64]wire.Level)}
}

// Snapshot replaces both sides with the snapshot's levels.
func (b *Book) Snapshot(m *wire.BookSnapshot) {
	if m.Seq < b.Seq {
		b.Back++
	}
	b.Seq = m.Seq
	b.Snapshots++
	clear(b.Bids)
	clear(b.Asks)
	for _, l := range m.Bids {
		b.Bids[l.Price] = l
	}
	for _, l := range m.Asks {
		b.Asks[l.Price] = l
	}
}

// Update sets or removes one level.
func (b *Book) Update(m *wire.BookUpdate) {
	if m.Seq < b.Seq {
		b.Back++
	}
	b.Seq = max(b.Seq, m.Seq)
	side := b.Bids
	if m.Side == 2 {
		side = b.Asks
	}
	if m.Qty == 0 {
		delete(side, m.Price)
		return
	}
	side[m.Price] = wire.Level{Price: m.Price, Qty: m.Qty, Count: m.Count}
}

// Diff describes how b differs from want, at most a few levels of it; ""
// if the two books are equal.
func (b *Book) Diff(want *Book) string {
	var d []string
	for _, s := range []struct {
		name      string
		got, want map[int64]wire.Level
	}{{"bid", b.Bids, want.Bids}, {"ask", b.Asks, want.Asks}} {
		for p, w := range s.want {
			if g, ok := s.got[p]; !ok || g != w {
				d = append(d, fmt.Sprintf("%s %d: got %+v, want %+v", s.name, p, g, w))
			}
		}
		for p, g := range s.got {
			if _, ok := s.want[p]; !ok {
				d = append(d, fmt.Sprintf("%s %d: got %+v, want none", s.name, p, g))
			}
		}
	}
	if len(d) == 0 {
		return ""
	}
	sort.Strings(d)
	if len(d) > 3 {
		d = append(d[:3], fmt.Sprintf("and %d more", len(d)-3))
	}
	return fmt.Sprint(d)
}
