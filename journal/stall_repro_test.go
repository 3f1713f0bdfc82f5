package journal

import (
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestWriterStalledOnFailedFlush reproduces a defect that is NOT fixed: a
// writer that enters Pebble when the memtable is full while the previous
// one is still being flushed is stalled inside Pebble (its memtable count
// limit) until that flush succeeds. If the flush fails (a full disk) the
// store fails, but the writer stays stalled, holding commitMu, for as long
// as the disk stays full: every other writer and Close wait behind it. It
// fails today, so it runs only with RINGEX_REPRO=1:
//
//	RINGEX_REPRO=1 go test -run TestWriterStalledOnFailedFlush ./journal
func TestWriterStalledOnFailedFlush(t *testing.T) {
	if os.Getenv("RINGEX_REPRO") == "" {
		t.Skip("known defect, not fixed: set RINGEX_REPRO=1 to reproduce")
	}
	fs := &gateFS{FS: vfs.NewMem(), blocked: make(chan struct{}), release: make(chan struct{})}
	rec := &logRecorder{}
	s, err := Open(Options{Dir: "db", FS: fs, Logger: slog.New(rec), MemTableSize: 4 << 20, Sync: SyncPolicy{Mode: SyncOff}})
	if err != nil {
		t.Fatal(err)
	}
	stalls := func() int {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		n := 0
		for _, l := range rec.recs {
			if strings.Contains(l, "pebble write stall") && !strings.Contains(l, "over") {
				n++
			}
		}
		return n
	}
	r := rand.New(rand.NewPCG(9, 9))
	seq := uint64(1)
	e0 := s.currentEpoch()
	for s.currentEpoch() < e0+3 {
		s.AppendCommands(1, commands(r, seq, 64))
		seq += 64
	}
	s.db.Flush()
	fs.armed.Store(true)
	e1 := s.currentEpoch()
	for s.currentEpoch() <= e1 {
		s.AppendCommands(1, commands(r, seq, 64))
		seq += 64
	}
	<-fs.blocked
	before := stalls()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for stalls() == before {
			if err := s.AppendCommands(1, commands(r, seq, 64)); err != nil {
				t.Log(err)
				return
			}
			seq += 64
		}
	}()
	for stalls() == before {
		time.Sleep(10 * time.Millisecond)
	}
	t.Log("writer stalled")
	close(fs.release)
	for s.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case <-done:
		t.Log("writer returned")
	case <-time.After(5 * time.Second):
		t.Log("writer still stalled 5 s after the failure")
	}
	c := make(chan error, 1)
	go func() { c <- s.Close() }()
	select {
	case err := <-c:
		t.Log("closed", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Close hung after a failed flush with a writer stalled inside Pebble")
	}
}
