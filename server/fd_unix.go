//go:build unix

package server

import (
	"fmt"
	"syscall"
)

// fdLimit is the process's soft limit of open file descriptors
// (RLIMIT_NOFILE).
func fdLimit() (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, fmt.Errorf("get the file descriptor limit: %w", err)
	}
	return uint64(rl.Cur), nil
}
