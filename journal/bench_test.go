package journal

import (
	"fmt"
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
	b.SetBytes(int64(size * (keyLen + commandLen)))
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
