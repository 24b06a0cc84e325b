package ctl_test

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/basaltkv/basalt/pkg/netutil"
	"github.com/basaltkv/basalt/pkg/testutil/dnstest"
)

// TestV2DiscoverySrv runs `ETCDCTL_API=2 basaltctl --discovery-srv`
// against SRV records (from a test DNS server) naming a member with the
// v2 API. As in etcdctl 3.4's v2 mode, discovered http endpoints are
// dropped unless --insecure-discovery (or ETCDCTL_INSECURE_DISCOVERY) is
// given, and then --endpoints is used.
func TestV2DiscoverySrv(t *testing.T) {
	srv := debianEtcdV2
	if _, err := os.Stat(srv.bin); err != nil {
		t.Skipf("%s is missing: the v2 commands need a server with the v2 API", srv.bin)
	}
	client, peer := newV2URLs(t)
	m := startV2Member(t, srv, filepath.Join(t.TempDir(), "e0"), "e0", client, peer, "", "new")
	u, err := url.Parse(m.clientURL)
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatal(err)
	}
	dns := dnstest.Start(t, dnstest.Records{SRV: map[string][]dnstest.SRV{
		"_etcd-client._tcp.basalt.test.":      {{Target: "localhost.", Port: uint16(p)}},
		"_etcd-client-east._tcp.basalt.test.": {{Target: "localhost.", Port: uint16(p)}},
	}})
	discovered := fmt.Sprintf("http://localhost.:%d", p)
	dead := "http://127.0.0.1:1" // nothing listens on port 1
	base := []string{"ETCDCTL_API=2", netutil.TestDNSEnv + "=" + dns.Addr()}

	tests := []struct {
		name       string
		args, env  []string
		wantOut    string
		wantErr    string // a prefix of stderr
		wantCode   int
		wantIgnore bool
	}{
		{name: "discovered endpoint is used", args: []string{"--discovery-srv", "basalt.test", "--insecure-discovery", "--endpoints", dead, "set", "/k", "v"}, wantOut: "v\n"},
		{name: "short flag, service name from the environment", args: []string{"-D", "basalt.test", "--insecure-discovery", "--endpoints", dead, "get", "/k"},
			env: []string{"ETCDCTL_DISCOVERY_SRV_NAME=east"}, wantOut: "v\n"},
		{name: "environment", args: []string{"--endpoints", dead, "get", "/k"},
			env: []string{"ETCDCTL_DISCOVERY_SRV=basalt.test", "ETCDCTL_INSECURE_DISCOVERY=1"}, wantOut: "v\n"},
		{name: "insecure endpoints dropped, --endpoints used", args: []string{"--discovery-srv", "basalt.test", "--endpoints", m.clientURL, "get", "/k"},
			wantOut: "v\n", wantIgnore: true},
		{name: "no records", args: []string{"--discovery-srv", "nowhere.test", "--endpoints", m.clientURL, "get", "/k"},
			wantErr: "dns lookup errors: lookup _etcd-client-ssl._tcp.nowhere.test", wantCode: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCtl(t, ctlPath(), tt.args, "", append(append([]string(nil), base...), tt.env...), time.Minute)
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
