package ctl_test

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/basaltkv/basalt/pkg/netutil"
	"github.com/basaltkv/basalt/pkg/testutil/dnstest"
)

// TestDiscoverySrv runs basaltctl with --discovery-srv against DNS SRV
// records (served by a test DNS server that BASALT_TEST_DNS points
// the lookups at) naming a real basalt member: the discovered endpoint is
// used over --endpoints, the service name selects other records, insecure
// endpoints are dropped when asked, and a domain with no records is an
// error as etcdctl reports it.
func TestDiscoverySrv(t *testing.T) {
	_, ep, _ := newCluster(t, 1, nil)
	u, err := url.Parse(ep)
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(p)
	dns := dnstest.Start(t, dnstest.Records{SRV: map[string][]dnstest.SRV{
		"_etcd-client._tcp.basalt.test.":      {{Target: "localhost.", Port: port}},
		"_etcd-client-east._tcp.basalt.test.": {{Target: "localhost.", Port: port}},
	}})
	discovered := fmt.Sprintf("http://localhost.:%d", port)
	dead := "http://127.0.0.1:1" // nothing listens on port 1
	env := []string{netutil.TestDNSEnv + "=" + dns.Addr()}

	tests := []struct {
		name       string
		args       []string
		wantOut    string
		wantErr    string // a prefix of stderr
		wantCode   int
		wantIgnore bool
	}{
		{name: "discovered endpoint is used", args: []string{"--discovery-srv", "basalt.test", "--endpoints", dead, "put", "k1", "v1"}, wantOut: "OK\n"},
		{name: "service name", args: []string{"--discovery-srv", "basalt.test", "--discovery-srv-name", "east", "--endpoints", dead, "get", "k1", "--print-value-only"}, wantOut: "v1\n"},
		{name: "environment", args: []string{"--endpoints", dead, "get", "k1", "--print-value-only"}, wantOut: "v1\n"},
		{name: "insecure endpoints dropped, --endpoints used", args: []string{"--discovery-srv", "basalt.test", "--insecure-discovery=false", "--endpoints", ep, "get", "k1", "--print-value-only"}, wantOut: "v1\n", wantIgnore: true},
		{name: "no records", args: []string{"--discovery-srv", "nowhere.test", "--endpoints", ep, "get", "k1"}, wantErr: "Error: dns lookup errors: lookup _etcd-client-ssl._tcp.nowhere.test", wantCode: 1},
		{name: "no records under that service name", args: []string{"--discovery-srv", "basalt.test", "--discovery-srv-name", "west", "--endpoints", ep, "get", "k1"}, wantErr: "Error: dns lookup errors: lookup _etcd-client-ssl-west._tcp.basalt.test", wantCode: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runEnv := env
			if tt.name == "environment" {
				runEnv = append(env, "ETCDCTL_DISCOVERY_SRV=basalt.test")
			}
			r := runCtl(t, ctlPath(), append([]string{"--dial-timeout", "5s", "--command-timeout", "10s"}, tt.args...), "", runEnv, time.Minute)
			if r.code != tt.wantCode || r.stdout != tt.wantOut || !strings.HasPrefix(r.stderr, tt.wantErr) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d, stdout %q, stderr starting %q", r.code, r.stdout, r.stderr, tt.wantCode, tt.wantOut, tt.wantErr)
			}
			ignored := strings.Contains(r.stderr, fmt.Sprintf("ignoring discovered insecure endpoint %q", discovered))
			if ignored != tt.wantIgnore {
				t.Fatalf("stderr %q: ignoring line present %v, want %v", r.stderr, ignored, tt.wantIgnore)
			}
		})
	}
}
