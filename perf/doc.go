// Package perf holds the load generator's logic: the open-loop schedule,
// the seeded order mix, and the latency recording and reporting. The
// binary that drives a server with it is cmd/ringex-load.
//
// Latency is measured from each order's intended send time, not from when
// it was actually sent (coordinated-omission correction, as wrk2 does): if
// the server stalls and the generator falls behind, the orders that should
// have gone out during the stall are charged the whole stall.
package perf
