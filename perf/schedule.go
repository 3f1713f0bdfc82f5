package perf

import (
	"math"
	"time"
)

// Schedule is the open-loop send schedule of one stream (one connection):
// request i is meant to go out at Start + i*Period, whatever happened to
// request i-1. The schedule never looks at the server, which is what makes
// it open loop.
type Schedule struct {
	Start  time.Time
	Period float64 // nanoseconds between two requests; fractional so that no rounding drifts the rate
}

// NewSchedule spreads a total rate (requests per second) evenly over
// streams streams and returns the schedule of stream k: each stream runs
// at rate/streams and stream k starts k/streams of a period after start,
// so that the merged streams are evenly spaced at 1/rate.
func NewSchedule(start time.Time, rate float64, streams, k int) Schedule {
	if rate <= 0 || streams <= 0 || k < 0 || k >= streams {
		panic("perf: NewSchedule needs rate > 0 and 0 <= k < streams")
	}
	period := 1e9 * float64(streams) / rate
	return Schedule{Start: start.Add(time.Duration(math.Round(period * float64(k) / float64(streams)))), Period: period}
}

// Intended is when request i (from 0) should be sent.
func (s Schedule) Intended(i int64) time.Time {
	return s.Start.Add(time.Duration(math.Round(float64(i) * s.Period)))
}

// Due returns how many requests are due at now: the number of i with
// Intended(i) <= now.
func (s Schedule) Due(now time.Time) int64 {
	if now.Before(s.Start) {
		return 0
	}
	n := int64(float64(now.Sub(s.Start))/s.Period) + 1
	// The float division may be off by one either way at a boundary;
	// settle it against Intended, which is the definition.
	for n > 0 && s.Intended(n-1).After(now) {
		n--
	}
	for !s.Intended(n).After(now) {
		n++
	}
	return n
}
