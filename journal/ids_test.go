package journal

import (
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// TestCorruptIDReservationStopsOpen: Open reads every order id reservation
// record and refuses a damaged one, naming its key, whether it is the
// current reservation or an older one (which nothing else reads). Before,
// Open's check skipped reservations: the damage surfaced, if at all, only
// when the pipeline read the current one.
func TestCorruptIDReservationStopsOpen(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage int // which of two reservations, in epochs e and e+1, is damaged
	}{{"current", 1}, {"older", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openStore(t, dir, SyncPolicy{}, nil)
			fillCommands(t, s, 100)
			for i, upTo := range []uint64{1 << 20, 2 << 20} {
				v := encodeIDReserve(1, upTo)
				if i == tc.damage {
					v[9] ^= 1 // a flipped bit of the id number
				}
				if err := s.db.Set(makeKey(s.epoch+uint64(i), kindMeta, 1, metaIDReserve), v, pebble.Sync); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			_, err := Open(Options{Dir: dir, Logger: quiet})
			var ce *CorruptError
			if !errors.Is(err, ErrCorrupt) || !errors.As(err, &ce) || ce.Asset != 1 || ce.Seq != metaIDReserve ||
				!strings.Contains(err.Error(), "corrupt order id reservation record") || !errors.Is(err, errChecksum) {
				t.Fatalf("Open: %v\nwant ErrCorrupt naming asset 1's order id reservation and its checksum", err)
			}
			t.Log(err)
		})
	}
}

// TestLostIDReservationDetected loses the newest WAL whole: a second run's
// order id reservations, one raising an older reservation and one an
// asset's first (with, in one case, the commands they numbered). The
// reservation is in the high-water mark too, so the start must be refused
// naming the reservation, and an accepted loss must raise the journal's
// reservation to the mark's: ids handed out before the loss must not be
// handed out again. Before, the start succeeded (or, with lost commands,
// was refused and then accepted) with the first run's reservation.
func TestLostIDReservationDetected(t *testing.T) {
	for _, lostCommands := range []bool{false, true} {
		name := "reservation only"
		if lostCommands {
			name = "reservation and commands"
		}
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			s := openStore(t, dir, SyncPolicy{}, nil)
			if err := s.ReserveOrderIDs(1, 1<<20); err != nil {
				t.Fatal(err)
			}
			fillCommands(t, s, 1000)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			first := newestWAL(t, dir)

			s = openStore(t, dir, SyncPolicy{}, nil)
			if err := s.ReserveOrderIDs(1, 2<<20); err != nil {
				t.Fatal(err)
			}
			if err := s.ReserveOrderIDs(2, 5); err != nil { // a first reservation
				t.Fatal(err)
			}
			if lostCommands {
				r := rand.New(rand.NewPCG(1, 2))
				for seq := uint64(1001); seq <= 2000; seq += 100 {
					if err := s.AppendCommands(1, commands(r, seq, 100)); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			wal := newestWAL(t, dir)
			if wal == first {
				t.Fatal("the second run wrote no WAL of its own")
			}
			if err := os.Truncate(wal, 0); err != nil {
				t.Fatal(err)
			}

			_, err := Open(Options{Dir: dir, Logger: quiet})
			if !errors.Is(err, ErrJournalLoss) || !strings.Contains(err.Error(), "order ids were reserved up to 2097152") ||
				!strings.Contains(err.Error(), "order id reservation asset 1") ||
				!strings.Contains(err.Error(), "asset 2: order ids were reserved up to 5 but the journal holds no reservation") {
				t.Fatalf("Open without the second run's WAL: %v\nwant ErrJournalLoss naming the reservation", err)
			}
			t.Log(err)

			rec := &logRecorder{}
			s, err = Open(Options{Dir: dir, Logger: slog.New(rec), AcceptJournalLoss: true})
			if err != nil {
				t.Fatalf("Open with AcceptJournalLoss: %v", err)
			}
			for asset, want := range map[uint32]uint64{1: 2 << 20, 2: 5} {
				if got, err := s.OrderIDReservation(asset); err != nil || got != want {
					t.Fatalf("asset %d: reservation after the accepted loss: %d, %v; want %d, the lost one", asset, got, err, want)
				}
			}
			if !slices.ContainsFunc(rec.recs, func(r string) bool { return strings.Contains(r, "raising it") }) {
				t.Fatalf("raised reservation not logged: %v", rec.recs)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = openStore(t, dir, SyncPolicy{}, nil) // nothing more to accept
			defer s.Close()
			if got, err := s.OrderIDReservation(1); err != nil || got != 2<<20 {
				t.Fatalf("reservation after a restart: %d, %v", got, err)
			}
		})
	}
}

// TestDamagedMarkAcceptedSkipsIDs: with the mark unreadable, an accepted
// start cannot know how far ids went in a lost tail: it continues
// idLossMargin past every reservation in the journal.
func TestDamagedMarkAcceptedSkipsIDs(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, SyncPolicy{}, nil)
	if err := s.ReserveOrderIDs(1, 1<<20); err != nil {
		t.Fatal(err)
	}
	if err := s.ReserveOrderIDs(2, MaxIDNumber-5); err != nil {
		t.Fatal(err)
	}
	fillCommands(t, s, 100)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, markName), []byte("garbage\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Options{Dir: dir, Logger: quiet}); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("Open with a damaged mark: %v", err)
	}
	s, err := Open(Options{Dir: dir, Logger: quiet, AcceptJournalLoss: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for asset, want := range map[uint32]uint64{1: 1<<20 + idLossMargin, 2: MaxIDNumber, 3: 0} {
		if got, err := s.OrderIDReservation(asset); err != nil || got != want {
			t.Fatalf("asset %d: reservation %d, %v after an accepted damaged mark; want %d", asset, got, err, want)
		}
	}
}

// TestMissingMarkSkipsIDs: a journal that holds data but no mark (removed,
// or never written) cannot say how far ids went either: the start goes on
// (nothing to check), ids skip idLossMargin once, and the mark is written
// again.
func TestMissingMarkSkipsIDs(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, SyncPolicy{}, nil)
	if _, err := os.Stat(filepath.Join(dir, markName)); err != nil {
		t.Fatalf("a new store has no mark: %v", err)
	}
	if err := s.ReserveOrderIDs(1, 1<<20); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, markName)); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		s := openStore(t, dir, SyncPolicy{}, nil)
		if got, err := s.OrderIDReservation(1); err != nil || got != 1<<20+idLossMargin {
			t.Fatalf("reservation %d, %v without a mark; want %d, once", got, err, 1<<20+idLossMargin)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMarkVersions: a mark of version 1 (command sequences only) still
// reads; version 2 round-trips both maps; an ids line in version 1 is not.
func TestMarkVersions(t *testing.T) {
	m := newMark()
	m.cmds[1], m.cmds[7] = 100, 5
	m.ids[1] = 1 << 20
	got, err := decodeMark(m.encode())
	if err != nil || !got.equal(m) {
		t.Fatalf("round trip: %+v, %v; want %+v", got, err, m)
	}
	sum := func(b string) []byte {
		return fmt.Appendf([]byte(b), "crc32c %08x\n", crc32.Checksum([]byte(b), castagnoli))
	}
	v1 := sum(markHeaderV1 + "asset 1 100\n")
	got, err = decodeMark(v1)
	if err != nil || got.cmds[1] != 100 || len(got.ids) != 0 {
		t.Fatalf("version 1: %+v, %v", got, err)
	}
	if _, err := decodeMark(sum(markHeaderV1 + "ids 1 100\n")); err == nil {
		t.Fatal("an ids line in a version 1 mark was accepted")
	}
}

// BenchmarkReserveOrderIDs measures one reservation (journal fsync and,
// since the mark holds reservations, the mark's write, fsync, rename and
// directory fsync): go test -run XXX -bench ReserveOrderIDs ./journal
func BenchmarkReserveOrderIDs(b *testing.B) {
	for _, policy := range []SyncPolicy{{Mode: SyncAlways}, {Mode: SyncInterval, Interval: 5 * time.Millisecond}} {
		b.Run(policy.String(), func(b *testing.B) {
			s := openStore(b, b.TempDir(), policy, nil)
			defer s.Close()
			upTo := uint64(0)
			for b.Loop() {
				upTo += 1 << 20
				if err := s.ReserveOrderIDs(1, upTo); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
