package server

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/basaltkv/basalt/lease"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// TestForwardedRenewalsInBatches renews many leases at once through a
// follower, mixed with unknown IDs: each caller gets its own lease's
// answer (the batch keeps order), and unknown ones are not found.
func TestForwardedRenewalsInBatches(t *testing.T) {
	c := newTestCluster(t, 3)
	c.waitReady()
	ctx := ctxT(t)
	lead := c.leader()
	follower := c.follower()
	const n = 50
	ttls := make([]int64, n)
	ids := make([]int64, n)
	for i := range n {
		ttls[i] = int64(10 + i)
		g, err := lead.m.LeaseGrant(ctx, &pb.LeaseGrantRequest{TTL: ttls[i]})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = g.ID
	}
	for round := range 3 {
		var wg sync.WaitGroup
		errs := make(chan error, 2*n)
		for i := range n {
			wg.Add(2)
			go func() {
				defer wg.Done()
				ttl, err := follower.m.LeaseRenew(ctx, ids[i])
				if err != nil || ttl != ttls[i] {
					errs <- fmt.Errorf("lease %x: ttl %d (want %d), err %v", ids[i], ttl, ttls[i], err)
				}
			}()
			go func() {
				defer wg.Done()
				unknown := int64(1<<40 + i)
				if _, err := follower.m.LeaseRenew(ctx, unknown); !errors.Is(err, lease.ErrLeaseNotFound) {
					errs <- fmt.Errorf("unknown lease %x: err %v, want not found", unknown, err)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("round %d: %v", round, err)
		}
	}
}

// TestRenewalBatchRefusals: a follower refuses a batch as not leader, and
// the leader refuses a malformed one.
func TestRenewalBatchRefusals(t *testing.T) {
	c := newTestCluster(t, 3)
	c.waitReady()
	lead := c.leader()
	follower := c.follower()
	tests := []struct {
		name   string
		m      *Member
		method string
		body   string
		want   int
	}{
		{"follower", follower.m, http.MethodPost, "12345678", http.StatusPreconditionFailed},
		{"not a multiple of 8 bytes", lead.m, http.MethodPost, "123", http.StatusBadRequest},
		{"too many", lead.m, http.MethodPost, strings.Repeat("x", 8*(maxRenewBatch+1)), http.StatusBadRequest},
		{"GET", lead.m, http.MethodGet, "", http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			req, err := http.NewRequest(tt.method, peerLeasesRenewPath, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			tt.m.PeerHandler().ServeHTTP(rec, req)
			if rec.Code != tt.want {
				t.Fatalf("status %d, want %d", rec.Code, tt.want)
			}
		})
	}
}
