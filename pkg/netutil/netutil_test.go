package netutil

import (
	"errors"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/basaltkv/basalt/pkg/testutil/dnstest"
)

func urls(t *testing.T, ss ...string) []url.URL {
	t.Helper()
	out := make([]url.URL, len(ss))
	for i, s := range ss {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = *u
	}
	return out
}

// testDNS serves names of example.test: m1 and m2 at 127.0.0.1, m3 at
// 127.0.0.3, and SRV records for the peer services.
func testDNS(t *testing.T) {
	addr := dnstest.Start(t, dnstest.Records{
		A: map[string][4]byte{
			"m1.example.test.": {127, 0, 0, 1},
			"m2.example.test.": {127, 0, 0, 1},
			"m3.example.test.": {127, 0, 0, 3},
		},
		SRV: map[string][]dnstest.SRV{
			"_etcd-server._tcp.example.test.": {
				{Target: "m1.example.test.", Port: 2380},
				{Target: "m2.example.test.", Port: 2381},
				{Target: "m3.example.test.", Port: 2380},
			},
			"_etcd-server-ssl._tcp.tls.test.": {
				{Target: "m1.example.test.", Port: 2380},
				{Target: "m2.example.test.", Port: 2381},
			},
			"_etcd-server-east._tcp.example.test.": {{Target: "m3.example.test.", Port: 2390}},
			"_etcd-server._tcp.broken.test.":       {{Target: "nowhere.example.test.", Port: 2380}},
			"_etcd-client._tcp.example.test.":      {{Target: "m1.example.test.", Port: 2379}},
		},
	})
	t.Setenv(TestDNSEnv, addr.Addr())
}

func TestSRVCluster(t *testing.T) {
	testDNS(t)
	tests := []struct {
		name, domain, service string
		advertised            []string
		want                  []string
		wantErr               string // a substring; "" for none
	}{
		{name: "self by resolved address, others numbered", domain: "example.test", advertised: []string{"http://127.0.0.1:2381"},
			want:    []string{"#=http://m1.example.test:2380", "#=http://m3.example.test:2380", "me=http://m2.example.test:2381"},
			wantErr: "_etcd-server-ssl"},
		{name: "self not among them", domain: "example.test", advertised: []string{"http://127.0.0.1:9999"},
			want:    []string{"#=http://m1.example.test:2380", "#=http://m2.example.test:2381", "#=http://m3.example.test:2380"},
			wantErr: "_etcd-server-ssl"},
		{name: "service name", domain: "example.test", service: "east", advertised: []string{"http://127.0.0.3:2390"},
			want: []string{"me=http://m3.example.test:2390"}, wantErr: "_etcd-server-ssl-east"},
		{name: "https records", domain: "tls.test", advertised: []string{"https://127.0.0.1:2380"},
			want: []string{"#=https://m2.example.test:2381", "me=https://m1.example.test:2380"}, wantErr: "_etcd-server._tcp"},
		{name: "scheme mismatch skips self", domain: "tls.test", advertised: []string{"http://127.0.0.1:2380"},
			want: []string{"#=https://m2.example.test:2381"}, wantErr: "_etcd-server._tcp"},
		{name: "no records", domain: "nowhere.test", advertised: []string{"http://127.0.0.1:2380"},
			wantErr: "error querying DNS SRV records for _etcd-server-ssl"},
		{name: "target does not resolve", domain: "broken.test", advertised: []string{"http://127.0.0.1:2380"},
			wantErr: "error querying DNS SRV records for _etcd-server lookup nowhere.example.test"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SRVCluster(t.Context(), tt.domain, tt.service, "me", urls(t, tt.advertised...))
			if others := numbered(got); !slices.Equal(others, numbers(len(others))) {
				t.Errorf("cluster %q: the other members are not numbered from 0", got)
			}
			if got := masked(got); !slices.Equal(got, tt.want) {
				t.Errorf("cluster %q, want %q", got, tt.want)
			}
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// numbered is the sorted names of the pairs that are numbers.
func numbered(pairs []string) []string {
	var out []string
	for _, p := range pairs {
		name, _, _ := strings.Cut(p, "=")
		if _, err := strconv.Atoi(name); err == nil {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

func numbers(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = strconv.Itoa(i)
	}
	return out
}

// masked is the pairs with numbered names as "#", sorted: Go's resolver
// shuffles records of equal priority, so the numbers follow no order.
func masked(pairs []string) []string {
	var out []string
	for _, p := range pairs {
		name, u, _ := strings.Cut(p, "=")
		if _, err := strconv.Atoi(name); err == nil {
			name = "#"
		}
		out = append(out, name+"="+u)
	}
	slices.Sort(out)
	return out
}

func TestSRVClientEndpoints(t *testing.T) {
	testDNS(t)
	got, err := SRVClientEndpoints(t.Context(), "example.test", "")
	if err != nil || !slices.Equal(got, []string{"http://m1.example.test.:2379"}) {
		t.Fatalf("endpoints %q, %v", got, err)
	}
	_, err = SRVClientEndpoints(t.Context(), "example.test", "west")
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) || !dnsErr.IsNotFound || !strings.HasPrefix(err.Error(), "dns lookup errors: lookup _etcd-client-ssl-west._tcp.example.test") {
		t.Fatalf("error %v, want both lookups not found", err)
	}
}

func TestURLsEqual(t *testing.T) {
	testDNS(t)
	tests := []struct {
		name    string
		a, b    []string
		want    bool
		wantErr string
	}{
		{name: "same strings, any order", a: []string{"http://a:1", "http://b:2"}, b: []string{"http://b:2", "http://a:1"}, want: true},
		{name: "a name and its address", a: []string{"http://m1.example.test:2380"}, b: []string{"http://127.0.0.1:2380"}, want: true},
		{name: "two names for one address", a: []string{"http://m1.example.test:2380"}, b: []string{"http://m2.example.test:2380"}, want: true},
		{name: "other port", a: []string{"http://m1.example.test:2380"}, b: []string{"http://127.0.0.1:2381"},
			wantErr: `resolved urls: "http://127.0.0.1:2380" != "http://127.0.0.1:2381"`},
		{name: "localhost is not resolved", a: []string{"http://localhost:2380"}, b: []string{"http://127.0.0.1:2380"},
			wantErr: `resolved urls: "http://localhost:2380" != "http://127.0.0.1:2380"`},
		{name: "other scheme", a: []string{"https://127.0.0.1:2380"}, b: []string{"http://127.0.0.1:2380"}, wantErr: "resolved urls"},
		{name: "lengths", a: []string{"http://a:1"}, b: []string{"http://a:1", "http://b:1"}, wantErr: "len("},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := URLsEqual(t.Context(), urls(t, tt.a...), urls(t, tt.b...))
			if got != tt.want || tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("URLsEqual = %v, %v; want %v, error containing %q", got, err, tt.want, tt.wantErr)
			}
		})
	}
}
