package server

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/basaltkv/basalt/raft/raftpb"
	"github.com/basaltkv/basalt/server/membership"
	"github.com/basaltkv/basalt/storage/wal"
	"go.uber.org/zap"
)

// forcedPeerURL is the peer URL etcd gives this member when the log does
// not know it (a data dir from `basaltutl backup` without a raft snapshot).
const forcedPeerURL = "http://localhost:2380"

// forceNewCluster is --force-new-cluster on a restart, as etcd does it:
// the log the member restarts with keeps the committed entries only and
// gains committed conf changes that add this member (if the log does not
// know it) and then remove every other member, so that once applied the
// member is the only voter of its cluster with all committed data.
//
// commit is raised to the consistent index if the backend is ahead of the
// hard state (a commit index is not persisted on its own). Unlike etcd,
// which writes the new entries alone, the raised commit index is written
// with them: a crash before the first election then restarts, with or
// without the flag, into the one-member configuration.
func forceNewCluster(lg *zap.Logger, w *wal.WAL, cluster *membership.Cluster, id, consistIndex uint64,
	snapshot *raftpb.Snapshot, hs raftpb.HardState, ents []raftpb.Entry) (raftpb.HardState, []raftpb.Entry, error) {
	walCommit := hs.Commit
	last := lastLogIndex(snapshot, ents)
	hs.Commit = min(max(hs.Commit, consistIndex), last)
	ents = committedEntries(lg, ents, hs.Commit)

	var self *membership.Member
	if mem := cluster.Member(id); mem != nil {
		self = &membership.Member{ID: mem.ID, PeerURLs: mem.PeerURLs}
	}
	add, err := forcedConfChanges(effectiveNodeIDs(snapshot, ents), id, self, hs.Term, hs.Commit)
	if err != nil {
		return hs, nil, err
	}
	if len(add) > 0 {
		ents = append(ents, add...)
		hs.Commit = add[len(add)-1].Index
	}
	if len(add) > 0 || hs.Commit != walCommit {
		if err := w.Save(hs, add); err != nil {
			return hs, nil, fmt.Errorf("save forced conf changes: %w", err)
		}
	}
	lg.Info("forcing restart member",
		zap.String("cluster-id", idString(cluster.ID())),
		zap.String("local-member-id", idString(id)),
		zap.Uint64("wal-commit-index", walCommit),
		zap.Uint64("commit-index", hs.Commit))
	return hs, ents, nil
}

// lastLogIndex is the index of the last entry of the log the snapshot and
// the entries after it make.
func lastLogIndex(snapshot *raftpb.Snapshot, ents []raftpb.Entry) uint64 {
	if len(ents) > 0 {
		return ents[len(ents)-1].Index
	}
	if snapshot != nil {
		return snapshot.Metadata.Index
	}
	return 0
}

// committedEntries drops the entries after commit.
func committedEntries(lg *zap.Logger, ents []raftpb.Entry, commit uint64) []raftpb.Entry {
	i := slices.IndexFunc(ents, func(e raftpb.Entry) bool { return e.Index > commit })
	if i < 0 {
		return ents
	}
	lg.Info("discarding uncommitted WAL entries",
		zap.Uint64("entry-index", ents[i].Index),
		zap.Uint64("commit-index-from-wal", commit),
		zap.Int("number-of-discarded-entries", len(ents)-i))
	return ents[:i]
}

// effectiveNodeIDs is the sorted set of voters and learners after the
// snapshot's configuration and the conf changes in ents. Entries that do
// not decode are not conf changes raft applied, and are skipped.
func effectiveNodeIDs(snapshot *raftpb.Snapshot, ents []raftpb.Entry) []uint64 {
	ids := map[uint64]bool{}
	if snapshot != nil {
		for _, id := range snapshot.Metadata.ConfState.Voters {
			ids[id] = true
		}
		for _, id := range snapshot.Metadata.ConfState.Learners {
			ids[id] = true
		}
	}
	for _, e := range ents {
		if e.Type != raftpb.EntryConfChange {
			continue
		}
		var cc raftpb.ConfChange
		if cc.Unmarshal(e.Data) != nil {
			continue
		}
		switch cc.Type {
		case raftpb.ConfChangeAddNode, raftpb.ConfChangeAddLearnerNode:
			ids[cc.NodeID] = true
		case raftpb.ConfChangeRemoveNode:
			delete(ids, cc.NodeID)
		}
	}
	out := make([]uint64, 0, len(ids))
	for id := range ids {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// forcedConfChanges are the conf change entries, from index+1 at term,
// that leave self the only voter of ids: self is added first if missing
// (raft refuses a configuration without voters), as member (nil: one at
// forcedPeerURL), then every other ID is removed.
func forcedConfChanges(ids []uint64, self uint64, member *membership.Member, term, index uint64) ([]raftpb.Entry, error) {
	var ccs []raftpb.ConfChange
	if !slices.Contains(ids, self) {
		if member == nil {
			member = &membership.Member{ID: self, PeerURLs: []string{forcedPeerURL}}
		}
		ctx, err := json.Marshal(member)
		if err != nil {
			return nil, fmt.Errorf("marshal member %s: %w", idString(self), err)
		}
		ccs = append(ccs, raftpb.ConfChange{Type: raftpb.ConfChangeAddNode, NodeID: self, Context: ctx})
	}
	for _, id := range ids {
		if id != self {
			ccs = append(ccs, raftpb.ConfChange{Type: raftpb.ConfChangeRemoveNode, NodeID: id})
		}
	}
	ents := make([]raftpb.Entry, len(ccs))
	for i := range ccs {
		data, err := ccs[i].Marshal()
		if err != nil {
			return nil, fmt.Errorf("marshal conf change: %w", err)
		}
		ents[i] = raftpb.Entry{Type: raftpb.EntryConfChange, Term: term, Index: index + 1 + uint64(i), Data: data}
	}
	return ents, nil
}
