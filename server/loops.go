package server

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/basaltkv/basalt/server/membership"
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
			ClientUrls: membership.URLStrings(m.cfg.ClientURLs),
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

// autoCompactLoop compacts on the schedule of --auto-compaction-mode and
// --auto-compaction-retention, on the leader only.
func (m *Member) autoCompactLoop() {
	if m.cfg.AutoCompactionRetention == "" || m.cfg.AutoCompactionRetention == "0" {
		return
	}
	switch m.cfg.AutoCompactionMode {
	case "revision":
		keep, err := strconv.ParseInt(m.cfg.AutoCompactionRetention, 10, 64)
		if err != nil || keep <= 0 {
			return
		}
		m.revisionCompactor(keep)
	default:
		period, err := ParseRetention(m.cfg.AutoCompactionRetention)
		if err != nil || period <= 0 {
			return
		}
		m.periodicCompactor(period)
	}
}

// ParseRetention reads a periodic retention: a duration, or a number of
// hours, as etcd accepts.
func ParseRetention(s string) (time.Duration, error) {
	if h, err := strconv.Atoi(s); err == nil {
		return time.Duration(h) * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid auto compaction retention %q: %w", s, err)
	}
	return d, nil
}

// revisionCompactionInterval is how often the revision compactor looks:
// five minutes, as in etcd, which has no flag for it. End-to-end tests
// shorten it with BASALT_TEST_REVISION_COMPACTION_INTERVAL (a duration)
// rather than wait five minutes.
func revisionCompactionInterval() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("BASALT_TEST_REVISION_COMPACTION_INTERVAL")); err == nil && d > 0 {
		return d
	}
	return 5 * time.Minute
}

// revisionCompactor keeps the last keep revisions.
func (m *Member) revisionCompactor(keep int64) {
	t := time.NewTicker(revisionCompactionInterval())
	defer t.Stop()
	var last int64
	for {
		select {
		case <-t.C:
		case <-m.stopping:
			return
		}
		if !m.IsLeader() {
			continue
		}
		rev := m.st.kv.Rev() - keep
		if rev <= 0 || rev == last {
			continue
		}
		m.lg.Info("starting auto revision compaction", zap.Int64("revision", rev), zap.Int64("revision-compaction-retention", keep))
		if err := m.compactTo(rev); err != nil {
			m.lg.Warn("failed auto revision compaction", zap.Int64("revision", rev), zap.Int64("revision-compaction-retention", keep), zap.Error(err))
			continue
		}
		m.lg.Info("completed auto revision compaction", zap.Int64("revision", rev), zap.Int64("revision-compaction-retention", keep))
		last = rev
	}
}

// periodicCompactor keeps the history of the last period: it samples the
// revision every period/10 and compacts to the sample taken a period ago.
func (m *Member) periodicCompactor(period time.Duration) {
	step := period / 10
	if step < time.Second {
		step = time.Second
	}
	t := time.NewTicker(step)
	defer t.Stop()
	var samples []int64
	var last int64
	need := int(period / step)
	for {
		select {
		case <-t.C:
		case <-m.stopping:
			return
		}
		samples = append(samples, m.st.kv.Rev())
		if len(samples) <= need {
			continue
		}
		rev := samples[0]
		samples = samples[1:]
		if !m.IsLeader() || rev <= last {
			continue
		}
		m.lg.Info("starting auto periodic compaction", zap.Int64("revision", rev), zap.Duration("compact-period", period))
		if err := m.compactTo(rev); err != nil {
			m.lg.Warn("failed auto periodic compaction", zap.Int64("revision", rev), zap.Duration("compact-period", period), zap.Error(err))
			continue
		}
		m.lg.Info("completed auto periodic compaction", zap.Int64("revision", rev), zap.Duration("compact-period", period))
		last = rev
	}
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
