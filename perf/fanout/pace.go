package fanout

import (
	"context"
	"time"
)

// PaceTick is the pacing period of Pace.
const PaceTick = time.Millisecond

// Pace calls emit with the number of events due, rate per second from the
// start, at each tick of PaceTick for d (the last call brings the total to
// rate*d), with the tick's time. Both the floor's generator and the
// driver of ringexd's crossing orders use it, so that both servers get
// the same pace and the same bursts. It returns ctx's error if ctx ends
// first.
func Pace(ctx context.Context, rate float64, d time.Duration, emit func(n int, now time.Time)) error {
	total := int64(rate * d.Seconds())
	start := time.Now()
	tick := time.NewTicker(PaceTick)
	defer tick.Stop()
	var sent int64
	for sent < total {
		select {
		case now := <-tick.C:
			due := min(int64(rate*now.Sub(start).Seconds()), total)
			if now.Sub(start) >= d {
				due = total
			}
			if due > sent {
				emit(int(due-sent), time.Now())
				sent = due
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
