package server

import (
	"context"
	"slices"
	"sync/atomic"
	"time"

	"github.com/basaltkv/basalt/pkg/netutil"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/membershippb"
	"go.uber.org/zap"
)

// publishAttributes records this member's name and client URLs in the
// cluster through raft, retrying until it succeeds.
func (m *Member) publishAttributes() {
	req := &membershippb.ClusterMemberAttrSetRequest{
		Member_ID: m.id,
		MemberAttributes: &membershippb.Attributes{
			Name:       m.cfg.Name,
			ClientUrls: netutil.URLStrings(m.cfg.ClientURLs),
		},
	}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), m.requestTimeout())
		// The entry of the proposal may come inside a snapshot from the
		// leader, which no waiter hears of: then look at what the
		// snapshot says of us rather than wait out the timeout.
		snapc := m.applier.snapshotInstalled.wait()
		var bySnapshot atomic.Bool
		go func() {
			select {
			case <-snapc:
				bySnapshot.Store(true)
				cancel()
			case <-ctx.Done():
			}
		}()
		_, err := m.propose(ctx, &pb.InternalRaftRequest{ClusterMemberAttrSet: req})
		cancel()
		if err != nil && bySnapshot.Load() && m.attributesPublished(req.MemberAttributes) {
			err = nil
		}
		if err == nil {
			m.lg.Info("published local member to cluster through raft",
				zap.String("local-member-id", idString(m.id)), zap.String("cluster-id", idString(m.ClusterID())),
				zap.Strings("local-member-client-urls", req.MemberAttributes.ClientUrls))
			close(m.readyc)
			return
		}
		m.lg.Warn("failed to publish local member to cluster through raft", zap.Error(err))
		select {
		case <-time.After(500 * time.Millisecond):
		case <-m.stopping:
			return
		}
	}
}

// attributesPublished reports whether the membership holds attrs for us.
func (m *Member) attributesPublished(attrs *membershippb.Attributes) bool {
	mem := m.st.cluster.Member(m.id)
	return mem != nil && mem.Name == attrs.Name && slices.Equal(mem.ClientURLs, attrs.ClientUrls)
}

func (m *Member) compactTo(rev int64) error {
	ctx, cancel := context.WithTimeout(context.Background(), m.requestTimeout())
	defer cancel()
	_, err := m.Compact(ctx, &pb.CompactionRequest{Revision: rev})
	return err
}

// purgeLoop removes old snapshot and WAL files beyond --max-snapshots and
// --max-wals: every 30 seconds, as etcd, and at once after the member
// takes a snapshot (which releases WAL segments).
func (m *Member) purgeLoop() {
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-m.raft.purgec:
		case <-m.stopping:
			return
		}
		m.purgeFiles()
	}
}

func (m *Member) purgeFiles() {
	if m.cfg.MaxSnapshots > 0 {
		if _, err := m.raft.snapshotter.Purge(int(m.cfg.MaxSnapshots)); err != nil {
			m.lg.Warn("failed to purge snapshot files", zap.Error(err))
		}
	}
	if m.cfg.MaxWALs > 0 {
		removed, err := m.raft.wal.Purge(int(m.cfg.MaxWALs))
		if err != nil {
			m.lg.Warn("failed to purge WAL files", zap.Error(err))
		}
		for _, p := range removed {
			m.lg.Info("purged", zap.String("path", p))
		}
	}
}

// whileLeader calls fn every interval, from one goroutine, while this
// member leads, until the member stops.
func (m *Member) whileLeader(interval time.Duration, fn func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-m.stopping:
			return
		}
		if m.IsLeader() {
			fn()
		}
	}
}
