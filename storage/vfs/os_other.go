//go:build !linux

package vfs

import "os"

func datasync(f *os.File) error { return f.Sync() }

// preallocate extends the file with Truncate: a sparse file reads back as
// zeros, which is all the callers rely on.
func preallocate(f *os.File, size int64) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() >= size {
		return nil
	}
	return f.Truncate(size)
}
