package netutil

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// retryInterval spaces the attempts to resolve a host.
const retryInterval = time.Second

// URLsEqual reports whether two lists of URLs name the same endpoints, as
// etcd compares a member's advertised peer URLs with those the initial
// cluster gives it: equal as sets of strings, or else equal once every
// host is resolved to its first address ("localhost" and unix sockets
// are left as written). Resolution is retried until ctx ends. When they
// differ, the error says how.
func URLsEqual(ctx context.Context, a, b []url.URL) (bool, error) {
	if len(a) != len(b) {
		return false, fmt.Errorf("len(%q) != len(%q)", URLStrings(a), URLStrings(b))
	}
	as, bs := URLStrings(a), URLStrings(b)
	if slices.Equal(as, bs) {
		return true, nil
	}
	ra, err := resolveURLs(ctx, a)
	if err != nil {
		return false, err
	}
	rb, err := resolveURLs(ctx, b)
	if err != nil {
		return false, err
	}
	for i := range ra {
		if ra[i] != rb[i] {
			return false, fmt.Errorf("resolved urls: %q != %q", ra[i], rb[i])
		}
	}
	return true, nil
}

// URLStringsEqual is URLsEqual for URLs as strings.
func URLStringsEqual(ctx context.Context, a, b []string) (bool, error) {
	parse := func(ss []string) ([]url.URL, error) {
		out := make([]url.URL, len(ss))
		for i, s := range ss {
			u, err := url.Parse(s)
			if err != nil {
				return nil, err
			}
			out[i] = *u
		}
		return out, nil
	}
	ua, err := parse(a)
	if err != nil {
		return false, err
	}
	ub, err := parse(b)
	if err != nil {
		return false, err
	}
	return URLsEqual(ctx, ua, ub)
}

// URLStrings renders URLs, sorted.
func URLStrings(us []url.URL) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.String()
	}
	slices.Sort(out)
	return out
}

// resolveURLs is the URLs with their hosts resolved, sorted.
func resolveURLs(ctx context.Context, us []url.URL) ([]string, error) {
	out := make([]string, len(us))
	for i, u := range us {
		if u.Scheme != "unix" && u.Scheme != "unixs" {
			host, err := resolveHost(ctx, u.Host)
			if err != nil {
				return nil, fmt.Errorf("failed to resolve %q (%w)", u.String(), err)
			}
			u.Host = host
		}
		out[i] = u.String()
	}
	slices.Sort(out)
	return out, nil
}

// resolveHost turns host:port into address:port, retrying a failed
// lookup every retryInterval until ctx ends.
func resolveHost(ctx context.Context, hostport string) (string, error) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return "", err
	}
	if host == "localhost" || net.ParseIP(host) != nil {
		return hostport, nil
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return "", fmt.Errorf("invalid port %q", port)
	}
	for {
		addrs, err := Resolver().LookupIPAddr(ctx, host)
		if err == nil && len(addrs) > 0 {
			return net.JoinHostPort(addrs[0].IP.String(), port), nil
		}
		if err == nil {
			err = fmt.Errorf("no addresses for %s", host)
		}
		select {
		case <-ctx.Done():
			return "", err
		case <-time.After(retryInterval):
		}
	}
}
