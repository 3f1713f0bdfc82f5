package journal

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCorruptFirstTableBlockStopsOpen damages the first data block of the
// table holding the store header. Open reads the header (and the newest
// key) before it reads every table, and must still report ErrCorrupt
// naming the file, not a bare Pebble error.
func TestCorruptFirstTableBlockStopsOpen(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, SyncPolicy{}, nil)
	fillCommands(t, s, 200)
	if err := s.db.Flush(); err != nil {
		t.Fatal(err)
	}
	path := tableWith(t, s, dir, kindCommand)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := 8; i < 24; i++ {
		data[i] ^= 0x5a
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Open(Options{Dir: dir, Logger: quiet})
	if err == nil || !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), filepath.Base(path)) {
		t.Fatalf("Open: %v\nwant ErrCorrupt naming %s", err, filepath.Base(path))
	}
	t.Log(err)
}
