package embed

import (
	"syscall"
)

// soReusePort is SO_REUSEPORT on Linux (the syscall package lacks it).
const soReusePort = 0xf

func (o SocketOpts) control(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		if o.ReuseAddress {
			if serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); serr != nil {
				return
			}
		}
		if o.ReusePort {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, soReusePort, 1)
		}
	})
	if err != nil {
		return err
	}
	return serr
}
