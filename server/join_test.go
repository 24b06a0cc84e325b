package server

import (
	"strings"
	"testing"

	"github.com/basaltkv/basalt/pkg/netutil"
	"github.com/basaltkv/basalt/pkg/testutil/dnstest"
	"github.com/basaltkv/basalt/server/membership"
)

// TestMatchMembers checks a joining member's comparison of its
// --initial-cluster with the running cluster's members, as etcd's
// ValidateClusterAndAssignIDs: by peer URLs, a host name matching its
// address once resolved.
func TestMatchMembers(t *testing.T) {
	dns := dnstest.Start(t, dnstest.Records{A: map[string][4]byte{"m2.example.test.": {127, 0, 0, 2}}})
	t.Setenv(netutil.TestDNSEnv, dns.Addr())
	remote := []*membership.Member{
		{ID: 1, Name: "m1", PeerURLs: []string{"http://127.0.0.1:2380"}},
		{ID: 2, Name: "m2", PeerURLs: []string{"http://127.0.0.2:2380"}},
	}
	local := func(urls ...string) []*membership.Member {
		out := make([]*membership.Member, len(urls))
		for i, u := range urls {
			out[i] = &membership.Member{ID: uint64(100 + i), PeerURLs: []string{u}}
		}
		return out
	}
	tests := []struct {
		name    string
		local   []*membership.Member
		wantErr string
	}{
		{name: "same URLs", local: local("http://127.0.0.2:2380", "http://127.0.0.1:2380")},
		{name: "a host name for an address", local: local("http://127.0.0.1:2380", "http://m2.example.test:2380")},
		{name: "another port", local: local("http://127.0.0.1:2380", "http://127.0.0.2:2381"),
			wantErr: "PeerURLs: no match found for existing member (2, [http://127.0.0.2:2380]), last resolver error (resolved urls:"},
		{name: "count", local: local("http://127.0.0.1:2380"), wantErr: "member count is unequal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := matchMembers(tt.local, remote)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 || got[0].ID != 1 || got[1].ID != 2 || got[1].PeerURLs[0] != "http://127.0.0.2:2380" {
				t.Fatalf("members %v: want the running cluster's", got)
			}
		})
	}
}
