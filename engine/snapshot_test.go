package engine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"strings"
	"testing"
)

func snapshotOf(t *testing.T, b *Book) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := b.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func submitAll(b *Book, cmds ...Command) {
	for i := range cmds {
		cmds[i].Seq = b.LastCmdSeq() + 1
		b.Submit(&cmds[i])
	}
}

// TestSnapshotCanonical: two books that reach the same state by different
// paths encode to the same bytes, and one with a different queue order does
// not.
func TestSnapshotCanonical(t *testing.T) {
	a := NewBook(testCfg)
	submitAll(a, buy(1, 1, 100, 10), buy(2, 2, 100, 20), sell(3, 1, 120, 10), buy(4, 1, 90, 10), cancel(4, 1))
	b := NewBook(testCfg)
	submitAll(b, sell(9, 2, 200, 10), buy(1, 1, 100, 10), buy(2, 2, 100, 40), sell(3, 1, 120, 10), replace(2, 2, 0, 20))
	// b has emitted one event less (one command less): level the counters.
	a.eventSeq, b.eventSeq = 10, 10
	b.Submit(&Command{Seq: 5, Kind: CmdCancel, OrderID: 9, UserID: 2})
	b.eventSeq = 10
	if !bytes.Equal(snapshotOf(t, a), snapshotOf(t, b)) {
		t.Fatalf("same book, different snapshots:\n%s\n%s", bookString(t, a), bookString(t, b))
	}
	submitAll(b, replace(1, 1, 0, 20), replace(1, 1, 0, 10)) // 1 is now behind 2
	b.cmdSeq = a.cmdSeq
	b.eventSeq = a.eventSeq
	if bytes.Equal(snapshotOf(t, a), snapshotOf(t, b)) {
		t.Fatal("different queue order, same snapshot")
	}
}

// TestSnapshotRoundTrip restores a book and checks it is the same book and
// behaves the same.
func TestSnapshotRoundTrip(t *testing.T) {
	b := NewBook(testCfg)
	submitAll(b, buy(1, 1, 100, 10), buy(2, 2, 100, 20), stp(postOnly(sell(3, 1, 120, 10)), STPCancelBoth), buy(4, 1, 90, 10), sell(5, 3, 125, 30))
	data := snapshotOf(t, b)
	r, err := Restore(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := bookString(t, r), bookString(t, b); got != want {
		t.Fatalf("restored %s, want %s", got, want)
	}
	if r.Config() != b.Config() || r.LastCmdSeq() != 5 || r.LastEventSeq() != b.LastEventSeq() {
		t.Fatalf("restored config %+v seqs %d %d", r.Config(), r.LastCmdSeq(), r.LastEventSeq())
	}
	info, _ := r.Order(3)
	if !info.PostOnly || info.STP != STPCancelBoth {
		t.Fatalf("order 3 restored as %+v", info)
	}
	for _, c := range []Command{market(sell(6, 1, 0, 40)), replace(5, 3, 110, 30), buy(7, 3, 125, 50), cancel(1, 1)} {
		c.Seq = b.LastCmdSeq() + 1
		want := b.Submit(&c)
		got := r.Submit(&c)
		if !slicesEqual(got, want) {
			t.Fatalf("after restore, %+v:%s\nwant%s", c, fmtEvents(got), fmtEvents(want))
		}
	}
}

// reseal recomputes a snapshot's checksum after a test edits it.
func reseal(data []byte) []byte {
	n := len(data) - 4
	binary.LittleEndian.PutUint32(data[n:], crc32.Checksum(data[:n], castagnoli))
	return data
}

func TestRestoreRejects(t *testing.T) {
	b := NewBook(testCfg)
	submitAll(b, buy(1, 1, 100, 10), buy(2, 2, 95, 20), sell(3, 1, 120, 10), sell(4, 1, 125, 10))
	good := snapshotOf(t, b)
	// Offsets into good: the header, then four orders of 39 bytes.
	hdr := 4 + 4 + 2 + len(testCfg.Symbol) + 5*8 + 3*8
	order := func(i int) int { return hdr + i*snapOrderSize }
	edit := func(f func(d []byte)) []byte {
		d := bytes.Clone(good)
		f(d)
		return reseal(d)
	}
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "too short"},
		{"magic", append([]byte("XXXX"), good[4:]...), "magic"},
		{"version", edit(func(d []byte) { d[4] = 9 }), "version"},
		{"checksum", func() []byte { d := bytes.Clone(good); d[hdr] ^= 1; return d }(), "checksum"},
		{"truncated", reseal(append(bytes.Clone(good[:order(2)+10]), 0, 0, 0, 0)), "orders announced"},
		{"count", edit(func(d []byte) { d[hdr-8] = 2 }), "orders announced"},
		{"config", edit(func(d []byte) { d[10+len(testCfg.Symbol)] = 0 }), "tick size"},
		{"side", edit(func(d []byte) { d[order(0)+20] = 3 }), "side"},
		{"stp", edit(func(d []byte) { d[order(0)+21] = 7 }), "stp"},
		{"flags", edit(func(d []byte) { d[order(0)+22] = 2 }), "flags"},
		{"off tick", edit(func(d []byte) { d[order(0)+23]++ }), "price"},
		{"zero qty", edit(func(d []byte) { clear(d[order(0)+31 : order(0)+39]) }), "quantity"},
		{"duplicate", edit(func(d []byte) { copy(d[order(1):order(1)+8], d[order(0):order(0)+8]) }), "duplicate"},
		{"order", edit(func(d []byte) { // swap the two bids: worse price first
			o0 := bytes.Clone(d[order(0):order(1)])
			copy(d[order(0):], d[order(1):order(2)])
			copy(d[order(1):], o0)
		}), "priority"},
		{"bid after ask", edit(func(d []byte) { d[order(3)+20] = byte(Buy) }), "bid after asks"},
		{"crossed", edit(func(d []byte) { binary.LittleEndian.PutUint64(d[order(2)+23:], 100) }), "on both sides"},
		{"crossed across levels", edit(func(d []byte) { binary.LittleEndian.PutUint64(d[order(2)+23:], 95) }), "on both sides"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Restore(bytes.NewReader(tc.data))
			if err == nil || !errors.Is(err, ErrBadSnapshot) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Restore: %v, want an ErrBadSnapshot about %q", err, tc.want)
			}
		})
	}
	if _, err := Restore(bytes.NewReader(good)); err != nil {
		t.Fatalf("good snapshot: %v", err)
	}
}

// TestRestoreCrossed checks the crossed-book check proper: a bid above
// the best ask at a price no ask uses.
func TestRestoreCrossed(t *testing.T) {
	b := NewBook(testCfg)
	submitAll(b, buy(1, 1, 100, 10), sell(3, 1, 120, 10))
	d := snapshotOf(t, b)
	hdr := 4 + 4 + 2 + len(testCfg.Symbol) + 5*8 + 3*8
	binary.LittleEndian.PutUint64(d[hdr+23:], 125)
	if _, err := Restore(bytes.NewReader(reseal(d))); err == nil || !strings.Contains(err.Error(), "crossed") {
		t.Fatalf("Restore: %v, want crossed", err)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestSnapshotWriteError(t *testing.T) {
	if err := NewBook(testCfg).Snapshot(failWriter{}); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Snapshot: %v", err)
	}
}
