package e2e

import (
	"fmt"
	"net"
)

// FreePorts returns n distinct ports on 127.0.0.1 that were free a moment
// ago: the OS picks them, the harness closes them and hands them to a
// member. Another process may take one in between; NewCluster then
// retries on new ports.
func FreePorts(n int) ([]int, error) {
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("pick a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
