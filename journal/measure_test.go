package journal

import (
	"os"
	"testing"
)

// TestMeasureStore prints the bytes per command and per event record of
// the store in $RINGEX_MEASURE_DIR (a copy: it is opened for writing),
// value bytes and key bytes apart, by record version:
//
//	RINGEX_MEASURE_DIR=/tmp/data go test -run MeasureStore -v ./journal/
func TestMeasureStore(t *testing.T) {
	dir := os.Getenv("RINGEX_MEASURE_DIR")
	if dir == "" {
		t.Skip("RINGEX_MEASURE_DIR not set")
	}
	s, err := Open(Options{Dir: dir, Sync: SyncPolicy{Mode: SyncOff}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	it, err := s.db.NewIter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	type tally struct{ blocks, records, bytes int }
	var by [3][3]tally // [kind][version]
	for valid := it.First(); valid; valid = it.Next() {
		_, kind, _, _, ok := splitKey(it.Key())
		if !ok || (kind != kindCommand && kind != kindEvent) {
			continue
		}
		v := it.Value()
		n, ver := len(v)/recLen(kind), 1
		if len(v) > 0 && v[0] == blockVersion {
			h, err := parseBlock(v, map[byte]byte{kindCommand: recCommand, kindEvent: recEvent}[kind])
			if err != nil {
				t.Fatal(err)
			}
			n, ver = h.n, 2
		}
		tl := &by[kind][ver]
		tl.blocks++
		tl.records += n
		tl.bytes += len(v)
	}
	for _, kind := range []byte{kindCommand, kindEvent} {
		for ver := 1; ver <= 2; ver++ {
			if tl := by[kind][ver]; tl.records > 0 {
				t.Logf("%s v%d: %d records in %d blocks, %.1f value bytes per record (+%.1f of key), %.1f records per block",
					kindName(kind), ver, tl.records, tl.blocks, float64(tl.bytes)/float64(tl.records),
					float64(tl.blocks*keyLen)/float64(tl.records), float64(tl.records)/float64(tl.blocks))
			}
		}
	}
}
