package netio

import (
	"errors"
	"time"

	"github.com/ringex/ringex/engine"
	"github.com/ringex/ringex/netio/wire"
)

// Resume: a client that reconnects names, per asset, the last private
// event sequence it saw, and is sent every later event of its own orders
// from the event journal, then the live ones, with nothing missing and
// nothing twice at the switch-over.
//
// The race to close is between the journal read and the live stream, which
// are written by different goroutines (the event journal stage and the
// notifier) and may be at different sequences. Under the asset's lock the
// connection joins the owners of the user's events in the "recovering"
// state, and upto, the last sequence the notifier has passed, is noted:
// every event after upto reaches the connection live and is held, and
// every event up to upto must come from the journal. The reader then scans
// the journal until it has passed upto (waiting for the event journal if it
// lags), writes what it found, and, under the asset's lock again, writes
// the held events the scan did not reach (sequence above the last one it
// scanned) and leaves the recovering state. Events the scan and the live
// stream both saw are thereby written once, and none is skipped.

const (
	// replaySegment is how many bytes of replayed events are handed to the
	// event loop at a time; the reader waits for the connection's queue to
	// drain below a quarter of its limit between segments.
	replaySegment = 64 << 10
	// maxHeld bounds the live events held for one connection during a
	// resume; past it the client is too slow and is disconnected.
	maxHeld = 1 << 16
)

var (
	errReplayAborted = errors.New("notifier: replay aborted: connection closed")
	errResumeGap     = errors.New("notifier: resume: events pruned from the journal")
)

// startResume subscribes fc to its order events on fa in the recovering
// state and starts the journal reader. It runs on fc's event loop.
func (n *Notifier) startResume(fc *feedConn, fa *feedAsset, after uint64) bool {
	fa.mu.Lock()
	ca := &fc.assets[fa.idx]
	if ca.recovering {
		fa.mu.Unlock()
		return false
	}
	n.subscribeOrders(fa, fc)
	ca.recovering = true
	ca.held = ca.held[:0]
	upto := fa.lastSeq
	fa.mu.Unlock()
	n.resumes.Add(1)
	go n.replay(fc, fa, after, upto)
	return true
}

// replay reads fc's missed events from the journal and switches fc to the
// live stream.
func (n *Notifier) replay(fc *feedConn, fa *feedAsset, after, upto uint64) {
	defer n.resumes.Done()
	start := time.Now()
	r := replayer{n: n, fc: fc, fa: fa, cursor: after}
	deadline := start.Add(n.cfg.ResumeTimeout)
	for {
		err := n.cfg.Store.ScanEvents(fa.id, r.cursor, r.event)
		if errors.Is(err, errReplayAborted) {
			return
		}
		if errors.Is(err, errResumeGap) {
			n.log.Warn("resume: the journal no longer holds the oldest events asked for (pruned)",
				"asset", fa.symbol, "user", fc.userName, "after", after, "first_held", r.first)
			n.abortResume(fc, fa, wire.SubResumeTooOld)
			return
		}
		if err != nil {
			n.log.Error("resume: event journal read failed", "asset", fa.symbol, "user", fc.userName, "err", err)
			n.abortResume(fc, fa, wire.SubUnavailable)
			return
		}
		if r.cursor >= upto {
			break
		}
		// The event journal has not yet written events the live stream
		// passed: wait for it.
		if fc.closing.Load() {
			return
		}
		if time.Now().After(deadline) {
			n.log.Error("resume: event journal behind the live stream", "asset", fa.symbol,
				"user", fc.userName, "journal_seq", r.cursor, "live_seq", upto)
			n.abortResume(fc, fa, wire.SubUnavailable)
			return
		}
		time.Sleep(time.Millisecond)
	}

	// Switch-over: the rest of the journal's events, the held live events
	// the journal read did not reach, and the end-of-replay marker, in one
	// batch queued under the asset's lock, so that any live event routed
	// after it is queued after it.
	fa.mu.Lock()
	ca := &fc.assets[fa.idx]
	if !ca.recovering || fc.closing.Load() {
		fa.mu.Unlock() // closed or unsubscribed meanwhile
		return
	}
	b := n.getBatch()
	b.addPriv(fc, r.seg, r.segMsgs, 0)
	live, dup := 0, 0
	for i := range ca.held {
		h := &ca.held[i]
		if h.ev.Seq <= r.cursor {
			dup++ // the journal read has it
			continue
		}
		fa.scratch = appendFeedOrder(fa.scratch[:0], fa, &h.ev, h.maker)
		b.addPriv(fc, fa.scratch, 1, 0)
		live++
	}
	fa.scratch = appendFeedResumed(fa.scratch[:0], fa, r.cursor)
	b.addPriv(fc, fa.scratch, 1, 0)
	ca.recovering = false
	if cap(ca.held) > 1024 {
		ca.held = nil
	} else {
		clear(ca.held)
		ca.held = ca.held[:0]
	}
	b.fa = fa
	fc.loop.push(b)
	fa.mu.Unlock()

	n.m.resumed.Add(float64(r.total))
	n.log.Info("resumed", "asset", fa.symbol, "user", fc.userName, "after", after,
		"journal_events", r.total, "held_live_events", live, "held_dropped", dup, "through", r.cursor, "took", time.Since(start))
}

// abortResume ends a resume that cannot deliver every missed event: the
// client is told why with SubRejected and is no longer subscribed to its
// order events on the asset (it may subscribe again, live, or resume later).
func (n *Notifier) abortResume(fc *feedConn, fa *feedAsset, reason uint16) {
	fa.mu.Lock()
	defer fa.mu.Unlock()
	if !fc.assets[fa.idx].recovering {
		return
	}
	n.unsubscribeOrders(fa, fc)
	b := n.getBatch()
	b.fa = fa
	m := wire.SubRejected{Symbol: fa.key, Reason: reason}
	fa.scratch = wire.AppendSubRejected(fa.scratch[:0], &m)
	b.addPriv(fc, fa.scratch, 1, 0)
	fc.loop.push(b)
}

// replayer is the state of one journal read.
type replayer struct {
	n       *Notifier
	fc      *feedConn
	fa      *feedAsset
	cursor  uint64 // the last sequence scanned
	first   uint64 // the first sequence scanned
	seg     []byte // encoded events not yet queued
	segMsgs int
	total   int
}

func (r *replayer) event(ev *engine.Event) error {
	if r.fc.closing.Load() {
		return errReplayAborted
	}
	if r.first == 0 {
		r.first = ev.Seq
		if ev.Seq > r.cursor+1 {
			return errResumeGap
		}
	}
	r.cursor = ev.Seq
	user := r.fc.userID
	if ev.UserID == user {
		r.seg = appendFeedOrder(r.seg, r.fa, ev, false)
		r.segMsgs++
		r.total++
	}
	if ev.Kind == engine.EvTrade && ev.MakerUserID == user {
		r.seg = appendFeedOrder(r.seg, r.fa, ev, true)
		r.segMsgs++
		r.total++
	}
	if len(r.seg) >= replaySegment {
		return r.flush()
	}
	return nil
}

// flush queues the encoded segment on the connection's loop once the
// previous one is written and the loop's unsent bytes for the connection
// are below a quarter of the limit, so that a long replay paces itself to
// the client instead of tripping the slow-consumer cut. The live private
// events stay held meanwhile, so the journal's come first on the wire.
func (r *replayer) flush() error {
	fc := r.fc
	for {
		if fc.closing.Load() {
			return errReplayAborted
		}
		if fc.replayBusy.Load() {
			time.Sleep(100 * time.Microsecond)
			continue
		}
		if fc.outbound.Load() <= r.n.cfg.MaxQueuedBytes/4 {
			break
		}
		// The loop's count is from its last write to the connection: ask
		// it to look again.
		probe := r.n.getBatch()
		probe.fa, probe.replay = r.fa, true
		probe.addPriv(fc, nil, 0, 0)
		fc.replayBusy.Store(true)
		fc.loop.push(probe)
		time.Sleep(time.Millisecond)
	}
	b := r.n.getBatch()
	b.fa, b.replay = r.fa, true
	b.addPriv(fc, r.seg, r.segMsgs, 0)
	fc.replayBusy.Store(true)
	fc.loop.push(b)
	r.seg, r.segMsgs = r.seg[:0], 0
	return nil
}
