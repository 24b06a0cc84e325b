package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
)

// PeerHandler serves the peer URLs: the raft transport, forwarded lease
// requests, and the member list and version that joining members and
// tools read.
func (m *Member) PeerHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/raft", m.raft.transport.Handler())
	mux.Handle("/raft/", m.raft.transport.Handler())
	mux.HandleFunc(peerLeasesPrefix, m.serveLeases)
	mux.HandleFunc(peerLeasesInternalPath, m.serveLeases)
	mux.HandleFunc(peerLeasesRenewPath, m.serveLeaseRenewals)
	mux.HandleFunc(peerPromotePrefix, m.servePromote)
	mux.HandleFunc(peerHashKVPath, m.serveHashKV)
	mux.HandleFunc("/members", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Etcd-Cluster-ID", idString(m.ClusterID()))
		_ = json.NewEncoder(w).Encode(m.st.cluster.Members())
	})
	mux.HandleFunc("/version", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{
			"etcdserver":  EtcdVersion,
			"etcdcluster": EtcdClusterVersion,
			"basalt":      Version,
		})
	})
	return mux
}

// peerAnswer is a peer's answer to one request.
type peerAnswer struct {
	status int
	header http.Header
	body   []byte
}

// callPeer sends one request to url, a peer's endpoint, and reads the whole
// answer (at most 64 MiB). A body is sent with contentType; clusterID, if
// not 0, goes in X-Etcd-Cluster-ID as etcd's members send it.
func callPeer(ctx context.Context, hc *http.Client, method, url string, body []byte, contentType string, clusterID uint64) (peerAnswer, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return peerAnswer{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	if clusterID != 0 {
		req.Header.Set("X-Etcd-Cluster-ID", idString(clusterID))
	}
	resp, err := hc.Do(req)
	if err != nil {
		return peerAnswer{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return peerAnswer{}, err
	}
	return peerAnswer{status: resp.StatusCode, header: resp.Header, body: data}, nil
}

// checkPeerRequest answers the requests a peer endpoint of the member
// refuses, as etcd's do: another method than those given, or another
// cluster's ID. Every answer carries this cluster's ID.
func (m *Member) checkPeerRequest(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	if !slices.Contains(methods, r.Method) {
		w.Header().Set("Allow", strings.Join(methods, ", "))
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return false
	}
	w.Header().Set("X-Etcd-Cluster-ID", idString(m.ClusterID()))
	if cid := r.Header.Get("X-Etcd-Cluster-ID"); cid != "" && cid != idString(m.ClusterID()) {
		http.Error(w, "request cluster ID mismatch", http.StatusPreconditionFailed)
		return false
	}
	return true
}
