package perf

import (
	"testing"
	"time"
)

func TestTrackerExactlyOnce(t *testing.T) {
	run := NewRun(time.Now())
	w := NewWindow(10)
	tr := run.NewTracker(w)
	now := time.Now()
	for i := range 6 {
		if !w.TryAcquire() {
			t.Fatal("window full")
		}
		if n := tr.Add(now, uint8(i)); n != uint64(i+1) {
			t.Fatalf("request %d numbered %d", i, n)
		}
	}
	if tag, ok := tr.Ack(1); !ok || tag != 0 {
		t.Fatalf("ack 1: tag %d, %v", tag, ok)
	}
	if tag, ok := tr.Ack(3); !ok || tag != 2 {
		t.Fatalf("ack 3: tag %d, %v", tag, ok)
	}
	if _, ok := tr.Reject(2, 108); !ok {
		t.Fatal("reject 2")
	}
	if _, ok := tr.Reject(5, 108); !ok {
		t.Fatal("reject 5")
	}
	if _, ok := tr.Ack(1); ok {
		t.Fatal("a second ack of 1 was taken")
	}
	if _, ok := tr.Reject(3, 110); ok {
		t.Fatal("a reject after an ack was taken")
	}
	if _, ok := tr.Ack(7); ok {
		t.Fatal("an ack of a request never sent was taken")
	}
	if _, ok := tr.Ack(0); ok {
		t.Fatal("an ack of request 0 was taken")
	}
	c := tr.Counts(true)
	if c.Sent != 6 || c.Acked != 2 || c.Rejected != 2 || c.Duplicates != 2 || c.Unknown != 2 || c.InFlight() != 2 ||
		c.Rejects[108] != 2 || len(c.Rejects) != 1 {
		t.Fatalf("counts %+v", c)
	}
	if len(c.LostNumbers) != 2 || c.LostNumbers[0] != 4 || c.LostNumbers[1] != 6 {
		t.Fatalf("lost %v, want [4 6]", c.LostNumbers)
	}
	if w.InFlight() != 2 {
		t.Fatalf("window holds %d, want the 2 unanswered", w.InFlight())
	}
	if run.Ack.Count() != 2 || run.SendLag.Count() != 6 {
		t.Fatalf("%d ack latencies, %d send lags", run.Ack.Count(), run.SendLag.Count())
	}
}

// TestTrackerLatencyFromIntended: the ack latency counts from the intended
// time, the from-send latency from the actual one.
func TestTrackerLatencyFromIntended(t *testing.T) {
	run := NewRun(time.Now())
	tr := run.NewTracker(nil)
	n := tr.Add(time.Now().Add(-50*time.Millisecond), 0) // sent 50 ms late
	time.Sleep(10 * time.Millisecond)
	tr.Ack(n)
	ack, send, lag := run.Ack.Summary(), run.AckSend.Summary(), run.SendLag.Summary()
	if ack.Max < 60_000 || ack.Max > 200_000 {
		t.Fatalf("ack latency %.0f us, want 60 ms and a little", ack.Max)
	}
	if send.Max < 10_000 || send.Max > 50_000 {
		t.Fatalf("from-send latency %.0f us, want 10 ms and a little", send.Max)
	}
	if lag.Max < 50_000 || lag.Max > 55_000 {
		t.Fatalf("send lag %.0f us, want 50 ms", lag.Max)
	}
}

// TestTrackerTakerFill: only a fill that comes before the order rested is
// its own (taker) fill, and only the first one is timed.
func TestTrackerTakerFill(t *testing.T) {
	run := NewRun(time.Now())
	tr := run.NewTracker(nil)
	taker, maker := tr.Add(time.Now(), 0), tr.Add(time.Now(), 0)
	tr.Ack(taker)
	tr.Ack(maker)
	tr.Rested(maker)
	if tr.Filled(maker) {
		t.Fatal("a maker fill was timed")
	}
	if !tr.Filled(taker) {
		t.Fatal("a taker fill was not timed")
	}
	if tr.Filled(taker) {
		t.Fatal("a second taker fill was timed")
	}
	if tr.Filled(99) {
		t.Fatal("a fill of an unknown order was timed")
	}
	if run.Fill.Count() != 1 {
		t.Fatalf("%d fill latencies, want 1", run.Fill.Count())
	}
	if !tr.Live(maker) {
		t.Fatal("a resting order is not live")
	}
	tr.Ended(maker)
	if tr.Live(maker) || tr.Live(99) {
		t.Fatal("an ended or unknown order is live")
	}
}

// TestTrackerCompact: the tracker keeps a slot for every unanswered
// request however old, and otherwise only the last trackerRetain: its
// memory follows the requests in flight, not the length of the run.
func TestTrackerCompact(t *testing.T) {
	run := NewRun(time.Now())
	tr := run.NewTracker(nil)
	now := time.Now()
	const batch = 512
	intended := make([]time.Time, batch)
	tags := make([]uint8, batch)
	for i := range intended {
		intended[i] = now
		tags[i] = uint8(i)
	}
	answers := make([]Answer, batch)
	send := func(rounds int, skip uint64) {
		for range rounds {
			first := tr.AddBatch(now, intended, tags)
			for i := range answers {
				answers[i] = Answer{N: first + uint64(i)}
				if answers[i].N == skip {
					answers[i].N = 0 // left unanswered (counted unknown)
				}
			}
			tr.Answered(now, answers)
		}
	}
	send(4*trackerRetain/batch, 0)
	if len(tr.ring) != trackerRetain {
		t.Fatalf("ring of %d slots after %d answered requests, want %d", len(tr.ring), 4*trackerRetain, trackerRetain)
	}
	// One unanswered request holds its slot while the ring grows past it.
	stuck := tr.last + 5
	send(3*trackerRetain/batch, stuck)
	if len(tr.ring) < 3*trackerRetain || tr.low > stuck {
		t.Fatalf("ring of %d slots from %d: the unanswered %d lost its slot", len(tr.ring), tr.low, stuck)
	}
	c := tr.Counts(true)
	if c.InFlight() != 1 || len(c.LostNumbers) != 1 || c.LostNumbers[0] != stuck {
		t.Fatalf("counts %+v, want %d lost", c, stuck)
	}
	if _, ok := tr.Ack(stuck); !ok {
		t.Fatal("the late answer was not taken")
	}
	grown := len(tr.ring)
	send(4*grown/batch, 0)
	if len(tr.ring) != grown {
		t.Fatalf("ring grew from %d to %d with nothing in flight", grown, len(tr.ring))
	}
	// Answers for numbers long given up are duplicates; for numbers never
	// sent, unknown.
	before := tr.Counts(false)
	if _, ok := tr.Ack(1); ok {
		t.Fatal("a second answer to request 1 was taken")
	}
	if _, ok := tr.Ack(stuck); ok {
		t.Fatal("a second answer to the stuck request was taken")
	}
	if _, ok := tr.Ack(tr.last + 1); ok {
		t.Fatal("an answer to a request never sent was taken")
	}
	after := tr.Counts(false)
	if after.Duplicates-before.Duplicates != 2 || after.Unknown-before.Unknown != 1 || after.InFlight() != 0 {
		t.Fatalf("before %+v, after %+v", before, after)
	}
	// An old order's later events are ignored; it counts as live.
	if tr.Filled(2) || !tr.Live(2) || tr.Live(tr.last+1) {
		t.Fatal("an order whose slot was given up: timed, or not live")
	}
	if got, want := run.Ack.Count(), after.Acked; got != want {
		t.Fatalf("%d ack latencies for %d acks", got, want)
	}
}

// TestWindow: slots are taken up to the depth, given back in batches, and
// a sender that waits on a full window is woken by the next release, even
// one that comes between its check and its wait (no lost wake-up).
func TestWindow(t *testing.T) {
	w := NewWindow(4)
	wake := make(chan struct{}, 1)
	w.Notify(wake)
	if got := w.TryAcquireN(3); got != 3 {
		t.Fatalf("took %d of 3", got)
	}
	if got := w.TryAcquireN(3); got != 1 || w.InFlight() != 4 || w.TryAcquire() {
		t.Fatalf("took %d more, %d in flight: want 1, 4, and a full window", got, w.InFlight())
	}
	if !w.Wait() {
		t.Fatal("a full window does not wait")
	}
	w.ReleaseN(2) // the release sees the waiter
	select {
	case <-wake:
	default:
		t.Fatal("a release did not wake the waiting sender")
	}
	if w.Wait() {
		t.Fatal("a window with free slots waits")
	}
	w.Done()
	w.ReleaseN(2)
	select {
	case <-wake:
		t.Fatal("a release woke a sender that was not waiting")
	default:
	}
	defer func() {
		if recover() == nil {
			t.Fatal("releasing a slot never taken did not panic")
		}
	}()
	w.Release()
}
