package perf

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Sender is one connection's sending half as the drivers see it. Send
// builds one request for each of intended (request i meant to go out at
// intended[i]), registers them with the connection's Tracker (AddBatch,
// at now) and writes them all in one write. The drivers never pass more
// than MaxBurst at once.
type Sender interface {
	Send(now time.Time, intended []time.Time) error
}

// Receiver is one connection's receiving half: Receive waits for one read
// from the connection and handles every answer it brought, as one batch
// (Tracker.Answered). It returns an error when the connection ends or its
// read deadline passes.
type Receiver interface {
	Receive() error
}

// MaxBurst bounds the requests of one Send: a driver that fell far behind
// writes its backlog in pieces of this size.
const MaxBurst = 1024

// MaxThroughput keeps the window full until end or until ctx ends, on the
// calling goroutine alone: it sends as many requests as there are free
// slots in one write, then reads once and handles the answers that read
// brought (which free slots), and again. A closed loop whose concurrency
// is the window's depth, with no hand-off between goroutines: the reads
// and the writes of a connection are the same goroutine's. Each request's
// intended time is its actual send time: in a closed loop there is no
// schedule to fall behind.
//
// A read that ends with an error after end (the caller's read deadline)
// ends the loop without error; the caller keeps receiving the answers
// still in flight (Drain).
func MaxThroughput(ctx context.Context, s Sender, r Receiver, w *Window, end time.Time) (int64, error) {
	if w == nil {
		return 0, fmt.Errorf("perf: max-throughput mode needs a window (a pipeline depth)")
	}
	intended := make([]time.Time, min(w.Depth(), MaxBurst))
	var n int64
	for ctx.Err() == nil {
		now := time.Now()
		if !now.Before(end) {
			break
		}
		if k := w.TryAcquireN(len(intended)); k > 0 {
			for i := range k {
				intended[i] = now
			}
			if err := s.Send(now, intended[:k]); err != nil {
				return n, fmt.Errorf("perf: send: %w", err)
			}
			n += int64(k)
		}
		if err := r.Receive(); err != nil {
			if !time.Now().Before(end) {
				break
			}
			return n, fmt.Errorf("perf: receive: %w", err)
		}
	}
	return n, nil
}

// Drain receives until the connection ends: what a connection's reader
// does after its sending is over, or all along in open-loop mode.
func Drain(r Receiver) error {
	for {
		if err := r.Receive(); err != nil {
			return err
		}
	}
}

// OpenLoop paces every stream k on ss[k] at the schedule schs[k], windows
// ws[k] (nil: unbounded), from one goroutine, until end or until ctx
// ends. It returns how many requests it sent in all. Requests that a full
// window still holds back at end are not sent.
//
// It wakes at the next intended send time of any stream, but never sooner
// than tick after its last wake-up: at high rates it sends small bursts,
// one write per stream per tick, instead of one wake-up and one write per
// request. Each request keeps its own intended time, so the wait for the
// tick is charged to it (it shows as send lag, at most about a tick), as
// is any other lateness: a late wake-up, a full window, a slow write.
// Nothing is ever forgiven. A stream whose window is full waits for a
// release (Window.Notify), not for a tick. The calling goroutine keeps its thread while
// it runs (see pacer).
func OpenLoop(ctx context.Context, ss []Sender, schs []Schedule, ws []*Window, end time.Time, tick time.Duration) (int64, error) {
	if len(schs) != len(ss) || len(ws) != len(ss) {
		return 0, errors.New("perf: OpenLoop needs a schedule and a window per sender")
	}
	p := newPacer()
	defer p.close()
	sent := make([]int64, len(ss))
	limit := make([]int64, len(ss)) // requests meant to go out before end
	for k, sch := range schs {
		limit[k] = sch.Due(end.Add(-1))
	}
	wake := make(chan struct{}, 1)
	for _, w := range ws {
		w.Notify(wake)
	}
	intended := make([]time.Time, 0, MaxBurst)
	var blocked []*Window
	var total int64
	for ctx.Err() == nil {
		now := time.Now()
		next, left := end, false
		blocked = blocked[:0]
		for k, s := range ss {
			due := min(schs[k].Due(now), limit[k])
			for sent[k] < due {
				m := ws[k].TryAcquireN(int(min(due-sent[k], MaxBurst)))
				if m == 0 {
					break // the window is full: they wait, and keep their times
				}
				intended = intended[:0]
				for i := sent[k]; i < sent[k]+int64(m); i++ {
					intended = append(intended, schs[k].Intended(i))
				}
				if err := s.Send(now, intended); err != nil {
					return total, fmt.Errorf("perf: send: %w", err)
				}
				sent[k] += int64(m)
				total += int64(m)
			}
			if sent[k] < limit[k] {
				left = true
				if sent[k] < due {
					blocked = append(blocked, ws[k])
				} else if t := schs[k].Intended(sent[k]); t.Before(next) {
					next = t
				}
			}
		}
		if !left || !now.Before(end) {
			break // requests still held by a full window at the end are not sent
		}
		if len(blocked) == 0 {
			if !p.sleepUntil(ctx, latest(next, now.Add(tick)), nil) {
				break
			}
			continue
		}
		// Some stream waits for its window: sleep until the next request
		// of another stream falls due, or until a blocked window frees a
		// slot, whichever comes first.
		full := true
		for _, w := range blocked {
			full = full && w.Wait()
		}
		if full && !p.sleepUntil(ctx, next, wake) {
			break
		}
		for _, w := range blocked {
			w.Done()
		}
	}
	return total, nil
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
