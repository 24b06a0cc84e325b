//go:build !linux

package embed

import (
	"errors"
	"syscall"
)

func (o SocketOpts) control(_, _ string, _ syscall.RawConn) error {
	return errors.New("basalt: --socket-reuse-port and --socket-reuse-address are supported on Linux only")
}
