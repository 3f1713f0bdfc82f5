// Package journal is ringex's durable store: the input journal of commands,
// the output journal of events, book snapshots and asset metadata, kept in
// one Pebble database.
//
// The pipeline writes every batch of input commands with AppendCommands
// before the matcher or the acker may see them; on start-up it rebuilds each
// book from LatestSnapshot and ReplayCommands. The output journal
// (AppendEvents, ScanEvents, LastTrades, TradesSince) is derived data: the
// engine is deterministic, so recovery rebuilds any events it lacks from the
// input journal.
//
// # Group commit and durability
//
// Each Append call is one Pebble batch, so a ring's whole available range is
// one write to the WAL (group commit). A CommandWriter (Store.Commands)
// splits AppendCommands in two, Write and Sync, so that a pipeline can write
// the next range while the last one is fsynced.
//
// The contract, under every policy: when AppendCommands (or
// CommandWriter.Sync) returns, the commands are in the operating system, so
// a crash of the process (kill -9, panic, OOM) cannot lose them; the
// pipeline acknowledges and matches nothing before that. The SyncPolicy only
// decides what a crash of the machine (power, kernel) may lose:
//
//   - SyncAlways (the default): every command batch is fsynced before
//     AppendCommands returns. Nothing acknowledged is lost.
//   - SyncInterval: a background syncer fsyncs the WAL every Interval if
//     anything was written. A machine crash loses at most the commands of
//     the last Interval plus one fsync.
//   - SyncOff: the WAL is fsynced only when Pebble closes it (at Close and
//     when it rotates to a new WAL, once per memtable). A machine crash may
//     lose everything since. For tests and benchmarks.
//
// Why every command batch is committed with pebble.Sync: Pebble's
// Apply(b, NoSync) returns once the record is copied into the WAL writer's
// in-process block buffer (record.LogWriter.SyncRecordGeneralized signals
// its flushLoop only when a sync is requested; otherwise the 32 KiB block is
// written when it fills), so a kill -9 lost up to a block of acknowledged
// and matched commands. A sync request makes the flushLoop write(2) the
// pending blocks and then call the WAL file's Sync. The store gives Pebble a
// vfs.FS (watchFS) whose WAL files' Sync follows the policy (walFile): a
// real fdatasync under SyncAlways, nothing under SyncInterval and SyncOff,
// where the store fsyncs the open WAL files itself (Store.fsyncWAL) from the
// syncer and for the few writes that must be durable. So the commit path
// costs a write(2) and a wake-up of Pebble's flush goroutine under every
// policy, and an fsync only under SyncAlways; docs/performance-journal.md
// has the measured cost. The alternatives were to ack and match only at the
// next periodic fsync (latency bounded by the interval: the interval policy
// would be a slow always) or a command log of our own beside Pebble (a
// second write path and recovery to keep consistent with it).
//
// Events are committed without a sync request under every policy: they may
// wait in Pebble's WAL buffer until the next command batch, snapshot or
// interval sync, and recovery rebuilds any a crash lost, identical, from the
// commands (the engine is deterministic). Snapshots and asset
// configurations are fsynced unless the policy is SyncOff, because pruning
// deletes the commands a snapshot replaces. Order id reservations
// (ReserveOrderIDs) are fsynced under every policy, and then written to the
// high-water mark file, outside the WAL, before ReserveOrderIDs returns:
// they keep ids unique when a machine crash loses the end of the journal,
// and when an operator accepts a WAL that lost its tail (ids.go).
//
// # Failure
//
// A failed write or sync makes the store unavailable for good: every later
// write returns an error that matches ErrUnavailable and wraps the first
// cause. Store never reports a batch committed unless Pebble did, and never
// writes after the failure. Pebble treats a WAL write after a WAL error as a
// fatal error (it panics inside its commit pipeline), so the store watches
// every file write and sync through its own vfs.FS wrapper, marks itself
// failed before Pebble sees the error, and checks that mark and hands the
// batch to Pebble under one mutex (Store.commit explains why this is enough).
// The fsync itself is waited for outside that mutex, so concurrent writers
// (several assets, commands and events) still share WAL syncs.
//
// No writer waits inside Pebble for a flush or a compaction. Pebble stalls
// a write that needs a new memtable while earlier ones are still being
// flushed, or while L0 holds too many sublevels, and only a flush (a
// compaction) that succeeds ends that stall: one failing on a full disk
// kept the writer there for good, holding that mutex, with every other
// writer and Close behind it. The store stalls writers itself, outside
// Pebble, where a failure or Close ends the wait, and sets Pebble's
// thresholds out of reach (epoch.go).
//
// Two things are out of the store's reach. A disk that fails while Pebble
// is rotating its WAL (when a memtable fills, or when the store rotates it:
// see epoch.go) makes Pebble panic: a crash, which loses nothing
// acknowledged. And Pebble applies a batch to its
// memtable before the WAL sync returns, so after a failed sync the still
// open store may show the failed batch to readers; it is not on disk unless
// the disk kept it, and the pipeline stops on the error anyway.
//
// # Keys
//
// Key layout version 2. Every key is 21 bytes and sorts by epoch, then
// kind, asset and sequence:
//
//	offset size
//	0      8    epoch, big-endian (0: the store header only)
//	8      1    kind: 0 header, 1 command, 2 event, 3 snapshot, 4 metadata
//	9      4    asset id, big-endian
//	13     8    sequence, big-endian: the first command or event of the
//	            block, the snapshot's command sequence, or the metadata item
//	            (1 = asset configuration, 2 = order id reservation)
//
// The store writes each memtable's worth of keys in one epoch and moves to
// the next when it makes Pebble switch memtables (epoch.go), so a flushed
// table sorts after every table flushed before it and overlaps none: Pebble
// moves it down the levels instead of merging it with the data below, and
// the journal is written to sstables once. An asset's commands (events,
// snapshots) are a contiguous run of keys in each epoch, in sequence order
// from epoch to epoch; readers hop from run to run with a seek or two per
// epoch (streamIter). A metadata item is rewritten in a later epoch; the
// newest is current.
//
// The store header (epoch 0, kind 0, asset 0, sequence 0, the first key)
// holds the layout version. Open writes it in a new store and refuses a
// store without it (layout version 1: 13-byte keys of kind, asset and
// sequence, written before 2026-11-30) or with another version, with an
// error naming the version.
//
// Commands and events are stored in blocks: the value of a command (event)
// key is up to 64 consecutive command (event) records of one Append, the
// first of which has the key's sequence. Pebble's cost is per key (memtable
// insertion, iteration, index entries), so blocks make both appending and
// replaying several times faster than a key per record; see
// docs/performance-journal.md.
//
// # Records
//
// Records are versioned, little-endian, and protected by a CRC32C
// (Castagnoli). Whatever fails a check is a *CorruptError naming the asset,
// the sequence and the key (of the block); the good records before it are
// delivered, nothing after it is, and nothing is skipped. The reader also
// checks that sequences are dense from block to block.
//
// # Record versions
//
// Command and event blocks are written in record version 2 since
// 2026-12-01; stores written before hold version 1 blocks, and a store
// written across the change holds both, in any order. The version is a
// property of each value, its first byte (version 1 blocks start with their
// first record's version byte), and readers decode each value by it; the
// other records (snapshots, asset configurations, order id reservations,
// the store header) are still version 1. Nothing is rewritten: version 1
// blocks go away as pruning deletes them. The change is one way: ringex
// from before version 2 refuses, at Open, a store holding version 2 blocks
// (ErrCorrupt: the value fails its version 1 length or version check), so
// going back to it needs a copy of the data directory from before.
//
// A version 2 block (block.go) has one header and one checksum:
//
//	0      u8      version (2)
//	1      u8      type (1 command, 2 event)
//	2      u32     length of the whole value
//	6      uvarint asset
//	.      uvarint sequence of the first record (the key's)
//	.      uvarint n, the number of records (at least 1)
//	.      n records
//	len-4  u32     CRC32C of [0,len-4)
//
// Each record holds the fields that differ from the previous record of
// the block (from zero for the first): a field mask, then each field whose
// bit is set, in bit order, as the uvarint of the zigzag of the difference
// (two's complement, wrapping: every value round-trips; a 32-bit field's
// difference is taken in 32 bits). A record's sequence is not stored: it is
// the first sequence plus its index. The one-byte fields are packed into
// one integer, the most changing in its low byte, and stored as the
// uvarint of the XOR with the previous packing.
//
//	command: mask u8:  bit 0 flags (Side | Kind<<8 | Type<<16 | TIF<<24 |
//	         STP<<32 | PostOnly<<40), 1 Time, 2 OrderID, 3 ClientOrderID,
//	         4 Price, 5 Qty, 6 UserID; bit 7 reserved (0)
//	event:   mask uvarint: bit 0 flags (Kind | Side<<8 | Reason<<16),
//	         1 Time, 2 OrderID, 3 ClientOrderID, 4 Qty, 5 Remaining,
//	         6 Price, 7 CmdSeq, 8 UserID, 9 maker; bits 10 on reserved (0)
//
// An event's maker fields are zero unless bit 9 is set; then
// MakerOrderID, MakerClientOrderID, MakerUserID and MakerRemaining follow,
// each as the difference from the last event of the block that had bit 9
// (trades are apart, with other events between them).
//
// Decoding a version 2 block checks, in order: the length (at least 14
// bytes, then exactly the length the header states: less is a truncated
// block), the version, the checksum, the type, the header (well-formed
// varints, the asset and the first sequence equal to the key's, a count
// that the bytes can hold); then each record, in order (a record cut short,
// a reserved bit or flag byte set, PostOnly not 0 or 1, a 32-bit difference
// out of range, maker fields flagged but zero); then that no byte follows
// the last record. One checksum covers the block, so damage that it
// catches withholds the whole block, reported at its first sequence; the
// record checks behind it catch an encoder's bug, reported at the record.
// The records are decoded in order from the start of the block (each needs
// the one before), with no allocation; a backward walk decodes a block
// whole first. Open's check of every key stops at the header: the
// checksum is what finds damage, and the record checks run when the
// records are read.
//
// Version 1 blocks are fixed-layout records, each ending in a CRC32C of
// every byte before it. Decoding checks, in order, the length (at least one
// byte), the version (1), the exact length, the checksum, the record type
// and the reserved bytes; the reader then checks the record's asset and
// sequence against its key and its place in the block, and that a block
// holds whole records.
//
// Command record, version 1, 68 bytes:
//
//	0  u8  version (1)      8  u32 asset           48 i64 Price
//	1  u8  type (1)         12 u32 UserID          56 i64 Qty
//	2  u8  Kind             16 u64 Seq             64 u32 CRC32C of [0,64)
//	3  u8  Side             24 i64 Time
//	4  u8  Type             32 u64 OrderID
//	5  u8  TIF              40 u64 ClientOrderID
//	6  u8  STP
//	7  u8  PostOnly (0 or 1)
//
// Event record, version 1, 112 bytes:
//
//	0  u8  version (1)      16 u64 Seq             72 i64 Remaining
//	1  u8  type (2)         24 u64 CmdSeq          80 u64 MakerOrderID
//	2  u8  Kind             32 i64 Time            88 u64 MakerClientOrderID
//	3  u8  Side             40 u64 OrderID         96 i64 MakerRemaining
//	4  u8  Reason           48 u64 ClientOrderID   104 u32 MakerUserID
//	5  3   reserved (0)     56 i64 Price           108 u32 CRC32C of [0,108)
//	8  u32 asset            64 i64 Qty
//	12 u32 UserID
//
// Snapshot record, 32+n bytes (the snapshot itself is opaque):
//
//	0  u8  version (1)      8  u64 command sequence    28   n   data
//	1  u8  type (3)         16 u64 event sequence      28+n u32 CRC32C of [0,28+n)
//	2  2   reserved (0)     24 u32 n
//	4  u32 asset
//
// Store header record (the header key's value), 12 bytes:
//
//	0  u8  version (1)      4  u32 layout version (2)
//	1  u8  type (6)         8  u32 CRC32C of [0,8)
//	2  2   reserved (0)
//
// Asset configuration record, 54+n bytes:
//
//	0  u8  version (1)      8  i64 TickSize        40 i64 MaxQty
//	1  u8  type (4)         16 i64 LotSize         48 u16 n
//	2  2   reserved (0)     24 i64 MinPrice        50 n   Symbol
//	4  u32 asset            32 i64 MaxPrice        50+n u32 CRC32C of [0,50+n)
//
// Order id reservation record (metadata item 2), 20 bytes:
//
//	0  u8  version (1)      4  u32 asset
//	1  u8  type (5)         8  u64 the highest id number that may be handed out
//	2  2   reserved (0)     16 u32 CRC32C of [0,16)
//
// # Pruning
//
// Prune deletes, with one range deletion per kind and epoch, the blocks and
// snapshots that a snapshot makes unnecessary, keeping the snapshot and the
// blocks holding the last command and event it covers, so that the last
// sequences survive and appends stay dense. Pebble reclaims the space as it
// compacts: pruning is the one thing that makes it rewrite journal tables.
//
// # Start-up checks and faults
//
// Open refuses a database it cannot trust, with an error naming what is
// wrong: a write that fails while Pebble opens (a full disk: Open returns
// at once, where Pebble alone would retry forever); a table that fails its
// block checksum or a block or record that fails its own, order id
// reservations included (Open reads every key once, naming the file and the keys,
// ErrCorrupt); a journal that ends before its high-water mark, or whose
// order id reservation is missing or below the mark's (ErrJournalLoss, see
// marker.go), unless Options.AcceptJournalLoss, which lowers the command
// mark to the journal and raises the journal's reservation to the mark. Once open, a background error from Pebble (a
// failed flush or compaction) fails the store like a failed write, is logged
// once per cause, and Pebble's retries are paused (see listener.go).
package journal
