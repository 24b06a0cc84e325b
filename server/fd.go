package server

import (
	"fmt"
	"os"
	"time"

	"go.uber.org/zap"
)

// fdCheckInterval is how often the member counts its file descriptors,
// as etcd: counting thousands is not free.
const fdCheckInterval = 10 * time.Minute

// monitorFileDescriptors sets os_fd_used and os_fd_limit at start and
// every fdCheckInterval, and warns when four fifths of the limit are in
// use, as etcd does. Where they cannot be counted (no /proc) it warns
// once and stops, as etcd's does.
func (m *Member) monitorFileDescriptors() {
	t := time.NewTicker(fdCheckInterval)
	defer t.Stop()
	for {
		used, err := fdUsed()
		if err != nil {
			m.lg.Warn("failed to get file descriptor usage", zap.Error(err))
			return
		}
		m.metrics.fdUsed.Set(float64(used))
		limit, err := fdLimit()
		if err != nil {
			m.lg.Warn("failed to get file descriptor limit", zap.Error(err))
			return
		}
		m.metrics.fdLimit.Set(float64(limit))
		if fdNearLimit(used, limit) {
			m.lg.Warn("80% of file descriptors are used", zap.Uint64("used", used), zap.Uint64("limit", limit))
		}
		select {
		case <-t.C:
		case <-m.stopping:
			return
		}
	}
}

// fdNearLimit reports whether used is at four fifths of limit or more
// (in etcd's integer arithmetic).
func fdNearLimit(used, limit uint64) bool { return used >= limit/5*4 }

// fdUsed counts the process's open file descriptors: the entries of
// /proc/self/fd (the one reading it among them, as in etcd's count).
func fdUsed() (uint64, error) { return countDirEntries("/proc/self/fd") }

func countDirEntries(dir string) (uint64, error) {
	f, err := os.Open(dir)
	if err != nil {
		return 0, fmt.Errorf("count file descriptors: %w", err)
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return 0, fmt.Errorf("count file descriptors in %s: %w", dir, err)
	}
	return uint64(len(names)), nil
}
