package server

import (
	"encoding/json"
	"net/http"
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
