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
// The mark also holds each asset's order id reservation (ids.go), written
// by ReserveOrderIDs after the reservation is fsynced in the journal and
// before it returns, so before any id it covers is handed out. A lost WAL
// tail may hold the newest reservation; the mark keeps it. At Open a
// journal whose reservation is below the mark's stops the start
// (ErrJournalLoss) and, when the loss is accepted, is raised to the mark's,
// so that a restart never hands out again an id a client may have seen.
//
// Under SyncOff nothing is fsynced while running, so the command sequences
// are written only by Close (after Pebble's final WAL sync); reservations
// are written as they are made, under every policy.

// markName is the mark's file name in the store's directory. Pebble ignores
// files whose names it does not know.
const markName = "RINGEX-MARK"

// markHeader is the first line of a mark file; the last is "crc32c <hex>"
// of every byte before it. Version 1 (command sequences only) is read too.
const (
	markHeader   = "ringex high-water mark v2\n"
	markHeaderV1 = "ringex high-water mark v1\n"
)

// DefaultMarkInterval is how often the high-water mark is updated while
// commands are appended. Acknowledged commands newer than the last mark are
// not covered: a truncation that removes only those goes unnoticed.
const DefaultMarkInterval = 200 * time.Millisecond

// ErrJournalLoss is matched by Open's error when an asset's journal ends
// before its high-water mark, or holds a lower order id reservation.
var ErrJournalLoss = errors.New("journal: records below the high-water mark are missing")

// idLossMargin is how far past the journal's reservation ids continue when
// a loss is accepted without a readable mark to say how far ids went: far
// more numbers than a lost WAL tail can have handed out (the WAL not yet
// flushed to tables is a few memtables: some millions of commands, plus a
// reservation of at most 2^20 per start), and 2^16 such starts before the
// 48 bits run out.
const idLossMargin = 1 << 32

// mark is what the mark file holds: the durable command sequence and the
// order id reservation of each asset.
type mark struct {
	cmds map[uint32]uint64
	ids  map[uint32]uint64
}

func newMark() mark { return mark{cmds: map[uint32]uint64{}, ids: map[uint32]uint64{}} }

func (m mark) clone() mark {
	c := newMark()
	maps.Copy(c.cmds, m.cmds)
	maps.Copy(c.ids, m.ids)
	return c
}

func (m mark) equal(o mark) bool { return maps.Equal(m.cmds, o.cmds) && maps.Equal(m.ids, o.ids) }

func (m mark) encode() []byte {
	var b bytes.Buffer
	b.WriteString(markHeader)
	for _, id := range slices.Sorted(maps.Keys(m.cmds)) {
		fmt.Fprintf(&b, "asset %d %d\n", id, m.cmds[id])
	}
	for _, id := range slices.Sorted(maps.Keys(m.ids)) {
		fmt.Fprintf(&b, "ids %d %d\n", id, m.ids[id])
	}
	fmt.Fprintf(&b, "crc32c %08x\n", crc32.Checksum(b.Bytes(), castagnoli))
	return b.Bytes()
}

func decodeMark(data []byte) (mark, error) {
	text := string(data)
	header := markHeader
	if strings.HasPrefix(text, markHeaderV1) {
		header = markHeaderV1
	}
	i := strings.LastIndex(strings.TrimSuffix(text, "\n"), "\n")
	if !strings.HasPrefix(text, header) || i < 0 || !strings.HasSuffix(text, "\n") {
		return mark{}, errors.New("not a mark file")
	}
	body, sum := text[:i+1], strings.TrimSuffix(text[i+1:], "\n")
	want, err := strconv.ParseUint(strings.TrimPrefix(sum, "crc32c "), 16, 32)
	if err != nil || !strings.HasPrefix(sum, "crc32c ") {
		return mark{}, errors.New("no checksum line")
	}
	if got := crc32.Checksum([]byte(body), castagnoli); got != uint32(want) {
		return mark{}, fmt.Errorf("checksum %08x, want %08x", got, want)
	}
	m := newMark()
	for _, line := range strings.Split(strings.TrimSuffix(strings.TrimPrefix(body, header), "\n"), "\n") {
		if line == "" {
			continue
		}
		var what string
		var id uint32
		var n uint64
		if k, err := fmt.Sscanf(line, "%s %d %d", &what, &id, &n); k != 3 || err != nil ||
			what != "asset" && (what != "ids" || header == markHeaderV1) {
			return mark{}, fmt.Errorf("bad line %q", line)
		}
		if what == "asset" {
			m.cmds[id] = n
		} else {
			m.ids[id] = n
		}
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

// readMark returns the mark in dir; found is false if there is none.
func readMark(fs vfs.FS, dir string) (m mark, found bool, err error) {
	path := fs.PathJoin(dir, markName)
	f, err := fs.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return newMark(), false, nil
		}
		return mark{}, false, fmt.Errorf("journal: high-water mark %s: %w", path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return mark{}, false, fmt.Errorf("journal: high-water mark %s: %w", path, err)
	}
	m, err = decodeMark(data)
	if err != nil {
		return mark{}, false, fmt.Errorf("journal: high-water mark %s is damaged (%v); start with -accept-journal-loss, "+
			"or move it away, to start without the check (order ids then skip %d numbers)", path, err, uint64(idLossMargin))
	}
	return m, true, nil
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

// check compares the journal with the mark found at Open: each asset's
// last command with its durable sequence, and its order id reservation with
// the mark's. A journal behind its mark is an error, unless accept: then
// it is logged, the command mark is lowered to what the journal holds and
// the journal's reservation is raised to the mark's (ids never go back).
// unknown says the mark could not be read (accept only) or is missing from
// a journal that holds data: ids then continue idLossMargin past every
// reservation in the journal.
func (k *marker) check(m mark, accept, unknown bool) error {
	s := k.s
	configs, _ := s.AssetConfigs() // only for the symbols in the messages
	name := func(id uint32) string {
		if c, ok := configs[id]; ok {
			return fmt.Sprintf("asset %d (%s)", id, c.Symbol)
		}
		return fmt.Sprintf("asset %d", id)
	}
	var lost []string
	for _, id := range slices.Sorted(maps.Keys(m.cmds)) {
		last, err := s.LastCommandSeq(id)
		if err != nil {
			return err
		}
		if last >= m.cmds[id] {
			continue
		}
		if accept {
			s.log.Warn("journal ends before its high-water mark: accepting the loss (-accept-journal-loss)",
				"asset", name(id), "mark", m.cmds[id], "recovered", last, "lost", m.cmds[id]-last)
			m.cmds[id] = last
			continue
		}
		lost = append(lost, fmt.Sprintf("%s: the journal ends at seq %d but seq %d was durable (mark in %s)",
			name(id), last, m.cmds[id], k.fs.PathJoin(k.dir, markName)))
	}
	if unknown {
		// Every asset with a reservation in the journal (a reservation
		// made in a lost tail for a new asset left no trace to go by).
		ids, err := s.idReservations()
		if err != nil {
			return err
		}
		for _, id := range slices.Sorted(maps.Keys(ids)) {
			m.ids[id] = min(ids[id]+idLossMargin, MaxIDNumber)
			s.log.Warn("raising the order id reservation by a margin", "asset", name(id), "from", ids[id], "to", m.ids[id])
			if err := s.putIDReserve(id, m.ids[id]); err != nil {
				return err
			}
		}
	}
	for _, id := range slices.Sorted(maps.Keys(m.ids)) {
		upTo, key, err := s.idReservation(id)
		if err != nil {
			return err
		}
		if upTo >= m.ids[id] {
			continue
		}
		held := "the journal holds no reservation"
		if key != nil {
			held = fmt.Sprintf("the journal's reservation is %d (%s)", upTo, describeKey(key))
		}
		if accept {
			s.log.Warn("order id reservation below its high-water mark: raising it (-accept-journal-loss)",
				"asset", name(id), "mark", m.ids[id], "journal", held)
			if err := s.putIDReserve(id, m.ids[id]); err != nil {
				return err
			}
			continue
		}
		lost = append(lost, fmt.Sprintf("%s: order ids were reserved up to %d but %s (mark in %s)",
			name(id), m.ids[id], held, k.fs.PathJoin(k.dir, markName)))
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
	m := k.written.clone()
	s.assetsMu.RLock()
	logs := make(map[uint32]*assetLog, len(s.assets))
	maps.Copy(logs, s.assets)
	s.assetsMu.RUnlock()
	for id, a := range logs {
		a.commands.mu.Lock()
		if a.commands.known && a.commands.last > m.cmds[id] {
			m.cmds[id] = a.commands.last
		}
		a.commands.mu.Unlock()
	}
	return m
}

// reserved raises the asset's reservation in the mark to upTo and writes
// the mark, with the command sequences it already holds (the newer ones
// may not be durable yet). A failure fails the store.
func (k *marker) reserved(asset uint32, upTo uint64) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.written.ids[asset] >= upTo {
		return nil
	}
	m := k.written.clone()
	m.ids[asset] = upTo
	if err := k.write(m); err != nil {
		return k.s.fail(fmt.Errorf("write high-water mark: %w", err))
	}
	k.written = m
	return nil
}

// update raises the mark to the commands appended so far, after making them
// durable with a WAL sync (sync false: the caller has just synced the WAL,
// as Close has). A failure fails the store: a disk that cannot write the
// mark is not one to acknowledge orders on.
func (k *marker) update(b *pebble.Batch, sync bool) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	m := k.appended()
	if m.equal(k.written) {
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
