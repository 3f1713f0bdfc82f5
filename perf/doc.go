// Package perf is the measuring half of the load generator: the send
// schedule and the drivers, the seeded order mix, the table of requests in
// flight, the latency histograms, the costs per order from /proc and the
// report. It knows nothing of the wire
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
// # Cheap enough to measure the server
//
// The generator shares the machine with the server it measures, so its own
// cost per request must stay far below the server's. The drivers work in
// batches: a Sender writes every request due (open loop) or every free
// window slot (max throughput) in one write, a Receiver hands every answer
// of one read to the Tracker as one batch, which takes its lock and each
// histogram's once; max throughput runs each connection's writes and reads
// on one goroutine, and the open loop paces every connection from one
// goroutine that wakes at most once per tick.
//
// # What a run proves
//
// A Tracker numbers a connection's requests 1, 2, 3, ... and keeps a slot
// for each one until it is answered (and for the last 65,536 in any case):
// every request must be answered (acked or rejected) exactly once, and a
// number below the oldest slot was answered already, so its memory is that
// of the requests in flight, however long the run. A FillCheck matches the public trades against
// the private fill notifications: every trade must be notified to both its
// owners, with the traded quantity. Result.Failures lists every breach, and
// a run with any failure is not OK.
package perf
