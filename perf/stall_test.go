package perf

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// echoServer answers each 8-byte request number with the same number,
// except that it sits on request stallAfter for stall before answering it
// (and so everything behind it waits too): a stalled server.
func echoServer(t *testing.T, stallAfter uint64, stall time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r, w := bufio.NewReader(c), bufio.NewWriter(c)
		var b [8]byte
		for {
			if _, err := io.ReadFull(r, b[:]); err != nil {
				return
			}
			if binary.BigEndian.Uint64(b[:]) == stallAfter {
				time.Sleep(stall)
			}
			w.Write(b[:])
			if r.Buffered() == 0 {
				if w.Flush() != nil {
					return
				}
			}
		}
	}()
	return ln.Addr().String()
}

// echoClient is a Sender and Receiver over the echo protocol. Besides
// the tracker's latency (from the intended time) it keeps the naive
// latency, from the actual send time, to show what the correction changes.
type echoClient struct {
	tr    *Tracker
	c     net.Conn
	r     *bufio.Reader
	naive *Latency
	rec   *Recorder

	mu     sync.Mutex
	sentAt map[uint64]time.Time
}

func dialEcho(t *testing.T, addr string, tr *Tracker) *echoClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	naive := NewLatency("naive")
	return &echoClient{tr: tr, c: c, r: bufio.NewReader(c), naive: naive, rec: naive.Recorder(), sentAt: map[uint64]time.Time{}}
}

func (ec *echoClient) Receive() error {
	var b [8]byte
	if _, err := io.ReadFull(ec.r, b[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint64(b[:])
	ec.mu.Lock()
	sent := ec.sentAt[n]
	ec.mu.Unlock()
	ec.rec.Record(time.Since(sent))
	ec.tr.Answered(time.Now(), []Answer{{N: n}})
	return nil
}

func (ec *echoClient) Send(now time.Time, intended []time.Time) error {
	tags := make([]uint8, len(intended))
	first := ec.tr.AddBatch(now, intended, tags)
	var out []byte
	ec.mu.Lock()
	for i := range intended {
		ec.sentAt[first+uint64(i)] = time.Now()
		out = binary.BigEndian.AppendUint64(out, first+uint64(i))
	}
	ec.mu.Unlock()
	_, err := ec.c.Write(out)
	return err
}

// runStalled drives an echo server that stalls 100 ms at request 100, at
// 1000 requests/s for 600 ms, open loop with the given window depth, and
// returns how many requests went out and their latencies.
func runStalled(t *testing.T, depth int) (sent int64, corrected, naive Percentiles) {
	run := NewRun(time.Now())
	tr := run.NewTracker(NewWindow(depth))
	ec := dialEcho(t, echoServer(t, 100, 100*time.Millisecond), tr)
	go Drain(ec)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now().Add(5 * time.Millisecond)
	sent, err := OpenLoop(ctx, []Sender{ec}, []Schedule{NewSchedule(start, 1000, 1, 0)}, []*Window{tr.window}, start.Add(600*time.Millisecond), 0)
	if err != nil {
		t.Fatal(err)
	}
	// Pipelined, every request goes out, however late the sender wakes.
	// With one in flight the sender catches up on a backlog one round trip
	// at a time, so how many go out depends on the machine (the caller
	// checks).
	if sent != 600 && depth != 1 {
		t.Fatalf("sent %d requests in 600 ms at 1000/s, want 600", sent)
	}
	for c := tr.Counts(false); c.InFlight() > 0; c = tr.Counts(false) {
		if ctx.Err() != nil {
			t.Fatalf("%d requests never answered", c.InFlight())
		}
		time.Sleep(5 * time.Millisecond)
	}
	res := run.Result("open-loop", 1000, 600*time.Millisecond)
	if !res.OK() || res.Acked != sent {
		t.Fatalf("result not OK: %+v", res)
	}
	return sent, run.Ack.Summary(), ec.naive.Summary()
}

// TestStallShowsInTail: a server that stalls 100 ms must show in the ack
// latency tail, because the requests due during the stall (about 100 of
// 600) are charged from their intended send times: their latencies spread
// from 100 ms down to 0, so the 90th percentile lands well inside the
// stall, while the median stays clear of it.
//
// A test process the machine deschedules (a loaded CI box under -race)
// charges its requests the same way, and a few hundred milliseconds of
// that can lift one run's median past 20 ms. Descheduling only adds
// latency, so the tail checks hold on every run. The median check (and,
// with one in flight, the count sent) holds on a run the machine leaves
// alone, while a stall that leaks into the median (what it guards against)
// does so on every run: it must hold on one of five. A freeze of 200 ms a
// second fails about one run in seven.
func TestStallShowsInTail(t *testing.T) {
	for _, tc := range []struct {
		name  string
		depth int
	}{
		{"pipelined", 0},
		// One request in flight, as a wrk2 connection: the sender itself
		// waits out the stall, and only the correction charges it.
		{"depth1", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const attempts = 5
			for try := 1; ; try++ {
				sent, got, naive := runStalled(t, tc.depth)
				t.Logf("corrected: %+v", got)
				t.Logf("naive:     %+v", naive)
				if got.Max < 95_000 {
					t.Fatalf("max %.0f us: the 100 ms stall does not show", got.Max)
				}
				if got.P90 < 20_000 {
					t.Fatalf("p90 %.0f us: the stall was charged to too few requests", got.P90)
				}
				var quiet []string
				if sent < 500 {
					// With one in flight the sender catches up on the
					// stall's backlog one round trip at a time, which under
					// -race on a busy machine may leave a few unsent at the
					// end; a descheduled sender leaves more.
					quiet = append(quiet, fmt.Sprintf("sent %d requests in 600 ms at 1000/s, want 500 or more", sent))
				}
				if got.P50 > 20_000 {
					quiet = append(quiet, fmt.Sprintf("p50 %.0f us: the stall leaked into the median", got.P50))
				}
				if tc.depth == 1 && naive.P90 > 10_000 {
					// Not a check of the code under test but of the test: the
					// closed-loop (naive) view must hide the stall, or this
					// test could not tell a corrected measurement from a naive one.
					quiet = append(quiet, fmt.Sprintf("naive p90 %.0f us: the test does not separate corrected from naive", naive.P90))
				}
				if len(quiet) == 0 {
					return
				}
				if try == attempts {
					t.Fatalf("in each of %d runs; the last: %s", attempts, strings.Join(quiet, "; "))
				}
				t.Logf("run %d: %s; running again", try, strings.Join(quiet, "; "))
			}
		})
	}
}
