package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/basaltkv/basalt/server/schema"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/membershippb"
	"go.uber.org/zap"
)

const (
	// monitorVersionInterval is how often the leader checks the cluster
	// version, etcd's (the peer write timeout less a second).
	monitorVersionInterval = 4 * time.Second
	// minClusterVersion is the cluster version etcd's leader sets when a
	// member's version is not known yet.
	minClusterVersion = "3.0.0"
)

// monitorClusterVersion is etcd's cluster version monitor: while leader,
// every monitorVersionInterval, read every member's server version from
// its /version and, if the cluster version is unset or below the lowest
// (major.minor), set it through raft (ClusterVersionSet), as etcd's leader
// does. basalt reports the etcd version it implements, so a cluster of
// basalt members settles on it at once; the entry matters to etcd members
// of a mixed cluster, which learn the cluster version only from it.
func (m *Member) monitorClusterVersion() {
	hc := peerClient(m.cfg, monitorVersionInterval/2)
	for {
		select {
		case <-time.After(monitorVersionInterval):
		case <-m.stopping:
			return
		}
		if !m.IsLeader() {
			continue
		}
		current := m.storedClusterVersion()
		if current != "" && compareVersions(current, EtcdVersion) >= 0 {
			// Nothing can raise it past this member's own version: the
			// peers need not be asked.
			continue
		}
		want := decideClusterVersion(current, m.membersMinimalVersion(hc))
		if want == "" {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), m.requestTimeout())
		_, err := m.propose(ctx, &pb.InternalRaftRequest{ClusterVersionSet: &membershippb.ClusterVersionSetRequest{Ver: want}})
		cancel()
		if err != nil {
			m.lg.Warn("failed to update cluster version", zap.String("cluster-version", want), zap.Error(err))
			continue
		}
		m.lg.Info("updated cluster version", zap.String("cluster-version", want))
	}
}

// decideClusterVersion is etcd's rule: an unset cluster version becomes
// the lowest member version (major.minor), or 3.0 while one is unknown; a
// set one is raised to the lowest member version once every member is
// known and all are newer. It returns "" for no change.
func decideClusterVersion(current, minimal string) string {
	switch {
	case current == "" && minimal == "":
		return minClusterVersion
	case current == "":
		return minimal
	case minimal == "":
		return ""
	case compareVersions(current, minimal) < 0:
		return minimal
	}
	return ""
}

// storedClusterVersion is the cluster version the applier stored, or "".
func (m *Member) storedClusterVersion() string { return m.st.clusterVersion() }

// clusterVersion is the cluster version the applier stored, or "".
func (st *state) clusterVersion() string {
	view := st.be.ReadTx()
	defer view.End()
	if v, ok := view.Get(schema.Cluster, schema.ClusterVersionKey); ok {
		return string(v)
	}
	return ""
}

// membersMinimalVersion is the lowest server version (as major.minor.0)
// among the members, this one included, or "" if a member's is unknown.
func (m *Member) membersMinimalVersion(hc *http.Client) string {
	lowest := majorMinor0(EtcdVersion)
	for _, mem := range m.st.cluster.Members() {
		if mem.ID == m.id {
			continue
		}
		v, err := m.peerServerVersion(hc, mem.PeerURLs)
		if err != nil {
			m.lg.Warn("failed to reach the peer URL", zap.String("remote-member-id", idString(mem.ID)), zap.Error(err))
			return ""
		}
		if compareVersions(v, lowest) < 0 {
			lowest = v
		}
	}
	return lowest
}

// peerServerVersion reads a member's etcdserver version from /version on
// its first peer URL that answers.
func (m *Member) peerServerVersion(hc *http.Client, urls []string) (string, error) {
	var lastErr error = fmt.Errorf("no peer URL")
	for _, u := range urls {
		a, err := callPeer(context.Background(), hc, http.MethodGet, strings.TrimSuffix(u, "/")+"/version", nil, "", 0)
		if err != nil {
			lastErr = err
			continue
		}
		var vs struct {
			Server string `json:"etcdserver"`
		}
		if a.status != http.StatusOK || json.Unmarshal(a.body, &vs) != nil || vs.Server == "" {
			lastErr = fmt.Errorf("unexpected /version answer from %s: %d %q", u, a.status, a.body)
			continue
		}
		return majorMinor0(vs.Server), nil
	}
	return "", lastErr
}

// majorMinor0 is version v as major.minor.0.
func majorMinor0(v string) string {
	maj, min := versionParts(v)
	return fmt.Sprintf("%d.%d.0", maj, min)
}

func versionParts(v string) (int, int) {
	parts := strings.SplitN(v, ".", 3)
	maj, _ := strconv.Atoi(parts[0])
	min := 0
	if len(parts) > 1 {
		min, _ = strconv.Atoi(parts[1])
	}
	return maj, min
}

// compareVersions compares the major.minor of a and b.
func compareVersions(a, b string) int {
	amaj, amin := versionParts(a)
	bmaj, bmin := versionParts(b)
	if amaj != bmaj {
		return amaj - bmaj
	}
	return amin - bmin
}
