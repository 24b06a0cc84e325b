package membership

import (
	"cmp"
	"encoding/json"
	"errors"
	"path"
	"slices"
	"strconv"

	"github.com/basaltkv/basalt/storage/v2store"
)

// V2StoreJSON is the data of a raft snapshot as etcd writes it
// (etcdserver.GetMembershipInfoInV2Format): the membership kept in a v2
// store, /0/members/<id>/raftAttributes and /attributes,
// /0/removed_members/<id> and /0/version (the cluster version, if set),
// serialized as etcd serializes a v2 store (package v2store). etcd 3.7 does not read it;
// etcd 3.5 and 3.6 recover their membership from it when they start on a
// data dir, so basalt's snapshot files carry it. Members and removed IDs
// are stored in ID order (etcd's order is its map's).
func V2StoreJSON(members []*Member, removed []uint64, clusterVersion string) ([]byte, error) {
	s := v2store.New("/0", "/1")
	// etcd first checks that the new store holds no members: a read of
	// the missing /0/members.
	if _, err := s.Get("/0/members", false, false); err == nil {
		return nil, errors.New("a new v2 store holds members")
	}
	members = slices.Clone(members)
	slices.SortFunc(members, func(a, b *Member) int { return cmp.Compare(a.ID, b.ID) })
	for _, m := range members {
		raft, err := json.Marshal(struct {
			PeerURLs  []string `json:"peerURLs"`
			IsLearner bool     `json:"isLearner,omitempty"`
		}{m.PeerURLs, m.IsLearner})
		if err != nil {
			return nil, err
		}
		if _, err := s.Create(path.Join(memberKey(m.ID), "raftAttributes"), false, string(raft), false, v2store.TTLOptions{}); err != nil {
			return nil, err
		}
		if m.ClientURLs != nil {
			attrs, err := json.Marshal(struct {
				Name       string   `json:"name,omitempty"`
				ClientURLs []string `json:"clientURLs,omitempty"`
			}{m.Name, m.ClientURLs})
			if err != nil {
				return nil, err
			}
			if _, err := s.Set(path.Join(memberKey(m.ID), "attributes"), false, string(attrs), v2store.TTLOptions{}); err != nil {
				return nil, err
			}
		}
	}
	removed = slices.Clone(removed)
	slices.Sort(removed)
	for _, id := range removed {
		if _, err := s.Create(path.Join("/0/removed_members", strconv.FormatUint(id, 16)), false, "", false, v2store.TTLOptions{}); err != nil {
			return nil, err
		}
	}
	if clusterVersion != "" {
		if _, err := s.Set("/0/version", false, clusterVersion, v2store.TTLOptions{}); err != nil {
			return nil, err
		}
	}
	return s.Save()
}

func memberKey(id uint64) string { return path.Join("/0/members", strconv.FormatUint(id, 16)) }
