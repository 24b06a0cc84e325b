package utl

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// errLockTimeout is bbolt's message when the file stays locked.
var errLockTimeout = errors.New("timeout")

// lockPollInterval is how often a locked database file is tried again.
const lockPollInterval = 50 * time.Millisecond

// waitFileLock waits until no process (a running member) holds the lock
// bbolt takes on the database file at path, for at most timeout (0: as
// long as it takes): this is --timeout. The lock is released at once;
// the server's backend takes it again to do the work.
func waitFileLock(path string, timeout time.Duration) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return unix.Flock(int(f.Fd()), unix.LOCK_UN)
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			return fmt.Errorf("lock %s: %w", path, err)
		}
		if !deadline.IsZero() && time.Now().After(deadline) {
			return fmt.Errorf("open %s: %w", path, errLockTimeout)
		}
		time.Sleep(lockPollInterval)
	}
}
