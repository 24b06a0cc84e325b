package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/basaltkv/basalt/server/membership"
	"github.com/basaltkv/basalt/server/serverr"
	"github.com/basaltkv/basalt/storage/mvcc"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.uber.org/zap"
)

// Corruption checks, as etcd's (etcdserver/corrupt.go): members compare
// HashKV with their peers over the peer URLs (etcd's /members/hashkv), at
// start (InitialCorruptCheck), periodically on the leader
// (--corrupt-check-time), and at the revisions of compactions, whose
// hashes every member stores (CompactHashCheck). A member whose data
// differs gets a CORRUPT alarm, and the cluster then refuses changes
// (applier) until the alarm is disarmed.

// peerHashKVPath is where peers ask for this member's HashKV.
const peerHashKVPath = "/members/hashkv"

// peerHash is one peer's answer.
type peerHash struct {
	id   uint64
	urls []string
	resp *pb.HashKVResponse
	err  error
}

// corruptChecker remembers the newest compaction revision whose hash the
// whole cluster agreed on.
type corruptChecker struct {
	mu          sync.Mutex
	lastChecked int64
}

// serveHashKV answers a peer's HashKV request (JSON in and out, as
// etcd's).
func (m *Member) serveHashKV(w http.ResponseWriter, r *http.Request) {
	if !m.checkPeerRequest(w, r, http.MethodGet, http.MethodPost) {
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "error reading body", http.StatusBadRequest)
		return
	}
	var req pb.HashKVRequest
	if err := json.Unmarshal(body, &req); err != nil {
		http.Error(w, "error unmarshalling request", http.StatusBadRequest)
		return
	}
	resp, err := m.HashKV(r.Context(), req.Revision)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	resp.Header.MemberId = m.id
	resp.Header.ClusterId = m.ClusterID()
	out, err := json.Marshal(resp)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out)
}

// peerHashKVs asks every other member for HashKV at rev.
func (m *Member) peerHashKVs(rev int64) []peerHash {
	var out []peerHash
	for _, mem := range m.st.cluster.Members() {
		if mem.ID == m.id {
			continue
		}
		p := peerHash{id: mem.ID, urls: mem.PeerURLs}
		ctx, cancel := context.WithTimeout(context.Background(), m.requestTimeout())
		p.resp, p.err = m.peerHashKV(ctx, mem, rev)
		cancel()
		if p.err != nil {
			m.lg.Warn("failed hash kv request", zap.String("local-member-id", idString(m.id)), zap.Int64("requested-revision", rev),
				zap.String("remote-peer-id", idString(mem.ID)), zap.Error(p.err))
		}
		out = append(out, p)
	}
	return out
}

func (m *Member) peerHashKV(ctx context.Context, mem *membership.Member, rev int64) (*pb.HashKVResponse, error) {
	body, err := json.Marshal(&pb.HashKVRequest{Revision: rev})
	if err != nil {
		return nil, err
	}
	var lastErr error = errForwardFailed
	for _, u := range mem.PeerURLs {
		a, err := callPeer(ctx, m.leases.http, http.MethodGet, u+peerHashKVPath, body, "application/json", m.ClusterID())
		if err != nil {
			lastErr = err
			continue
		}
		if a.status != http.StatusOK {
			msg := string(a.body)
			switch {
			case strings.Contains(msg, mvcc.ErrCompacted.Error()):
				return nil, mvcc.ErrCompacted
			case strings.Contains(msg, mvcc.ErrFutureRev.Error()):
				return nil, mvcc.ErrFutureRev
			}
			lastErr = fmt.Errorf("unknown error: %s", strings.TrimSpace(msg))
			continue
		}
		var out pb.HashKVResponse
		if err := json.Unmarshal(a.body, &out); err != nil {
			return nil, fmt.Errorf("decode HashKV of %s: %w", idString(mem.ID), err)
		}
		if out.Header == nil {
			out.Header = &pb.ResponseHeader{}
		}
		return &out, nil
	}
	return nil, lastErr
}

// InitialCorruptCheck compares this member's HashKV with its peers' at
// its revision, before Start (etcd's InitialCorruptCheck gate): a peer at
// the same compaction with another hash means one of them is corrupt, and
// the member must not start. Peers that do not answer are skipped.
func (m *Member) InitialCorruptCheck() error {
	m.lg.Info("starting initial corruption check", zap.String("local-member-id", idString(m.id)), zap.Duration("timeout", m.requestTimeout()))
	h, err := m.st.kv.HashKV(0)
	if err != nil {
		return fmt.Errorf("%s failed to fetch hash (%w)", idString(m.id), err)
	}
	mismatch := 0
	for _, p := range m.peerHashKVs(h.Revision) {
		if p.resp == nil {
			continue
		}
		fields := []zap.Field{zap.String("local-member-id", idString(m.id)), zap.Int64("local-member-revision", h.Revision),
			zap.Int64("local-member-compact-revision", h.CompactRevision), zap.Uint32("local-member-hash", h.Hash),
			zap.String("remote-peer-id", idString(p.id)), zap.Strings("remote-peer-endpoints", p.urls),
			zap.Int64("remote-peer-revision", p.resp.Header.Revision), zap.Int64("remote-peer-compact-revision", p.resp.CompactRevision),
			zap.Uint32("remote-peer-hash", p.resp.Hash)}
		if h.Hash != p.resp.Hash {
			if h.CompactRevision == p.resp.CompactRevision {
				m.lg.Warn("found different hash values from remote peer", fields...)
				mismatch++
			} else {
				m.lg.Warn("found different compact revision values from remote peer", fields...)
			}
		}
	}
	if mismatch > 0 {
		return fmt.Errorf("%s found data inconsistency with peers", idString(m.id))
	}
	m.lg.Info("initial corruption checking passed; no corruption", zap.String("local-member-id", idString(m.id)))
	return nil
}

// periodicCorruptCheck is the leader's check: its hash now, the peers'
// at its revision, a linearizable read, its hash again. A follower ahead
// of the leader, or with another hash at the same compaction, is corrupt;
// so is the leader if its own hash changed at the same revision.
func (m *Member) periodicCorruptCheck() error {
	h, err := m.st.kv.HashKV(0)
	if err != nil {
		return err
	}
	peers := m.peerHashKVs(h.Revision)
	ctx, cancel := context.WithTimeout(context.Background(), m.requestTimeout())
	err = m.LinearizableReadNotify(ctx)
	cancel()
	if err != nil {
		return err
	}
	h2, err := m.st.kv.HashKV(0)
	if err != nil {
		return err
	}
	alarmed := false
	mismatch := func(id uint64) {
		if !alarmed {
			alarmed = true
			m.triggerCorruptAlarm(id)
		}
	}
	if h2.Hash != h.Hash && h2.Revision == h.Revision && h.CompactRevision == h2.CompactRevision {
		m.lg.Warn("found hash mismatch", zap.Int64("revision-1", h.Revision), zap.Int64("compact-revision-1", h.CompactRevision),
			zap.Uint32("hash-1", h.Hash), zap.Int64("revision-2", h2.Revision), zap.Int64("compact-revision-2", h2.CompactRevision),
			zap.Uint32("hash-2", h2.Hash))
		mismatch(m.id)
	}
	checked := 0
	for _, p := range peers {
		if p.resp == nil {
			continue
		}
		checked++
		switch {
		case p.resp.Header.Revision > h2.CurrentRevision:
			m.lg.Warn("revision from follower must be less than or equal to leader's", zap.Int64("leader-revision", h2.CurrentRevision),
				zap.Int64("follower-revision", p.resp.Header.Revision), zap.String("follower-peer-id", idString(p.id)))
			mismatch(p.id)
		case p.resp.CompactRevision > h2.CompactRevision:
			m.lg.Warn("compact revision from follower must be less than or equal to leader's", zap.Int64("leader-compact-revision", h2.CompactRevision),
				zap.Int64("follower-compact-revision", p.resp.CompactRevision), zap.String("follower-peer-id", idString(p.id)))
			mismatch(p.id)
		case p.resp.CompactRevision == h.CompactRevision && p.resp.Hash != h.Hash:
			m.lg.Warn("same compact revision then hashes must match", zap.Int64("leader-compact-revision", h2.CompactRevision),
				zap.Uint32("leader-hash", h.Hash), zap.Int64("follower-compact-revision", p.resp.CompactRevision),
				zap.Uint32("follower-hash", p.resp.Hash), zap.String("follower-peer-id", idString(p.id)))
			mismatch(p.id)
		}
	}
	m.lg.Info("finished peer corruption check", zap.Int("number-of-peers-checked", checked))
	return nil
}

// compactHashCheck is the leader's check of the hashes stored at
// compactions, newest first: members at the same compaction must have the
// same hash. A minority that differs is corrupt; with no majority, every
// member is (alarm for member 0, as etcd).
func (m *Member) compactHashCheck() {
	m.lg.Info("starting compact hash check", zap.String("local-member-id", idString(m.id)), zap.Duration("timeout", m.requestTimeout()))
	m.corrupt.mu.Lock()
	last := m.corrupt.lastChecked
	m.corrupt.mu.Unlock()
	hashes := slices.DeleteFunc(m.st.kv.Hashes(), func(h mvcc.KVHash) bool { return h.Revision <= last })
	slices.SortFunc(hashes, func(a, b mvcc.KVHash) int { return int(b.Revision - a.Revision) })
	for i, h := range hashes {
		peers := m.peerHashKVs(h.Revision)
		if len(peers) == 0 {
			continue
		}
		if m.checkPeerHashes(h, peers) {
			m.lg.Info("finished compaction hash check", zap.Int("number-of-hashes-checked", i+1))
			return
		}
	}
	m.lg.Info("finished compaction hash check", zap.Int("number-of-hashes-checked", len(hashes)))
}

// checkPeerHashes reports whether the check is done with: the whole
// cluster agreed, or an alarm was raised.
func (m *Member) checkPeerHashes(h mvcc.KVHash, peers []peerHash) bool {
	byHash := map[uint32][]uint64{h.Hash: {m.id}}
	checked := 0
	for _, p := range peers {
		if p.resp == nil || p.resp.CompactRevision != h.CompactRevision {
			m.lg.Warn("Skipped peer's hash", zap.Int("number-of-peers", len(peers)), zap.String("leader-id", idString(m.id)),
				zap.String("peer-id", idString(p.id)))
			continue
		}
		checked++
		byHash[p.resp.Hash] = append(byHash[p.resp.Hash], p.id)
	}
	if len(byHash) == 1 {
		if checked < len(peers) {
			m.lg.Warn("skipped revision in compaction hash check; was not able to check all peers", zap.Int("number-of-peers-checked", checked),
				zap.Int("number-of-peers", len(peers)), zap.Int64("revision", h.Revision))
			return false
		}
		m.lg.Info("successfully checked hash on whole cluster", zap.Int("number-of-peers-checked", checked), zap.Int64("revision", h.Revision),
			zap.Int64("compactRevision", h.CompactRevision))
		m.corrupt.mu.Lock()
		m.corrupt.lastChecked = max(m.corrupt.lastChecked, h.Revision)
		m.corrupt.mu.Unlock()
		return true
	}
	quorum := (len(peers)+1)/2 + 1
	majority := uint32(0)
	found := false
	for hash, ids := range byHash {
		if len(ids) >= quorum {
			majority, found = hash, true
		}
	}
	if !found {
		m.lg.Error("Detected compaction hash mismatch but cannot identify the corrupted members, so intentionally set the memberID as 0",
			zap.Int64("revision", h.Revision))
		m.triggerCorruptAlarm(0)
		return true
	}
	for hash, ids := range byHash {
		if hash == majority {
			continue
		}
		for _, id := range ids {
			m.lg.Error("Detected compaction hash mismatch", zap.String("corrupted-member-id", idString(id)), zap.Int64("revision", h.Revision))
			m.triggerCorruptAlarm(id)
		}
	}
	return true
}

// triggerCorruptAlarm raises the CORRUPT alarm for member id through raft.
func (m *Member) triggerCorruptAlarm(id uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), m.requestTimeout())
	defer cancel()
	_, err := m.propose(ctx, &pb.InternalRaftRequest{Alarm: &pb.AlarmRequest{MemberID: id, Action: pb.AlarmRequest_ACTIVATE, Alarm: pb.AlarmType_CORRUPT}})
	if err != nil {
		m.lg.Warn("failed to raise the CORRUPT alarm", zap.String("corrupted-member-id", idString(id)), zap.Error(err))
		return
	}
	m.lg.Warn("raised the CORRUPT alarm", zap.String("corrupted-member-id", idString(id)))
}

// corruptCheckLoop runs check every interval while this member leads.
func (m *Member) corruptCheckLoop(name string, interval time.Duration, check func() error) {
	if interval <= 0 {
		return
	}
	m.lg.Info("enabled "+name, zap.String("local-member-id", idString(m.id)), zap.Duration("interval", interval))
	m.whileLeader(interval, func() {
		if err := check(); err != nil && !errors.Is(err, serverr.ErrStopped) {
			m.lg.Warn("failed to check hash KV", zap.String("check", name), zap.Error(err))
		}
	})
}
