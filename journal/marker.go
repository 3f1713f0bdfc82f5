package journal

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// The high-water mark detects a journal that ends before what was
// acknowledged. Pebble treats a torn WAL tail as the normal end of a crash
// and recovers silently, so a WAL truncated by a faulty disk, a bad copy or
// an operator would lose acknowledged orders without a word. The mark is a
// small file beside the database, outside the WAL, holding for each asset a
// command sequence known to be durable: a background goroutine reads the
// last appended sequences, fsyncs the WAL (so everything up to them is on
// disk), and only then writes and fsyncs the mark. A mark is therefore never
// ahead of the synced journal, and a machine crash that loses an unsynced
// tail under SyncInterval or SyncOff, as those policies allow, cannot trip
// it. At Open, an asset whose journal ends before its mark stops the start
// (ErrJournalLoss), unless Options.AcceptJournalLoss says to carry on.
//
// Under SyncOff nothing is fsynced while running, so the mark is written
// only by Close (after Pebble's final WAL sync).

// markName is the mark's file name in the store's directory. Pebble ignores
// files whose names it does not know.
const markName = "RINGEX-MARK"

// markHeader is the first line of a mark file; the last is "crc32c <hex>"
// of every byte before it.
const markHeader = "ringex high-water mark v1\n"

// DefaultMarkInterval is how often the high-water mark is updated while
// commands are appended. Acknowledged commands newer than the last mark are
// not covered: a truncation that removes only those goes unnoticed.
const DefaultMarkInterval = 200 * time.Millisecond

// ErrJournalLoss is matched by Open's error when an asset's journal ends
// before its high-water mark.
var ErrJournalLoss = errors.New("journal: commands below the high-water mark are missing")

// mark is the durable command sequence per asset.
type mark map[uint32]uint64

func (m mark) encode() []byte {
	var b bytes.Buffer
	b.WriteString(markHeader)
	for _, id := range slices.Sorted(maps.Keys(m)) {
		fmt.Fprintf(&b, "asset %d %d\n", id, m[id])
	}
	fmt.Fprintf(&b, "crc32c %08x\n", crc32.Checksum(b.Bytes(), castagnoli))
	return b.Bytes()
}

func decodeMark(data []byte) (mark, error) {
	text := string(data)
	i := strings.LastIndex(strings.TrimSuffix(text, "\n"), "\n")
	if !strings.HasPrefix(text, markHeader) || i < 0 || !strings.HasSuffix(text, "\n") {
		return nil, errors.New("not a mark file")
	}
	body, sum := text[:i+1], strings.TrimSuffix(text[i+1:], "\n")
	want, err := strconv.ParseUint(strings.TrimPrefix(sum, "crc32c "), 16, 32)
	if err != nil || !strings.HasPrefix(sum, "crc32c ") {
		return nil, errors.New("no checksum line")
	}
	if got := crc32.Checksum([]byte(body), castagnoli); got != uint32(want) {
		return nil, fmt.Errorf("checksum %08x, want %08x", got, want)
	}
	m := mark{}
	for _, line := range strings.Split(strings.TrimSuffix(strings.TrimPrefix(body, markHeader), "\n"), "\n") {
		if line == "" {
			continue
		}
		var id uint32
		var seq uint64
		if n, err := fmt.Sscanf(line, "asset %d %d", &id, &seq); n != 2 || err != nil {
			return nil, fmt.Errorf("bad line %q", line)
		}
		m[id] = seq
	}
	return m, nil
}

// marker keeps the mark file of a store up to date.
type marker struct {
	s     *Store
	fs    vfs.FS
	dir   string
	every time.Duration

	mu      sync.Mutex // serialises update
	written mark       // under mu: what the file holds

	done chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

// readMark returns the mark in dir, nil if there is none.
func readMark(fs vfs.FS, dir string) (mark, error) {
	path := fs.PathJoin(dir, markName)
	f, err := fs.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("journal: high-water mark %s: %w", path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("journal: high-water mark %s: %w", path, err)
	}
	m, err := decodeMark(data)
	if err != nil {
		return nil, fmt.Errorf("journal: high-water mark %s is damaged (%v); move it away to start without the check", path, err)
	}
	return m, nil
}

// write replaces the mark file with m: a temporary file, synced, renamed
// over the old one, and the directory synced.
func (k *marker) write(m mark) error {
	path := k.fs.PathJoin(k.dir, markName)
	tmp := path + ".tmp"
	f, err := k.fs.Create(tmp, vfs.WriteCategoryUnspecified)
	if err != nil {
		return err
	}
	if _, err := f.Write(m.encode()); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := k.fs.Rename(tmp, path); err != nil {
		return err
	}
	d, err := k.fs.OpenDir(k.dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return err
	}
	return d.Close()
}

// check compares the journal with the mark found at Open. An asset whose
// journal ends before its mark is an error, unless accept: then it is
// logged and the mark is lowered to what the journal holds.
func (k *marker) check(m mark, accept bool) error {
	s := k.s
	configs, _ := s.AssetConfigs() // only for the symbols in the message
	var lost []string
	for _, id := range slices.Sorted(maps.Keys(m)) {
		last, err := s.LastCommandSeq(id)
		if err != nil {
			return err
		}
		if last >= m[id] {
			continue
		}
		name := fmt.Sprintf("asset %d", id)
		if c, ok := configs[id]; ok {
			name = fmt.Sprintf("asset %d (%s)", id, c.Symbol)
		}
		if accept {
			s.log.Warn("journal ends before its high-water mark: accepting the loss (-accept-journal-loss)",
				"asset", name, "mark", m[id], "recovered", last, "lost", m[id]-last)
			m[id] = last
			continue
		}
		lost = append(lost, fmt.Sprintf("%s: the journal ends at seq %d but seq %d was durable (mark in %s)",
			name, last, m[id], k.fs.PathJoin(k.dir, markName)))
	}
	if len(lost) > 0 {
		return fmt.Errorf("%w: %s; the WAL lost its tail (truncated or damaged): restore the data directory from a copy, "+
			"or start with -accept-journal-loss to continue from what the journal holds", ErrJournalLoss, strings.Join(lost, "; "))
	}
	k.written = m
	if accept {
		return k.write(m)
	}
	return nil
}

// appended returns the mark with the last appended command sequence of
// every asset this store has appended to or checked.
func (k *marker) appended() mark {
	s := k.s
	m := maps.Clone(k.written)
	if m == nil {
		m = mark{}
	}
	s.assetsMu.RLock()
	logs := make(map[uint32]*assetLog, len(s.assets))
	maps.Copy(logs, s.assets)
	s.assetsMu.RUnlock()
	for id, a := range logs {
		a.commands.mu.Lock()
		if a.commands.known && a.commands.last > m[id] {
			m[id] = a.commands.last
		}
		a.commands.mu.Unlock()
	}
	return m
}

// update raises the mark to the commands appended so far, after making them
// durable with a WAL sync (sync false: the caller has just synced the WAL,
// as Close has). A failure fails the store: a disk that cannot write the
// mark is not one to acknowledge orders on.
func (k *marker) update(b *pebble.Batch, sync bool) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	m := k.appended()
	if maps.Equal(m, k.written) {
		return nil
	}
	if sync {
		if err := k.s.syncWAL(b); err != nil {
			return err
		}
	}
	if err := k.write(m); err != nil {
		return k.s.fail(fmt.Errorf("write high-water mark: %w", err))
	}
	k.written = m
	return nil
}

// start runs update every k.every until stop.
func (k *marker) start() {
	k.done = make(chan struct{})
	k.wg.Add(1)
	go func() {
		defer k.wg.Done()
		t := time.NewTicker(k.every)
		defer t.Stop()
		b := k.s.db.NewBatch()
		defer b.Close()
		for {
			select {
			case <-k.done:
				return
			case <-t.C:
			}
			if k.s.Err() != nil {
				return // nothing more becomes durable
			}
			k.update(b, true)
		}
	}()
}

// stop ends the goroutine started by start, if any, and waits for it.
func (k *marker) stop() {
	if k.done == nil {
		return
	}
	k.once.Do(func() { close(k.done) })
	k.wg.Wait()
}
