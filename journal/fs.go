package journal

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// watchFS wraps the file system Pebble writes through and marks the store
// failed on the first failed write, sync or file creation, before the error
// reaches Pebble. The order matters: Store.commit relies on the mark being
// set before Pebble's WAL writer can have recorded the error.
//
// Every file counts, not only the WAL: a disk that fails to write an sstable
// or the manifest is not one to acknowledge orders on.
type watchFS struct {
	vfs.FS
	s *Store
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
	return &watchFile{File: f, fs: fs, name: name}, nil
}

func (fs *watchFS) ReuseForWrite(oldname, newname string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(oldname, newname, category)
	if err != nil {
		return nil, fs.report("reuse", newname, err)
	}
	return &watchFile{File: f, fs: fs, name: newname}, nil
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
