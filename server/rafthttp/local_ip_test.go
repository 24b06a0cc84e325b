package rafthttp

import (
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/basaltkv/basalt/pkg/testutil"
	"github.com/basaltkv/basalt/raft/raftpb"
)

// TestLocalIP checks that a transport with a LocalIP (etcd's
// SetMemberLocalAddr gate) connects to its peers from that address: every
// request its peer receives comes from it.
func TestLocalIP(t *testing.T) {
	var mu sync.Mutex
	from := map[string]bool{}
	record := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
				mu.Lock()
				from[host] = true
				mu.Unlock()
			}
			h.ServeHTTP(w, r)
		})
	}
	a := newMember(t, 1, memberOpts{localIP: "127.0.0.2"})
	b := newMember(t, 2, memberOpts{wrap: record})
	connectAll(t, a, b)
	a.tr.Send([]raftpb.Message{heartbeat(1, 2, 1)})
	testutil.WaitUntil(t, 10*time.Second, "a heartbeat from a", func() bool { return b.raft.count(1) > 0 })
	mu.Lock()
	defer mu.Unlock()
	if len(from) != 1 || !from["127.0.0.2"] {
		t.Fatalf("requests came from %v, want only 127.0.0.2", from)
	}
}
