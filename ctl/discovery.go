package ctl

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"time"
)

// testDNSEnv names a DNS server (host:port, UDP) that --discovery-srv
// queries instead of the system's resolver, and that resolves the hosts
// the client dials. It is for tests, which cannot publish SRV records in
// real DNS; etcdctl has no such setting.
const testDNSEnv = "BASALT_CTL_TEST_DNS"

// srvClientEndpoints finds a cluster's client URLs in domain's DNS SRV
// records as etcdctl does: _etcd-client-ssl._tcp.<domain> gives https URLs
// and _etcd-client._tcp.<domain> http URLs (each service suffixed with
// "-<serviceName>" when one is given). Either lookup may fail; both
// failing is an error.
func srvClientEndpoints(ctx context.Context, r *net.Resolver, domain, serviceName string) ([]string, error) {
	var eps []string
	lookup := func(service, scheme string) error {
		if serviceName != "" {
			service += "-" + serviceName
		}
		_, addrs, err := r.LookupSRV(ctx, service, "tcp", domain)
		if err != nil {
			return err
		}
		for _, a := range addrs {
			u := url.URL{Scheme: scheme, Host: net.JoinHostPort(a.Target, strconv.Itoa(int(a.Port)))}
			eps = append(eps, u.String())
		}
		return nil
	}
	errHTTPS := lookup("etcd-client-ssl", "https")
	errHTTP := lookup("etcd-client", "http")
	if errHTTPS != nil && errHTTP != nil {
		return nil, fmt.Errorf("dns lookup errors: %w and %w", errHTTPS, errHTTP)
	}
	return eps, nil
}

// resolver is the system's, or the test DNS server's when testDNSEnv is
// set.
func resolver() *net.Resolver {
	addr := os.Getenv(testDNSEnv)
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

// srvLookupTimeout bounds the SRV lookups; the resolver's own timeouts
// apply within it.
const srvLookupTimeout = 30 * time.Second
