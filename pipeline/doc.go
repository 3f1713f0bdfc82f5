// Package pipeline wires the assets' stages together: per asset an input
// ring, a journal consumer with the acks, a matcher, an output ring and its
// consumer, the event journal with the notifier hook.
//
//	gateway --Submit--> in-ring --> journal (group commit), then acks (AckSink)
//	                                  \--> matcher --> out-ring --> event journal, then OutputSink
//
// The assets are spread over asset groups (Config.AssetGroups, group.go),
// and the stages of a group's assets share their goroutines: one journal
// goroutine commits every asset's available range of a pass as one batch,
// acks the pass and then applies each asset's range to its own book (the
// matchers get a goroutine of their own only when they are pinned to a CPU
// of their own), and one output goroutine journals the events of the pass
// as one batch and hands them to the notifier. Stages that follow each other on
// the same range run on one goroutine, one after the other, and the
// assets of a group share a wake-up, because on a machine with fewer cores
// than stages every hand-off between goroutines is a park and a wake-up.
// The exception is SyncAlways: there the group commit runs on two
// goroutines, the WAL write of a pass and, behind it, the wait for its
// fsync and the acks, so that commands arriving during one fsync are
// written in time for the next (group.go, writeGroup). Each asset also
// has an idle snapshot writer.
//
// The invariants it keeps:
//
//   - A command's sequence, exchange order id and timestamp are fixed before
//     it enters the in-ring (the sequence is the ring sequence plus the asset's
//     base), so the journal record is enough to replay it exactly.
//   - The acks follow the commit (under SyncAlways, the fsync) on the
//     journal's goroutine and the matcher runs behind it: nothing is
//     matched or acknowledged before its batch is committed under the sync
//     policy, which under every policy means at least written to the
//     operating system. So a crash of the process loses no acknowledged
//     command, and replay reproduces every event that was published.
//   - An order id is never reused (see OrderID): its number continues above
//     the asset's id reservation, and the journal consumer fsyncs a new
//     reservation before it commits a command whose number lies beyond the
//     current one.
//   - A journal failure is sticky: the commands of the failed batch and every
//     later one are answered with RejectUnavailable through the ack path, the
//     matcher skips them, and Submit refuses new ones. An unlogged order is
//     never acknowledged and never matched.
//   - The output ring carries each engine event followed by the L2 level
//     changes of the command that caused it, so a consumer can keep an exact
//     depth picture without reading the book.
//
// Start-up (Open) recovers each asset before its gates open: the newest
// snapshot, then a replay of the input journal after it, writing any output
// events missing from the event journal.
package pipeline
