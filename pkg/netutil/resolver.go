// Package netutil is how basalt's processes find addresses by name: the
// resolver they all use, the comparison of URLs by the addresses they
// resolve to, and the DNS SRV lookups of etcd's DNS discovery.
package netutil

import (
	"context"
	"net"
	"os"
	"time"
)

// TestDNSEnv names a DNS server (host:port, UDP) that every lookup of a
// basalt process goes to instead of the system's resolver: SRV records,
// and the hosts its members, clients and peers dial. It is for tests,
// which cannot publish SRV records in real DNS (pkg/testutil/dnstest
// serves them); etcd has no such setting.
const TestDNSEnv = "BASALT_TEST_DNS"

// TestDNS is the server TestDNSEnv names, or "".
func TestDNS() string { return os.Getenv(TestDNSEnv) }

// Resolver is the system's resolver, or one that asks only the server
// TestDNSEnv names (after /etc/hosts, as Go's resolver does).
func Resolver() *net.Resolver {
	addr := TestDNS()
	if addr == "" {
		return net.DefaultResolver
	}
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "udp", addr)
		},
	}
}

// Dialer is a dialer with the given connect timeout (0: none) that
// resolves with Resolver; its keep-alive is Go's default. localIP, if
// not empty, is the address its connections come from.
func Dialer(timeout time.Duration, localIP string) *net.Dialer {
	d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Resolver: Resolver()}
	if ip := net.ParseIP(localIP); ip != nil {
		d.LocalAddr = &net.TCPAddr{IP: ip}
	}
	return d
}
