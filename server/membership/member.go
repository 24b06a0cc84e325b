// Package membership is the cluster's membership as the member applies it
// from the log: its members (ID, peer URLs, learner or voter, published
// name and client URLs), the IDs of removed members, and the cluster ID.
// It is persisted as etcd persists it (see package schema), so a data dir
// carries it through restarts and a database snapshot carries it to a
// member installing it.
//
// Member and cluster IDs are derived exactly as etcd derives them, so
// that every member of a new cluster computes the same IDs from the same
// --initial-cluster and token without talking, and a basalt cluster has
// the IDs an etcd cluster would have for the same flags.
package membership

import (
	"cmp"
	"context"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/basaltkv/basalt/pkg/netutil"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// Member is one member of the cluster; its JSON is etcd's, in the members
// bucket and on the peer URL's /members.
type Member struct {
	ID         uint64   `json:"id"`
	PeerURLs   []string `json:"peerURLs"`
	IsLearner  bool     `json:"isLearner,omitempty"`
	Name       string   `json:"name,omitempty"`
	ClientURLs []string `json:"clientURLs,omitempty"`
}

// Clone is a deep copy.
func (m *Member) Clone() *Member {
	c := *m
	c.PeerURLs = slices.Clone(m.PeerURLs)
	c.ClientURLs = slices.Clone(m.ClientURLs)
	return &c
}

// ToPB renders the member for MemberList.
func (m *Member) ToPB() *pb.Member {
	return &pb.Member{
		ID:         m.ID,
		Name:       m.Name,
		PeerURLs:   slices.Clone(m.PeerURLs),
		ClientURLs: slices.Clone(m.ClientURLs),
		IsLearner:  m.IsLearner,
	}
}

// IDString formats an ID as etcd does: hex without padding.
func IDString(id uint64) string { return strconv.FormatUint(id, 16) }

// MemberIDFor is the ID of a member with the given peer URLs in the
// cluster named by token; now is set only for members added at runtime.
func MemberIDFor(peerURLs []string, token string, now *time.Time) uint64 {
	urls := slices.Clone(peerURLs)
	slices.Sort(urls)
	b := []byte(strings.Join(urls, ""))
	b = append(b, token...)
	if now != nil {
		b = append(b, strconv.FormatInt(now.Unix(), 10)...)
	}
	sum := sha1.Sum(b)
	return binary.BigEndian.Uint64(sum[:8])
}

// ClusterIDFor is the cluster ID of the given members.
func ClusterIDFor(memberIDs []uint64) uint64 {
	ids := slices.Clone(memberIDs)
	slices.Sort(ids)
	b := make([]byte, 8*len(ids))
	for i, id := range ids {
		binary.BigEndian.PutUint64(b[8*i:], id)
	}
	sum := sha1.Sum(b)
	return binary.BigEndian.Uint64(sum[:8])
}

// resolveTimeout bounds the resolution of peer URLs' hosts (etcd's).
const resolveTimeout = 30 * time.Second

// InitialMembers computes the members of an --initial-cluster (name to
// peer URLs) with its token, ordered by ID, and finds the one named self,
// whose peer URLs must be advertised.
func InitialMembers(cluster map[string][]url.URL, token, self string, advertised []url.URL) ([]*Member, *Member, error) {
	if len(cluster) == 0 {
		return nil, nil, errors.New("--initial-cluster is empty")
	}
	var members []*Member
	var me *Member
	seen := map[uint64]string{}
	for name, urls := range cluster {
		peerURLs := netutil.URLStrings(urls)
		mem := &Member{ID: MemberIDFor(peerURLs, token, nil), Name: name, PeerURLs: peerURLs}
		if other, dup := seen[mem.ID]; dup {
			return nil, nil, fmt.Errorf("--initial-cluster has members %q and %q with the same peer URLs", other, name)
		}
		seen[mem.ID] = name
		members = append(members, mem)
		if name == self {
			me = mem
		}
	}
	if me == nil {
		return nil, nil, fmt.Errorf("couldn't find local name %q in the initial cluster configuration", self)
	}
	// The initial cluster may name this member's address differently
	// (DNS discovery gives the names in the SRV records).
	ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
	defer cancel()
	if same, err := netutil.URLsEqual(ctx, advertised, cluster[self]); !same {
		return nil, nil, fmt.Errorf("--initial-cluster has %s=%v but missing from --initial-advertise-peer-urls=%v (%w)", self, me.PeerURLs, netutil.URLStrings(advertised), err)
	}
	slices.SortFunc(members, byID)
	return members, me, nil
}

// IDs lists the members' IDs.
func IDs(members []*Member) []uint64 {
	ids := make([]uint64, len(members))
	for i, m := range members {
		ids[i] = m.ID
	}
	return ids
}

func byID(a, b *Member) int { return cmp.Compare(a.ID, b.ID) }
