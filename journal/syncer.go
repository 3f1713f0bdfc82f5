package journal

import (
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// syncer is the SyncInterval policy's background fsync: every interval, if
// any batch was written to the WAL since the last sync, it syncs the WAL
// (Store.syncWAL). The fsync is the store's own, of the open WAL files, and
// no command's commit waits for it. Every command batch is in the operating
// system when its commit returns (see walFile), so a crash of the process
// loses nothing, and a crash of the machine loses at most the batches of
// one interval plus one fsync. A failed sync fails the store like any other
// write error.
//
// Under SyncOff the same loop only starts the writeback of the WAL's dirty
// pages (writeback is set): nothing is made durable, but when Pebble rotates
// to a new WAL the fdatasync of the old one (walFile.Close, under Pebble's
// commit path) finds little left to write. Without it that fdatasync wrote
// a whole memtable's WAL at once and stalled every commit for 50-200 ms
// (seen with the execution tracer at saturation).
type syncer struct {
	s         *Store
	interval  time.Duration
	writeback bool
	done      chan struct{}
	wg        sync.WaitGroup
	once      sync.Once
}

func startSyncer(s *Store, interval time.Duration, writeback bool) *syncer {
	y := &syncer{s: s, interval: interval, writeback: writeback, done: make(chan struct{})}
	y.wg.Add(1)
	go y.run()
	return y
}

func (y *syncer) run() {
	defer y.wg.Done()
	t := time.NewTicker(y.interval)
	defer t.Stop()
	var b *pebble.Batch // syncWAL's scratch batch; writeback needs none
	if !y.writeback {
		b = y.s.db.NewBatch()
		defer b.Close()
	}
	var synced uint64
	for {
		select {
		case <-y.done:
			return
		case <-t.C:
		}
		n := y.s.written.Load()
		if n == synced || y.s.Err() != nil {
			continue
		}
		if y.writeback {
			y.s.fs.writebackWALs()
			synced = n
			continue
		}
		if err := y.s.syncWAL(b); err != nil {
			// The store is failed (or closing): nothing to sync any more.
			continue
		}
		synced = n
	}
}

// stop ends the syncer and waits for it; Close calls it before closing the
// database, which syncs the WAL a last time.
func (y *syncer) stop() {
	y.once.Do(func() { close(y.done) })
	y.wg.Wait()
}
