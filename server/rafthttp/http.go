package rafthttp

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"
)

// checkRequest answers the requests the transport refuses and returns the
// sender's member ID otherwise. needTo requires X-Raft-To.
func (t *Transport) checkRequest(w http.ResponseWriter, r *http.Request, method string, needTo bool) (uint64, bool) {
	w.Header().Set("X-Etcd-Cluster-ID", t.clusterIDStr)
	w.Header().Set("X-Server-Version", serverVersion)
	if r.Method != method {
		w.Header().Set("Allow", method)
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return 0, false
	}
	if t.ctx.Err() != nil {
		http.Error(w, errStopped.Error(), http.StatusServiceUnavailable)
		return 0, false
	}
	fromHeader := r.Header.Get("X-Server-From")
	if cid, err := strconv.ParseUint(r.Header.Get("X-Etcd-Cluster-ID"), 16, 64); err != nil || cid != t.cfg.ClusterID {
		t.lg.Warn("request cluster ID mismatch",
			zap.String("local-member-id", t.idStr),
			zap.String("local-member-cluster-id", t.clusterIDStr),
			zap.String("remote-peer-server-name", fromHeader),
			zap.String("remote-peer-server-version", r.Header.Get("X-Server-Version")),
			zap.String("remote-peer-cluster-id", r.Header.Get("X-Etcd-Cluster-ID")))
		http.Error(w, ErrClusterIDMismatch.Error(), http.StatusPreconditionFailed)
		return 0, false
	}
	from, err := strconv.ParseUint(fromHeader, 16, 64)
	if err != nil || from == 0 {
		http.Error(w, fmt.Sprintf("invalid X-Server-From %q", fromHeader), http.StatusBadRequest)
		return 0, false
	}
	if needTo {
		if to := r.Header.Get("X-Raft-To"); to != t.idStr {
			t.lg.Warn("ignored request; ID mismatch",
				zap.String("local-member-id", t.idStr),
				zap.String("remote-peer-id-header", to),
				zap.String("remote-peer-id-from", fromHeader))
			http.Error(w, errToMismatch.Error(), http.StatusPreconditionFailed)
			return 0, false
		}
	}
	if t.cfg.Raft.IsIDRemoved(from) {
		t.lg.Warn("rejected request from remote peer because it was removed",
			zap.String("local-member-id", t.idStr), zap.String("remote-peer-id-from", fromHeader))
		http.Error(w, "removed member", http.StatusGone)
		return 0, false
	}
	return from, true
}

// serveProbe answers the prober of a peer.
func (t *Transport) serveProbe(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Etcd-Cluster-ID", t.clusterIDStr)
	w.Header().Set("X-Server-Version", serverVersion)
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"health":true,"ts":%d}`+"\n", time.Now().UnixNano())
}
