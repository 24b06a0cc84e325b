package netutil

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// SRVClientEndpoints finds a cluster's client URLs in domain's DNS SRV
// records as etcdctl does: _etcd-client-ssl._tcp.<domain> gives https URLs
// and _etcd-client._tcp.<domain> http URLs (each service suffixed with
// "-<serviceName>" when one is given). Either lookup may fail; both
// failing is an error.
func SRVClientEndpoints(ctx context.Context, domain, serviceName string) ([]string, error) {
	r := Resolver()
	var eps []string
	lookup := func(service, scheme string) error {
		_, addrs, err := r.LookupSRV(ctx, withServiceName(service, serviceName), "tcp", domain)
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

func withServiceName(service, serviceName string) string {
	if serviceName == "" {
		return service
	}
	return service + "-" + serviceName
}

// SRVCluster finds a new cluster's members in domain's DNS SRV records as
// etcd's --discovery-srv does: _etcd-server-ssl._tcp.<domain> gives https
// peer URLs and _etcd-server._tcp.<domain> http ones (suffixed with
// "-<serviceName>" when one is given), as "name=url" pairs. The record
// whose target resolves to one of advertised (this member's peer URLs) is
// named name; the others are numbered from 0 (a member publishes its real
// name once it runs). The pairs found are returned even when a lookup
// failed; the error joins the lookups' errors.
func SRVCluster(ctx context.Context, domain, serviceName, name string, advertised []url.URL) ([]string, error) {
	self := map[string]url.URL{}
	for _, u := range advertised {
		addr, err := resolveSRVHost(ctx, u.Host)
		if err != nil {
			return nil, err
		}
		self[addr] = u
	}
	// Each service numbers its other members from 0, as etcd's does.
	lookup := func(scheme, service string) ([]string, error) {
		_, addrs, err := Resolver().LookupSRV(ctx, service, "tcp", domain)
		if err != nil {
			return nil, fmt.Errorf("error querying DNS SRV records for _%s %w", service, err)
		}
		var pairs []string
		next := 0
		for _, srv := range addrs {
			port := strconv.Itoa(int(srv.Port))
			addr, rerr := resolveSRVHost(ctx, net.JoinHostPort(srv.Target, port))
			if rerr != nil {
				err = rerr
				continue
			}
			host := net.JoinHostPort(strings.TrimSuffix(srv.Target, "."), port)
			mine, ok := self[addr]
			n := name
			if !ok {
				n = strconv.Itoa(next)
				next++
			}
			if ok && mine.Scheme != scheme {
				err = fmt.Errorf("bootstrap at %s from DNS for %s has scheme mismatch with expected peer %s", scheme+"://"+host, service, mine.String())
				continue
			}
			pairs = append(pairs, fmt.Sprintf("%s=%s://%s", n, scheme, host))
		}
		if len(pairs) == 0 && err != nil {
			return nil, fmt.Errorf("error querying DNS SRV records for _%s %w", service, err)
		}
		return pairs, nil
	}
	pairs, errHTTPS := lookup("https", withServiceName("etcd-server-ssl", serviceName))
	more, errHTTP := lookup("http", withServiceName("etcd-server", serviceName))
	return append(pairs, more...), errors.Join(errHTTPS, errHTTP)
}

// resolveSRVHost is host:port's first address with the port, once.
func resolveSRVHost(ctx context.Context, hostport string) (string, error) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return "", err
	}
	if ip := net.ParseIP(host); ip != nil {
		return net.JoinHostPort(ip.String(), port), nil
	}
	addrs, err := Resolver().LookupIPAddr(ctx, host)
	if err != nil {
		return "", err
	}
	if len(addrs) == 0 {
		return "", fmt.Errorf("no addresses for %s", host)
	}
	return net.JoinHostPort(addrs[0].IP.String(), port), nil
}
