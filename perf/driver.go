package perf

import (
	"context"
	"fmt"
	"time"
)

// Sender is one connection as the drivers see it. Send buffers one request
// meant to go out at intended (it registers the request, with that time,
// before anything can answer it); Flush writes what is buffered.
type Sender interface {
	Send(intended time.Time) error
	Flush() error
}

// OpenLoop sends on s at the pace of sch until end or until ctx ends. When
// it wakes up late, or waits for the window, it sends every request that
// has fallen due in one batch, each with its own intended time: lateness
// is charged to the requests, never forgiven. It returns how many requests
// it sent. It keeps the calling goroutine on its own thread while it runs
// (see pacer).
func OpenLoop(ctx context.Context, s Sender, sch Schedule, end time.Time, w *Window) (int64, error) {
	var i int64
	p := newPacer()
	defer p.close()
	for {
		next := sch.Intended(i)
		if !next.Before(end) || ctx.Err() != nil {
			return i, nil
		}
		if !p.sleepUntil(ctx, next) {
			return i, nil
		}
		for due := sch.Due(time.Now()); i < due; i++ {
			t := sch.Intended(i)
			if !t.Before(end) {
				break
			}
			if !w.TryAcquire() {
				// The answers that free the window may be for requests
				// still in our buffer: send those first.
				if err := s.Flush(); err != nil {
					return i, fmt.Errorf("perf: flush: %w", err)
				}
				if !w.Acquire(ctx, end) {
					return i, nil
				}
			}
			if err := s.Send(t); err != nil {
				return i, fmt.Errorf("perf: send: %w", err)
			}
		}
		if err := s.Flush(); err != nil {
			return i, fmt.Errorf("perf: flush: %w", err)
		}
	}
}

// MaxThroughput keeps the window full until end or until ctx ends: a
// closed loop whose concurrency is the window's depth (a nil window is
// refused, since it would never wait for the server). It sends as many
// requests as there are free slots, flushes them in one write, then waits
// for an answer to free a slot. Each request's intended time is its actual
// send time: in a closed loop there is no schedule to fall behind.
func MaxThroughput(ctx context.Context, s Sender, w *Window, end time.Time) (int64, error) {
	if w == nil {
		return 0, fmt.Errorf("perf: max-throughput mode needs a window (a pipeline depth)")
	}
	var n int64
	for ctx.Err() == nil && time.Now().Before(end) {
		if !w.Acquire(ctx, end) {
			break
		}
		for ok := true; ok; ok = w.TryAcquire() {
			if err := s.Send(time.Now()); err != nil {
				return n, fmt.Errorf("perf: send: %w", err)
			}
			n++
		}
		if err := s.Flush(); err != nil {
			return n, fmt.Errorf("perf: flush: %w", err)
		}
	}
	return n, nil
}
