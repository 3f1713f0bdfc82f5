package perf

import "time"

// Schedule is an open-loop send schedule: op i of a stream is meant to go
// out at Start + i*Interval, whatever happened to op i-1.
type Schedule struct {
	Start    time.Time
	Interval time.Duration
}

// NewSchedule spreads rate ops/s evenly over streams streams; stream k is
// offset by k/streams of an interval so the streams interleave.
func NewSchedule(start time.Time, rate float64, streams, k int) Schedule {
	interval := time.Duration(float64(time.Second) * float64(streams) / rate)
	return Schedule{Start: start.Add(interval * time.Duration(k) / time.Duration(streams)), Interval: interval}
}

// Intended is when op i should be sent.
func (s Schedule) Intended(i int64) time.Time {
	return s.Start.Add(time.Duration(i) * s.Interval)
}

// Due returns how many ops of the stream are due at now (ops 0..n-1).
func (s Schedule) Due(now time.Time) int64 {
	if now.Before(s.Start) {
		return 0
	}
	return int64(now.Sub(s.Start)/s.Interval) + 1
}
