package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/basaltkv/basalt/pkg/netutil"
	"github.com/basaltkv/basalt/raft"
	"github.com/basaltkv/basalt/server/membership"
	"github.com/basaltkv/basalt/storage/vfs"
	"github.com/basaltkv/basalt/storage/wal"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"
)

// joinTimeout bounds each request for the member list of a running
// cluster (etcd's).
const joinTimeout = 10 * time.Second

// joinRaft starts a member added to a running cluster
// (--initial-cluster-state=existing), as etcd's does: it reads the
// membership from the peers --initial-cluster names, which must list the
// same members at the same peer URLs, takes its ID and the cluster's from
// them, and starts raft with an empty log, which the leader fills by log
// or snapshot.
func joinRaft(cfg Config, lg *zap.Logger, fsys vfs.FS) (*raftStart, error) {
	local, self, err := membership.InitialMembers(cfg.InitialCluster, cfg.InitialClusterToken, cfg.Name, cfg.PeerURLs)
	if err != nil {
		return nil, err
	}
	var urls []string
	for _, m := range local {
		if m.Name != cfg.Name {
			urls = append(urls, m.PeerURLs...)
		}
	}
	slices.Sort(urls)
	cid, remote, err := fetchMembers(lg, peerClient(cfg, joinTimeout), urls)
	if err != nil {
		return nil, fmt.Errorf("cannot fetch cluster info from peer urls: %w", err)
	}
	members, err := matchMembers(local, remote)
	if err != nil {
		return nil, fmt.Errorf("error validating peerURLs %s: %w", describeMembers(cid, remote), err)
	}
	learners := 0
	for _, m := range remote {
		if m.IsLearner {
			learners++
		}
	}
	if learners > cfg.MaxLearners {
		return nil, membership.ErrTooManyLearners
	}
	rs := &raftStart{id: members[slices.IndexFunc(members, func(m *membership.Member) bool { return slices.Equal(m.PeerURLs, self.PeerURLs) })].ID,
		cluster: membership.New(cid, members...)}
	meta, err := proto.Marshal(&pb.Metadata{NodeID: proto.Uint64(rs.id), ClusterID: proto.Uint64(cid)})
	if err != nil {
		return nil, err
	}
	rs.wal, err = wal.Create(fsys, cfg.Layout().WALPath(), meta, walOptions(cfg)...)
	if err != nil {
		return nil, fmt.Errorf("create WAL: %w", err)
	}
	rs.storage = raft.NewMemoryStorage()
	if rs.node, err = raft.RestartNode(raftConfig(cfg, lg, rs.id, rs.storage)); err != nil {
		rs.wal.Close()
		return nil, err
	}
	lg.Info("joining an existing cluster", zap.String("local-member-id", idString(rs.id)), zap.String("cluster-id", idString(cid)))
	return rs, nil
}

// rejoinMembers are the members the peers in --initial-cluster list, for
// a joined member that restarts before it learned any: none if they
// cannot tell or belong to another cluster.
func rejoinMembers(lg *zap.Logger, cfg Config, cid uint64) []*membership.Member {
	var urls []string
	for name, us := range cfg.InitialCluster {
		if name != cfg.Name {
			urls = append(urls, netutil.URLStrings(us)...)
		}
	}
	slices.Sort(urls)
	got, members, err := fetchMembers(lg, peerClient(cfg, joinTimeout), urls)
	if err != nil || got != cid {
		lg.Warn("cannot learn the cluster's members from the peers", zap.Error(err), zap.String("cluster-id", idString(got)))
		return nil
	}
	return members
}

// resolveTimeout bounds the resolution of one list of peer URLs.
const resolveTimeout = 10 * time.Second

// matchMembers checks that --initial-cluster lists the running cluster's
// members at the same peer URLs (etcd's ValidateClusterAndAssignIDs) and
// returns the running cluster's members as they are (IDs, names
// published or not, learners), with their peer URLs sorted.
func matchMembers(local, remote []*membership.Member) ([]*membership.Member, error) {
	if len(local) != len(remote) {
		return nil, errors.New("member count is unequal")
	}
	out := make([]*membership.Member, 0, len(local))
	for _, r := range remote {
		urls := slices.Sorted(slices.Values(r.PeerURLs))
		i := slices.IndexFunc(local, func(l *membership.Member) bool { return slices.Equal(l.PeerURLs, urls) })
		var lastErr error
		if i < 0 {
			// A host name in one list and its address in the other match
			// once resolved, as in etcd.
			i = slices.IndexFunc(local, func(l *membership.Member) bool {
				ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
				defer cancel()
				same, err := netutil.URLStringsEqual(ctx, l.PeerURLs, urls)
				if err != nil {
					lastErr = err
				}
				return same
			})
		}
		if i < 0 {
			return nil, fmt.Errorf("PeerURLs: no match found for existing member (%s, %v), last resolver error (%v)", idString(r.ID), r.PeerURLs, lastErr)
		}
		m := r.Clone()
		m.PeerURLs = urls
		out = append(out, m)
	}
	return out, nil
}

// describeMembers renders a running cluster for an error.
func describeMembers(cid uint64, members []*membership.Member) string {
	parts := make([]string, len(members))
	for i, m := range members {
		parts[i] = fmt.Sprintf("%s=%s", idString(m.ID), strings.Join(m.PeerURLs, ","))
	}
	return fmt.Sprintf("{ClusterID:%s Members:[%s]}", idString(cid), strings.Join(parts, " "))
}

// peerClient is an HTTP client for the peer URLs of other members (TCP
// or unix sockets).
func peerClient(cfg Config, timeout time.Duration) *http.Client {
	return &http.Client{
		Transport: netutil.WithUnixSockets(&http.Transport{TLSClientConfig: cfg.PeerTLS, DialContext: netutil.Dial(30*time.Second, cfg.PeerLocalIP)}),
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// fetchMembers reads the member list and cluster ID from the first peer
// URL that answers.
func fetchMembers(lg *zap.Logger, hc *http.Client, urls []string) (uint64, []*membership.Member, error) {
	for _, u := range urls {
		cid, members, err := fetchMembersFrom(hc, u)
		if err == nil {
			return cid, members, nil
		}
		lg.Warn("failed to get cluster response", zap.String("address", u+"/members"), zap.Error(err))
	}
	return 0, nil, errors.New("could not retrieve cluster information from the given URLs")
}

func fetchMembersFrom(hc *http.Client, u string) (uint64, []*membership.Member, error) {
	a, err := callPeer(context.Background(), hc, http.MethodGet, u+"/members", nil, "", 0)
	if err != nil {
		return 0, nil, err
	}
	var members []*membership.Member
	if err := json.Unmarshal(a.body, &members); err != nil {
		return 0, nil, fmt.Errorf("decode member list: %w", err)
	}
	cid, err := strconv.ParseUint(a.header.Get("X-Etcd-Cluster-ID"), 16, 64)
	if err != nil {
		return 0, nil, fmt.Errorf("parse cluster ID %q: %w", a.header.Get("X-Etcd-Cluster-ID"), err)
	}
	if len(members) == 0 {
		return 0, nil, errors.New("failed to get raft cluster member(s) from the given URLs")
	}
	return cid, members, nil
}
