package journal

import (
	"fmt"
	"strings"
	"sync"

	"github.com/cockroachdb/pebble/v2/vfs"
	"golang.org/x/sys/unix"
)

// watchFS wraps the file system Pebble writes through and marks the store
// failed on the first failed write, sync or file creation, before the error
// reaches Pebble. The order matters: Store.commit relies on the mark being
// set before Pebble's WAL writer can have recorded the error.
//
// Every file counts, not only the WAL: a disk that fails to write an sstable
// or the manifest is not one to acknowledge orders on.
//
// It also owns the WAL's fsync policy (see walFile): Pebble's WAL files are
// wrapped so that their Sync is real only under SyncAlways, and the store
// fsyncs them itself (Store.fsyncWAL) when its policy says so.
type watchFS struct {
	vfs.FS
	s *Store

	walMu sync.Mutex
	wals  map[*walFile]struct{} // the WAL files open for writing
}

func (fs *watchFS) report(op, name string, err error) error {
	if err != nil {
		fs.s.fail(fmt.Errorf("%s %s: %w", op, name, err))
	}
	return err
}

func (fs *watchFS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, category)
	if err != nil {
		return nil, fs.report("create", name, err)
	}
	return fs.wrap(f, name), nil
}

func (fs *watchFS) ReuseForWrite(oldname, newname string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(oldname, newname, category)
	if err != nil {
		return nil, fs.report("reuse", newname, err)
	}
	return fs.wrap(f, newname), nil
}

func (fs *watchFS) OpenReadWrite(name string, category vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	f, err := fs.FS.OpenReadWrite(name, category, opts...)
	if err != nil {
		return nil, err // a missing file is not a disk failure
	}
	return &watchFile{File: f, fs: fs, name: name}, nil
}

func (fs *watchFS) Rename(oldname, newname string) error {
	return fs.report("rename", newname, fs.FS.Rename(oldname, newname))
}

// Unwrap lets vfs.Root find the file system underneath.
func (fs *watchFS) Unwrap() vfs.FS { return fs.FS }

// watchFile reports the failures of one writable file.
type watchFile struct {
	vfs.File
	fs   *watchFS
	name string
}

func (f *watchFile) Write(p []byte) (int, error) {
	n, err := f.File.Write(p)
	return n, f.fs.report("write", f.name, err)
}

func (f *watchFile) WriteAt(p []byte, off int64) (int, error) {
	n, err := f.File.WriteAt(p, off)
	return n, f.fs.report("write", f.name, err)
}

func (f *watchFile) Sync() error { return f.fs.report("sync", f.name, f.File.Sync()) }

func (f *watchFile) SyncData() error { return f.fs.report("sync", f.name, f.File.SyncData()) }

func (f *watchFile) SyncTo(length int64) (bool, error) {
	full, err := f.File.SyncTo(length)
	return full, f.fs.report("sync", f.name, err)
}

// wrap watches a file opened for writing; a WAL file also gets the policy's
// Sync. Pebble names its WAL files NNNNNN.log (NNNNNN-III.log with WAL
// failover, which the store does not configure); no other file it writes
// ends in .log.
func (fs *watchFS) wrap(f vfs.File, name string) vfs.File {
	w := &watchFile{File: f, fs: fs, name: name}
	if !strings.HasSuffix(name, ".log") {
		return w
	}
	wf := &walFile{watchFile: w, real: fs.s.policy.Mode == SyncAlways}
	fs.walMu.Lock()
	if fs.wals == nil {
		fs.wals = make(map[*walFile]struct{})
	}
	fs.wals[wf] = struct{}{}
	fs.walMu.Unlock()
	return wf
}

// fsyncWALs fsyncs every open WAL file: afterwards every byte written to the
// WAL before the call is durable. A WAL closed meanwhile was fsynced by its
// Close. The first failure is returned (and has failed the store).
func (fs *watchFS) fsyncWALs() error {
	var first error
	for _, f := range fs.openWALs() {
		if err := f.fsync(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// openWALs returns the WAL files open for writing (for tests).
func (fs *watchFS) openWALs() []*walFile {
	fs.walMu.Lock()
	defer fs.walMu.Unlock()
	files := make([]*walFile, 0, len(fs.wals))
	for f := range fs.wals {
		files = append(files, f)
	}
	return files
}

// walFile is a WAL file whose Sync follows the store's policy.
//
// The store commits every command batch with pebble.Sync, because only a
// sync request makes Pebble's LogWriter write(2) its partly filled block:
// without one, a record stays in the process's memory until 32 KiB of
// records fill the block, and a kill -9 loses it (record.LogWriter's
// SyncRecordGeneralized signals its flushLoop only when a sync is
// requested). The flushLoop writes the pending blocks and then calls Sync
// (flushPending), so by the time a Sync reaches this file the batch is in
// the operating system: it survives the process. Whether it is also on the
// disk is the policy's choice, made here:
//
//   - SyncAlways: Sync is a real fdatasync.
//   - SyncInterval and SyncOff: Sync does nothing. The interval syncer, and
//     the commits that must be on disk (snapshots, id reservations), call
//     Store.fsyncWAL, which fsyncs the open WAL files directly.
//
// Close is always a real fsync first. Pebble closes a WAL when it rotates to
// a new one (a memtable filled) and at DB.Close; its recovery requires every
// WAL but the newest to end cleanly (a torn older WAL is reported as
// corruption), and the store's fsyncWAL syncs only the files still open. So
// a rotated WAL is on disk before its successor holds anything, under every
// policy; it costs one fsync per memtable (64 MiB).
//
// Nothing else in Pebble depends on the WAL's Sync: a memtable flush writes
// and syncs its sstable and the MANIFEST before the WAL it replaces is
// deleted or recycled, and a recycled WAL's stale tail is told apart by the
// log number in each chunk, not by what was synced.
type walFile struct {
	*watchFile
	real bool // Sync is a real fsync (SyncAlways)

	mu     sync.Mutex // serializes fsync with Close
	closed bool
}

func (f *walFile) Sync() error {
	if f.real {
		return f.watchFile.Sync()
	}
	return nil
}

func (f *walFile) SyncData() error {
	if f.real {
		return f.watchFile.SyncData()
	}
	return nil
}

func (f *walFile) SyncTo(length int64) (bool, error) {
	if f.real {
		return f.watchFile.SyncTo(length)
	}
	return false, nil
}

// fsync is a real fdatasync unless the file is closed (Close synced it).
func (f *walFile) fsync() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	return f.watchFile.SyncData()
}

// writeback starts the kernel's writeback of the file's dirty pages
// without waiting for it (sync_file_range with SYNC_FILE_RANGE_WRITE only):
// no durability, only less left for the fdatasync of Close. It is a hint,
// so its error is ignored (a real sync reports a failing disk).
func (f *walFile) writeback() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	_ = unix.SyncFileRange(int(f.Fd()), 0, 0, unix.SYNC_FILE_RANGE_WRITE)
}

// writebackWALs starts the writeback of every open WAL file (see
// walFile.writeback).
func (fs *watchFS) writebackWALs() {
	for _, f := range fs.openWALs() {
		f.writeback()
	}
}

func (f *walFile) Close() error {
	f.mu.Lock()
	err := f.watchFile.SyncData()
	if cerr := f.File.Close(); err == nil {
		err = cerr
	}
	f.closed = true
	f.mu.Unlock()
	f.fs.walMu.Lock()
	delete(f.fs.wals, f)
	f.fs.walMu.Unlock()
	return err
}
