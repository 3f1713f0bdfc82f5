package journal

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/ringex/ringex/engine"
)

// orders returns n plausible new-order commands from seq on: small prices
// and quantities, a few users, as the gateway would journal them.
func orders(from uint64, n int) []engine.Command {
	cmds := make([]engine.Command, n)
	for i := range cmds {
		seq := from + uint64(i)
		cmds[i] = engine.Command{
			Seq: seq, Time: 1_700_000_000_000_000_000 + int64(seq)*1000, OrderID: seq, ClientOrderID: seq * 7,
			UserID: uint32(seq % 64), Kind: engine.CmdNew, Side: engine.Side(1 + seq%2), Type: engine.Limit,
			TIF: engine.GTC, Price: 10_000 + int64(seq%100), Qty: 10 * int64(1+seq%10),
		}
	}
	return cmds
}

// BenchmarkJournalAppend measures group commit: one op is one
// AppendCommands call of the given batch size. records/s is the headline;
// allocs/op is per batch and counts the whole process, Pebble's background
// flushes included. keys=record is the baseline of one Pebble key per
// record instead of one per block of 64.
func BenchmarkJournalAppend(b *testing.B) {
	for _, policy := range []SyncPolicy{{Mode: SyncAlways}, {Mode: SyncInterval, Interval: 5 * time.Millisecond}, {Mode: SyncOff}} {
		for _, size := range []int{1, 64, 512, 4096} {
			for _, block := range []int{blockRecords, 1} {
				if block == 1 && size < 512 {
					continue // the same as blocks for small batches
				}
				name := fmt.Sprintf("sync=%v/batch=%d", policy, size)
				if block == 1 {
					name += "/keys=record"
				}
				b.Run(name, func(b *testing.B) {
					benchAppend(b, policy, size, block)
				})
			}
		}
	}
}

func benchAppend(b *testing.B, policy SyncPolicy, size, block int) {
	s, err := Open(Options{Dir: b.TempDir(), Sync: policy, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	s.blockRecords = block
	defer s.Close()
	cmds := orders(1, size)
	b.ReportAllocs()
	enc := 0 // the bytes of the keys and values one op writes
	for lo := 0; lo < size; lo += block {
		enc += keyLen + len(appendCommandBlock(nil, 1, cmds[lo:min(lo+block, size)]))
	}
	b.SetBytes(int64(enc))
	for b.Loop() {
		if err := s.AppendCommands(1, cmds); err != nil {
			b.Fatal(err)
		}
		for i := range cmds {
			cmds[i].Seq += uint64(size)
		}
	}
	b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkJournalAppendPipelined is one asset's journal as two stages: a
// writer goroutine calls CommandWriter.Write for each batch while this one
// calls Sync, so the next batch is written while the last is fsynced.
// Durable (sync=always) like AppendCommands.
func BenchmarkJournalAppendPipelined(b *testing.B) {
	for _, size := range []int{64, 512, 4096} {
		b.Run(fmt.Sprintf("sync=always/batch=%d", size), func(b *testing.B) {
			s, err := Open(Options{Dir: b.TempDir(), Logger: quiet})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			w := s.Commands(1)
			b.ReportAllocs()
			b.ResetTimer()
			done := make(chan error, 1)
			go func() {
				cmds := orders(1, size)
				for range b.N {
					if err := w.Write(cmds); err != nil {
						done <- err
						return
					}
					for i := range cmds {
						cmds[i].Seq += uint64(size)
					}
				}
				done <- nil
			}()
			total := uint64(b.N * size)
			for synced := uint64(0); synced < total; {
				if synced, err = w.Sync(); err != nil {
					b.Fatal(err)
				}
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkJournalAppendParallel is the pipeline's shape: several assets
// committing concurrently share WAL syncs (sync=always).
func BenchmarkJournalAppendParallel(b *testing.B) {
	for _, assets := range []int{2, 4} {
		b.Run(fmt.Sprintf("assets=%d/batch=512", assets), func(b *testing.B) {
			s, err := Open(Options{Dir: b.TempDir(), Logger: quiet})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			const size = 512
			b.ReportAllocs()
			b.ResetTimer()
			done := make(chan error, assets)
			per := (b.N + assets - 1) / assets
			for a := range assets {
				go func() {
					cmds := orders(1, size)
					for range per {
						if err := s.AppendCommands(uint32(a), cmds); err != nil {
							done <- err
							return
						}
						for i := range cmds {
							cmds[i].Seq += size
						}
					}
					done <- nil
				}()
			}
			for range assets {
				if err := <-done; err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(per*assets*size)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkReplay measures recovery: one op replays the whole journal
// (decoding and checking every record). "memtable" reads what was just
// written; "sstables" reopens after a flush, as a restart does.
func BenchmarkReplay(b *testing.B) {
	n := 1_000_000
	if testing.Short() {
		n = 200_000
	}
	for _, c := range []struct {
		where string
		block int
	}{{"memtable", blockRecords}, {"sstables", blockRecords}, {"sstables", 1}} {
		where := c.where
		name := fmt.Sprintf("from=%s/records=%d", where, n)
		if c.block == 1 {
			name += "/keys=record"
		}
		b.Run(name, func(b *testing.B) {
			dir := b.TempDir()
			s, err := Open(Options{Dir: dir, Sync: SyncPolicy{Mode: SyncOff}, Logger: quiet, MemTableSize: 256 << 20})
			if err != nil {
				b.Fatal(err)
			}
			s.blockRecords = c.block
			for seq := 1; seq <= n; seq += 4096 {
				if err := s.AppendCommands(1, orders(uint64(seq), min(4096, n-seq+1))); err != nil {
					b.Fatal(err)
				}
			}
			if where == "sstables" {
				// A restart after the data settled: flushed and compacted
				// into one level, no background work competing.
				if err := s.db.Flush(); err != nil {
					b.Fatal(err)
				}
				if err := s.db.Compact(b.Context(), []byte{0}, []byte{0xff}, true); err != nil {
					b.Fatal(err)
				}
				s.Close()
				s = openStore(b, dir, SyncPolicy{Mode: SyncOff}, nil)
			}
			defer s.Close()
			var sum uint64
			b.ReportAllocs()
			for b.Loop() {
				count := 0
				if err := s.ReplayCommands(1, 0, func(c *engine.Command) error {
					sum += c.OrderID
					count++
					return nil
				}); err != nil {
					b.Fatal(err)
				}
				if count != n {
					b.Fatalf("replayed %d records, want %d", count, n)
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// tradeEvents returns the events of the orders from seq on as the
// load generator's buy/sell alternation produces them: every order is
// accepted, every second one then trades with the one before it.
func tradeEvents(evSeq uint64, cmds []engine.Command, evs []engine.Event) []engine.Event {
	evs = evs[:0]
	for i := range cmds {
		c := &cmds[i]
		if c.Seq%2 == 1 {
			evs = append(evs, engine.Event{Seq: evSeq, CmdSeq: c.Seq, Time: c.Time, OrderID: c.OrderID,
				ClientOrderID: c.ClientOrderID, UserID: c.UserID, Kind: engine.EvAccepted, Side: c.Side,
				Price: c.Price, Qty: c.Qty, Remaining: c.Qty})
		} else {
			evs = append(evs, engine.Event{Seq: evSeq, CmdSeq: c.Seq, Time: c.Time, OrderID: c.OrderID,
				ClientOrderID: c.ClientOrderID, UserID: c.UserID, Kind: engine.EvTrade, Side: c.Side,
				Price: c.Price, Qty: c.Qty, MakerOrderID: c.OrderID - 1, MakerClientOrderID: (c.OrderID - 1) * 7,
				MakerUserID: c.UserID ^ 1})
		}
		evSeq++
	}
	return evs
}

// BenchmarkJournalWriteAmp measures what Pebble does with the journal
// after the WAL: the pipeline's write pattern (three assets, each a group
// commit of 64 commands and one of their events in turn, as the journal
// and event stages write them, and a 4 KiB book snapshot every 100,000
// commands of an asset, ringexd's default), until RINGEX_JOURNAL_MB (default 512) MiB
// are logged, then waits for compactions to finish. It reports
//
//   - write-amp: sstable bytes written by flushes and compactions per byte
//     logged to the WAL (Stats.WriteAmp; the WAL itself is not counted);
//   - cpu-us/order: the process's CPU time (user+system, Pebble's
//     background flushes and compactions included) per command;
//   - compacted-MB and moved-MB: what compactions rewrote and what they
//     only moved.
//
// One op is the whole run: use -benchtime 1x.
func BenchmarkJournalWriteAmp(b *testing.B) {
	mb := 512
	if v := os.Getenv("RINGEX_JOURNAL_MB"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("RINGEX_JOURNAL_MB=%q: want a positive number of MiB", v)
		}
		mb = n
	}
	const assets, batch = 3, 64
	for b.Loop() {
		s, err := Open(Options{Dir: b.TempDir(), Sync: SyncPolicy{Mode: SyncOff}, Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		cmds := make([][]engine.Command, assets)
		evSeq := make([]uint64, assets)
		for a := range cmds {
			cmds[a] = orders(1, batch)
			evSeq[a] = 1
		}
		evs := make([]engine.Event, 0, batch)
		snapshot := make([]byte, 4096)
		for i := range snapshot {
			snapshot[i] = byte(i * 7 % 251)
		}
		cpu0 := cpuTime(b)
		var orders int
		for stats(b, s).LoggedBytes < uint64(mb)<<20 {
			for a := range cmds {
				if err := s.AppendCommands(uint32(a+1), cmds[a]); err != nil {
					b.Fatal(err)
				}
				evs = tradeEvents(evSeq[a], cmds[a], evs)
				if err := s.AppendEvents(uint32(a+1), evs); err != nil {
					b.Fatal(err)
				}
				evSeq[a] += uint64(len(evs))
				if last := cmds[a][batch-1].Seq; last%100_000 < batch {
					if err := s.PutSnapshot(uint32(a+1), last, evSeq[a]-1, snapshot); err != nil {
						b.Fatal(err)
					}
				}
				for i := range cmds[a] {
					cmds[a][i].Seq += uint64(batch)
					cmds[a][i].OrderID += uint64(batch)
				}
				orders += batch
			}
		}
		// Settle: what the records still owe Pebble is part of their cost.
		if err := s.db.Flush(); err != nil {
			b.Fatal(err)
		}
		waitCompactions(b, s, 5*time.Minute)
		cpu := cpuTime(b) - cpu0
		st := stats(b, s)
		b.ReportMetric(st.WriteAmp(), "write-amp")
		b.ReportMetric(float64(cpu.Microseconds())/float64(orders), "cpu-us/order")
		b.ReportMetric(float64(st.CompactedBytes)/(1<<20), "compacted-MB")
		b.ReportMetric(float64(st.MovedBytes)/(1<<20), "moved-MB")
		b.ReportMetric(float64(st.FlushedBytes)/(1<<20), "flushed-MB")
		b.Logf("%d orders, %+v", orders, st)
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

func stats(b *testing.B, s *Store) Stats {
	st, err := s.Stats()
	if err != nil {
		b.Fatal(err)
	}
	return st
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
