//go:build unix

package vfs

import (
	"os"
	"syscall"
)

// lockFile takes flock(2) LOCK_EX without blocking. flock belongs to the
// open file description, so two opens in one process exclude each other
// as two processes do.
func lockFile(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		for {
			serr = syscall.Flock(int(fd), syscall.LOCK_EX|syscall.LOCK_NB)
			if serr != syscall.EINTR {
				return
			}
		}
	})
	if err != nil {
		return err
	}
	if serr == syscall.EWOULDBLOCK {
		return ErrLocked
	}
	return serr
}
