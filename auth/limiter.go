package auth

import (
	"math"
	"sync/atomic"
	"time"
)

// limiter is one user's request rate limit, shared by all of the user's
// sessions: a token bucket kept as GCRA (the generic cell rate algorithm),
// which needs a single word of state. tat, the theoretical arrival time, is
// when the bucket would be full again; a request at now is allowed while
// tat - now <= tolerance (burst-1 intervals), and moves tat one interval
// further. Taking a token is one CAS on the user's own word: no lock, no
// allocation, and nothing shared with any other user, so a user past its
// rate costs others nothing but the reject it is sent.
type limiter struct {
	tat atomic.Int64
	// rate is swapped whole on a reload, so that interval and tolerance
	// are always read as a pair.
	rate atomic.Pointer[rateParams]
}

type rateParams struct {
	interval  int64 // ns per request; 0: unlimited
	tolerance int64 // ns: (burst-1) * interval
}

func newRateParams(l Limits) *rateParams {
	if l.Rate <= 0 {
		return &rateParams{}
	}
	// Bounds that keep tat (about now, 1.8e18 ns, plus at most tolerance
	// plus interval) far from overflowing an int64, whatever the
	// configuration: an interval of at most a day, a tolerance of at
	// most 2^61 ns (73 years).
	iv := min(int64(math.Ceil(1e9/l.Rate)), int64(24*time.Hour))
	burst := int64(max(l.Burst, 1))
	tol := int64(maxTolerance)
	if burst-1 <= maxTolerance/iv {
		tol = (burst - 1) * iv
	}
	return &rateParams{interval: iv, tolerance: tol}
}

const maxTolerance = 1 << 61

// unlimited reports whether the limiter lets everything through, so that
// callers skip reading the clock.
func (l *limiter) unlimited() bool { return l.rate.Load().interval == 0 }

// allow takes one token at now (Unix ns) if there is one.
func (l *limiter) allow(now int64) bool {
	p := l.rate.Load()
	if p.interval == 0 {
		return true
	}
	for {
		old := l.tat.Load()
		tat := max(old, now)
		if tat-now > p.tolerance {
			return false
		}
		if l.tat.CompareAndSwap(old, tat+p.interval) {
			return true
		}
	}
}
