package marketdata

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
//
// The reader never polls: it waits for the event journal on the pipeline's
// notification (pipeline.Asset.WaitEventsJournaled, which also ends when
// the event journal stage fails or stops), and paces itself to the client
// on its own segment being written by the loop and on the connection's
// outbox draining (outbox.waitBelow); every wait also ends when the
// connection closes.

const (
	// replaySegment is how many bytes of replayed events are handed to the
	// event loop at a time; the reader waits for each to be written and for
	// the connection's queue to drain below a quarter of its limit before
	// the next.
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
// state and returns upto, the last sequence the live stream has passed;
// the caller answers, then starts the journal reader (replay). It runs on
// fc's event loop.
func (n *Notifier) startResume(fc *feedConn, fa *feedAsset) (upto uint64, ok bool) {
	fa.mu.Lock()
	defer fa.mu.Unlock()
	ca := &fc.assets[fa.idx]
	if ca.recovering {
		return 0, false
	}
	n.subscribeOrders(fa, fc)
	ca.recovering = true
	ca.held = ca.held[:0]
	return fa.lastSeq, true
}

// replay reads fc's missed events from the journal and switches fc to the
// live stream.
func (n *Notifier) replay(fc *feedConn, fa *feedAsset, after, upto uint64) {
	defer n.resumes.Done()
	start := time.Now()
	r := replayer{n: n, fc: fc, fa: fa, cursor: after, written: make(chan struct{}, 1)}
	deadline := start.Add(n.cfg.ResumeTimeout)
	for {
		err := n.cfg.Store.ScanEvents(fa.id, r.cursor, r.event)
		if errors.Is(err, errReplayAborted) {
			return
		}
		if errors.Is(err, errResumeGap) {
			n.log.Warn("resume: the journal no longer holds the oldest events asked for (pruned)",
				"asset", fa.symbol, "user", fc.UserName, "after", after, "first_held", r.first)
			n.abortResume(fc, fa, wire.SubResumeTooOld)
			return
		}
		if err != nil {
			n.log.Error("resume: event journal read failed", "asset", fa.symbol, "user", fc.UserName, "err", err)
			n.abortResume(fc, fa, wire.SubUnavailable)
			return
		}
		if r.cursor >= upto {
			break
		}
		// The event journal has not yet written events the live stream
		// passed: wait for it (or its failure, the connection's close, the
		// deadline).
		if fa.events == nil || !fa.events.WaitEventsJournaled(upto, time.Until(deadline), fc.done) {
			select {
			case <-fc.done:
				return
			default:
			}
			n.log.Error("resume: event journal behind the live stream", "asset", fa.symbol,
				"user", fc.UserName, "journal_seq", r.cursor, "live_seq", upto)
			n.abortResume(fc, fa, wire.SubUnavailable)
			return
		}
	}

	// Switch-over: the rest of the journal's events, the held live events
	// the journal read did not reach, and the end-of-replay marker, in one
	// batch queued under the asset's lock, so that any live event routed
	// after it is queued after it.
	fa.mu.Lock()
	ca := &fc.assets[fa.idx]
	if !ca.recovering || !fc.Out.Open() {
		fa.mu.Unlock() // closed or unsubscribed meanwhile
		return
	}
	b := n.getBatch()
	b.control = true
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
	n.log.Info("resumed", "asset", fa.symbol, "user", fc.UserName, "after", after,
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
	b.fa, b.control = fa, true
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
	written chan struct{} // the loop's signal that a segment is written
	pending bool          // a segment is queued and not yet written
}

func (r *replayer) event(ev *engine.Event) error {
	select {
	case <-r.fc.done:
		return errReplayAborted
	default:
	}
	if r.first == 0 {
		r.first = ev.Seq
		if ev.Seq > r.cursor+1 {
			return errResumeGap
		}
	}
	r.cursor = ev.Seq
	user := r.fc.UserID
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
// previous one is written and the connection's queued bytes are below a
// quarter of its limit, so that a long replay paces itself to the client
// instead of tripping the slow-consumer cut. The live private events stay
// held meanwhile, so the journal's come first on the wire.
func (r *replayer) flush() error {
	fc := r.fc
	if r.pending {
		select {
		case <-r.written:
		case <-fc.done:
			return errReplayAborted
		}
		r.pending = false
	}
	if !fc.Out.WaitBelow(int(r.n.cfg.MaxQueuedBytes / 4)) {
		return errReplayAborted
	}
	b := r.n.getBatch()
	b.fa, b.control, b.written = r.fa, true, r.written
	b.addPriv(fc, r.seg, r.segMsgs, 0)
	r.pending = true
	fc.loop.push(b)
	r.seg, r.segMsgs = r.seg[:0], 0
	return nil
}
