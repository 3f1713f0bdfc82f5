// Package perf is the measuring half of the load generator: the send
// schedule, the seeded order mix, the table of requests in flight, the
// latency histograms and the report. It knows nothing of the wire
// protocol; cmd/ringex-load plugs the client in through Sender and feeds
// answers and events back into a Run.
//
// # Latency from the intended send time
//
// In open-loop mode every request has an intended send time fixed in
// advance by a Schedule (a constant rate, whatever the server does), and
// every latency is counted from that time, not from when the request
// actually left. A server that stalls for 100 ms therefore charges the
// stall to every request that should have gone out during it, as wrk2
// does; a generator that measured from the actual send time would wait
// with the server and report one slow request instead of a hundred
// (coordinated omission). The generator's own lateness (actual minus
// intended) is recorded too, as send-lag, so a reader can tell the
// server's latency from the generator's.
//
// # What a run proves
//
// A Tracker numbers a connection's requests 1, 2, 3, ... and remembers
// each one until the end of the run: every request must be answered (acked
// or rejected) exactly once. A FillCheck matches the public trades against
// the private fill notifications: every trade must be notified to both its
// owners, with the traded quantity. Result.Failures lists every breach, and
// a run with any failure is not OK.
package perf
