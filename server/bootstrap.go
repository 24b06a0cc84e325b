package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/basaltkv/basalt/auth"
	"github.com/basaltkv/basalt/lease"
	"github.com/basaltkv/basalt/pkg/flags"
	"github.com/basaltkv/basalt/pkg/humanize"
	"github.com/basaltkv/basalt/raft"
	"github.com/basaltkv/basalt/raft/raftpb"
	"github.com/basaltkv/basalt/server/discovery"
	"github.com/basaltkv/basalt/server/membership"
	"github.com/basaltkv/basalt/server/rafthttp"
	"github.com/basaltkv/basalt/server/schema"
	"github.com/basaltkv/basalt/server/v2discovery"
	"github.com/basaltkv/basalt/storage/backend"
	"github.com/basaltkv/basalt/storage/mvcc"
	"github.com/basaltkv/basalt/storage/snap"
	"github.com/basaltkv/basalt/storage/vfs"
	"github.com/basaltkv/basalt/storage/wal"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"
)

// raftStart is raft's state as a start finds it: the member's identity,
// and the raft node over its log.
type raftStart struct {
	id      uint64
	cluster *membership.Cluster
	node    raft.Node
	storage *raft.MemoryStorage
	wal     *wal.WAL
	// snapshot is the raft snapshot restarted from, nil if none.
	snapshot *raftpb.Snapshot
}

// NewMember opens (or creates) the member's data dir and builds the member
// from its parts; Start runs it.
func NewMember(cfg Config) (*Member, error) {
	lg := cfg.Logger
	if lg == nil {
		lg = zap.NewNop()
	}
	// Simple tokens wait for the index they were issued at: the applier's
	// applied-index wait, which exists once the member is assembled and
	// before any token is checked.
	var waitApplied func(uint64) <-chan struct{}
	tokens, err := auth.NewTokenProvider(cfg.AuthToken, cfg.AuthTokenTTL, func(i uint64) <-chan struct{} { return waitApplied(i) })
	if err != nil {
		lg.Warn("failed to create token provider", zap.Error(err))
		return nil, err
	}
	if cfg.UnsafeNoFsync {
		lg.Warn("--unsafe-no-fsync is set: the WAL and the backend are not fsynced; a crash can lose acknowledged writes (for tests only)")
	}
	layout := cfg.Layout()
	if err := os.MkdirAll(layout.SnapDir(), 0o700); err != nil {
		return nil, fmt.Errorf("create data dir %s: %w", layout.SnapDir(), err)
	}
	fsys := vfs.OS
	if f, ok := fsyncFaultsFromEnv(); ok {
		// A test hook (tests/linearizability): a slow or failing disk
		// under the WAL and snapshot files.
		lg.Warn("injecting fsync faults (test hook)", zap.Duration("delay", f.SyncDelay), zap.Int64("fail-after", f.FailSyncAfter))
		fsys = vfs.Faulty(fsys, f)
	}
	mt := newMetrics()
	verifyDB := func(_ vfs.FS, path string) error { return backend.Verify(path) }
	snapshotter, err := snap.New(fsys, layout.SnapDir(), snap.WithLogger(slogFor(lg)), snap.WithDBVerifier(verifyDB))
	if err != nil {
		return nil, err
	}
	haveWAL := wal.Exist(fsys, layout.WALPath())

	// On restart, the newest snapshot the WAL knows of bounds the replay,
	// and the backend must hold at least as much.
	var snapshot *raftpb.Snapshot
	if haveWAL {
		if snapshot, err = loadSnapshot(lg, fsys, layout.WALPath(), snapshotter); err != nil {
			return nil, err
		}
		if snapshot != nil {
			if err := recoverSnapshotDB(lg, cfg, snapshotter, snapshot.Metadata.Index); err != nil {
				return nil, err
			}
			releaseSnapDBs(lg, snapshotter, snapshot.Metadata.Index)
		}
	}

	st, err := openState(cfg, lg, mt, auth.New(lg, cfg.BcryptCost, tokens))
	if err != nil {
		return nil, err
	}
	if snapshot != nil {
		if err := recoverV2Store(st.v2, snapshot); err != nil {
			st.close(lg)
			return nil, err
		}
	}
	consistIndex, _ := st.kv.ConsistentIndex()
	var rs *raftStart
	if haveWAL {
		if cfg.Discovery != nil || cfg.DiscoveryURL != "" {
			lg.Warn("discovery token is ignored since cluster already initialized; valid logs are found", zap.String("wal-dir", layout.WALPath()))
		}
		rs, err = restartRaft(cfg, lg, fsys, st, snapshot, consistIndex)
	} else {
		rs, err = bootstrapRaft(cfg, lg, fsys)
	}
	if err != nil {
		st.close(lg)
		return nil, err
	}
	st.cluster = rs.cluster
	m := assemble(cfg, lg, mt, st, rs, snapshotter, consistIndex)
	waitApplied = m.applier.appliedWait.wait
	return m, nil
}

// assemble wires the member's parts once.
func assemble(cfg Config, lg *zap.Logger, mt *metrics, st *state, rs *raftStart, snapshotter *snap.Snapshotter, consistIndex uint64) *Member {
	m := &Member{
		cfg:      cfg,
		lg:       lg,
		id:       rs.id,
		st:       st,
		reqIDs:   newReqIDGen(rs.id, time.Now()),
		waiters:  newWaitRegistry(),
		metrics:  mt,
		readyc:   make(chan struct{}),
		stopping: make(chan struct{}),
		done:     make(chan struct{}),
	}
	m.raft = &raftNode{
		lg:          lg,
		id:          rs.id,
		tick:        time.Duration(cfg.TickMs) * time.Millisecond,
		node:        rs.node,
		storage:     rs.storage,
		wal:         rs.wal,
		snapshotter: snapshotter,
		cluster:     st.cluster,
		onRole:      m.onRole,
		heartbeats:  newHeartbeatTracker(time.Duration(cfg.TickMs) * time.Millisecond),
		stats:       newRaftStats(rs.id, cfg.Name),
		metrics:     mt,
		readStates:  make(chan raft.ReadState, 1),
		applyc:      make(chan toApply, 16),
		purgec:      make(chan struct{}, 1),
	}
	m.raft.transport = rafthttp.New(rafthttp.Config{
		ID:           rs.id,
		ClusterID:    st.cluster.ID(),
		TLS:          cfg.PeerTLS,
		LocalIP:      cfg.PeerLocalIP,
		ReadTimeout:  cfg.RaftReadTimeout,
		WriteTimeout: cfg.RaftWriteTimeout,
		Raft:         raftGlue{m.raft},
		Source:       snapshotGlue{st: st, snap: snapshotter},
		Sink:         snapshotGlue{st: st, snap: snapshotter},
		Logger:       lg,
	})
	for _, mem := range st.cluster.Members() {
		if mem.ID != rs.id {
			m.raft.transport.AddPeer(mem.ID, mem.PeerURLs)
		}
	}
	var applied uint64
	m.applier = &applier{
		lg:             lg,
		id:             rs.id,
		snapshotCount:  cfg.SnapshotCount,
		catchUpEntries: cfg.SnapshotCatchUpEntries,
		maxLearners:    cfg.MaxLearners,
		onRemoved:      m.stopRemoved,
		warnApply:      cfg.warningApplyDuration(),
		st:             st,
		raft:           m.raft,
		waiters:        m.waiters,
		metrics:        mt,
		consistIndex:   consistIndex,
	}
	if rs.snapshot != nil {
		applied = rs.snapshot.Metadata.Index
		m.applier.confState = rs.snapshot.Metadata.ConfState
		m.applier.snapshotIndex = applied
	}
	m.applier.appliedIndex.Store(applied)
	m.applier.appliedWait = newAppliedWait(applied)
	m.reads = newReadIndexer(lg, m.raft, m.applier.appliedWait, m.reqIDs, m.requestTimeout(), mt)
	m.leases = newLeaseForwarder(cfg, st.cluster, m.raft, m.requestTimeout())
	m.registerMetrics()
	publishVars()
	return m
}

// loadSnapshot loads the newest snapshot the WAL has a valid marker for,
// or nil if there is none.
func loadSnapshot(lg *zap.Logger, fsys vfs.FS, walDir string, snapshotter *snap.Snapshotter) (*raftpb.Snapshot, error) {
	markers, err := wal.ValidSnapshotMarkers(fsys, walDir, wal.WithLogger(slogFor(lg)))
	if err != nil {
		return nil, fmt.Errorf("read WAL snapshot markers: %w", err)
	}
	snapshot, err := snapshotter.LoadNewestAvailable(markers)
	if errors.Is(err, snap.ErrNoSnapshot) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load snapshot: %w", err)
	}
	return snapshot, nil
}

// recoverSnapshotDB makes sure the backend holds at least the snapshot at
// index: a database received with that snapshot and not yet swapped in
// when the member stopped is swapped in now. A backend older than the
// snapshot with no database beside it cannot be started from, as in etcd:
// the entries between the two are gone from the log.
func recoverSnapshotDB(lg *zap.Logger, cfg Config, snapshotter *snap.Snapshotter, index uint64) error {
	bePath := cfg.Layout().BackendPath()
	ci, err := backendConsistentIndex(bePath)
	if err != nil {
		return err
	}
	if ci >= index {
		return nil
	}
	path, err := snapshotter.DBFilePath(index)
	if errors.Is(err, snap.ErrNoDBSnapshot) {
		return fmt.Errorf("failed to find database snapshot file (%w): the backend's consistent index %d is below the snapshot's index %d", err, ci, index)
	}
	if err != nil {
		return fmt.Errorf("find database snapshot for index %d: %w", index, err)
	}
	lg.Info("recovering backend from snapshot database", zap.String("path", path), zap.Uint64("snapshot-index", index), zap.Uint64("backend-consistent-index", ci))
	if err := os.Rename(path, bePath); err != nil {
		return fmt.Errorf("recover backend from %s: %w", path, err)
	}
	return nil
}

// backendConsistentIndex reads the consistent index of the backend file
// at path (0 if there is no file).
func backendConsistentIndex(path string) (uint64, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	be, err := backend.Open(backend.Config{Path: path})
	if err != nil {
		return 0, err
	}
	defer be.Close()
	view := be.ReadTx()
	defer view.End()
	index, _ := mvcc.ReadConsistentIndex(view)
	return index, nil
}

// openState opens the backend and builds the store, lessor and alarms
// from it; the membership comes with raft's start.
func openState(cfg Config, lg *zap.Logger, mt *metrics, as *auth.Store) (*state, error) {
	be, err := backend.Open(backend.Config{
		Path:          cfg.Layout().BackendPath(),
		BatchInterval: cfg.BackendBatchInterval,
		BatchLimit:    cfg.BackendBatchLimit,
		UnsafeNoFsync: cfg.UnsafeNoFsync,
		FreelistArray: cfg.BackendFreelistArray,
		Mlock:         cfg.MemoryMlock,
	})
	if err != nil {
		return nil, err
	}
	st := &state{be: be, alarms: newAlarmStore(lg, mt.alarms), auth: as, v2: newV2Store()}
	minTTL := lease.MinLeaseTTLFor(cfg.ElectionTicks, time.Duration(cfg.TickMs)*time.Millisecond)
	st.lessor = lease.New(lease.Config{MinLeaseTTL: minTTL, Logger: zapLeaseLogger{lg}})
	if err := st.open(mvcc.Config{CompactionBatchLimit: cfg.CompactionBatchLimit, CompactionSleepInterval: cfg.CompactionSleepInterval}); err != nil {
		st.close(lg)
		return nil, err
	}
	if cfg.BootstrapDefragThresholdMB > 0 {
		if err := maybeDefragBackend(cfg, lg, st.be); err != nil {
			st.close(lg)
			return nil, err
		}
	}
	return st, nil
}

// maybeDefragBackend defragments the backend at start when at least
// --bootstrap-defrag-threshold-megabytes of it is free, as etcd does.
func maybeDefragBackend(cfg Config, lg *zap.Logger, be *backend.Backend) error {
	size, inUse := be.Size(), be.SizeInUse()
	threshold := int64(cfg.BootstrapDefragThresholdMB) * 1024 * 1024
	if size-inUse < threshold {
		lg.Info("Skipping defragmentation",
			zap.Int64("current-db-size-bytes", size), zap.String("current-db-size", humanize.Bytes(uint64(size))),
			zap.Int64("current-db-size-in-use-bytes", inUse), zap.String("current-db-size-in-use", humanize.Bytes(uint64(inUse))),
			zap.Int64("bootstrap-defrag-threshold-bytes", threshold), zap.String("bootstrap-defrag-threshold", humanize.Bytes(uint64(threshold))))
		return nil
	}
	if err := defragLogged(lg, be, cfg.Layout().BackendPath()); err != nil {
		return fmt.Errorf("defragment at start: %w", err)
	}
	return nil
}

func (st *state) open(kvCfg mvcc.Config) error {
	if err := schema.Create(st.be); err != nil {
		return err
	}
	view := st.be.ReadTx()
	err := st.lessor.Recover(view)
	if err == nil {
		err = st.alarms.recover(view)
	}
	if err == nil {
		err = st.auth.Recover(view)
	}
	view.End()
	if err != nil {
		return err
	}
	st.kv, err = mvcc.NewStore(st.be, leaseAttacher{st.lessor}, kvCfg)
	return err
}

func raftConfig(cfg Config, lg *zap.Logger, id uint64, storage *raft.MemoryStorage) *raft.Config {
	return &raft.Config{
		ID:              id,
		ElectionTick:    cfg.ElectionTicks,
		HeartbeatTick:   1,
		Storage:         storage,
		MaxSizePerMsg:   maxSizePerMsg,
		MaxInflightMsgs: maxInflightMsgs,
		CheckQuorum:     true,
		PreVote:         cfg.PreVote,
		Rand:            rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
		Logger:          raftLogger{lg.Sugar()},
		// A proposal that cannot fit is refused instead of growing memory.
		MaxUncommittedEntriesSize: 1 << 30,
	}
}

// alreadyBootstrapped reports whether a running cluster's peers list self
// as a member that has published its client URLs: a member whose data dir
// was lost must not bootstrap a new cluster under the old one's IDs (as
// etcd's isMemberBootstrapped, which asks for a second).
func alreadyBootstrapped(lg *zap.Logger, cfg Config, members []*membership.Member, self *membership.Member) bool {
	var urls []string
	for _, m := range members {
		if m.ID != self.ID {
			urls = append(urls, m.PeerURLs...)
		}
	}
	if len(urls) == 0 {
		return false
	}
	_, remote, err := fetchMembers(zap.NewNop(), peerClient(cfg, time.Second), urls)
	if err != nil {
		return false
	}
	for _, m := range remote {
		if m.ID == self.ID && len(m.ClientURLs) > 0 {
			lg.Warn("this member is already part of a running cluster", zap.String("local-member-id", idString(self.ID)))
			return true
		}
	}
	return false
}

// discoverMembers finds the members of a new cluster by etcd's v3
// discovery: self registers under the token and waits for the others.
// With a discovery URL it does so by etcd 3.4's protocol over the v2 keys
// API instead.
func discoverMembers(cfg Config, lg *zap.Logger, self *membership.Member) ([]*membership.Member, *membership.Member, error) {
	mine := make([]string, len(self.PeerURLs))
	for i, u := range self.PeerURLs {
		mine[i] = self.Name + "=" + u
	}
	var found string
	var err error
	if cfg.DiscoveryURL != "" {
		found, err = v2discovery.JoinCluster(context.Background(), lg, cfg.DiscoveryURL, cfg.DiscoveryProxy, self.ID, strings.Join(mine, ","))
	} else {
		lg.Info("Bootstrapping cluster using v3 discovery.")
		found, err = discovery.JoinCluster(context.Background(), lg, cfg.Discovery, self.ID, strings.Join(mine, ","))
	}
	if err != nil {
		return nil, nil, &discovery.Error{Op: "join", Err: err}
	}
	cluster, err := flags.ParseURLsMap(found)
	if err != nil {
		return nil, nil, err
	}
	seen := map[string]bool{}
	for _, urls := range cluster {
		for _, u := range urls {
			if seen[u.String()] {
				return nil, nil, fmt.Errorf("discovery cluster %s has duplicate url", found)
			}
			seen[u.String()] = true
		}
	}
	return membership.InitialMembers(cluster, cfg.InitialClusterToken, cfg.Name, cfg.PeerURLs)
}

// bootstrapRaft starts the first member of a new cluster, or one of them.
func bootstrapRaft(cfg Config, lg *zap.Logger, fsys vfs.FS) (*raftStart, error) {
	if !cfg.NewCluster {
		return joinRaft(cfg, lg, fsys)
	}
	members, self, err := membership.InitialMembers(cfg.InitialCluster, cfg.InitialClusterToken, cfg.Name, cfg.PeerURLs)
	if err != nil {
		return nil, err
	}
	if alreadyBootstrapped(lg, cfg, members, self) {
		return nil, fmt.Errorf("member %s has already been bootstrapped", idString(self.ID))
	}
	if cfg.Discovery != nil || cfg.DiscoveryURL != "" {
		if members, self, err = discoverMembers(cfg, lg, self); err != nil {
			return nil, err
		}
	}
	// The members are known at once so the transport can reach its peers;
	// the bootstrap entries persist them when applied.
	rs := &raftStart{id: self.ID, cluster: membership.New(membership.ClusterIDFor(membership.IDs(members)), members...)}
	meta, err := proto.Marshal(&pb.Metadata{NodeID: proto.Uint64(rs.id), ClusterID: proto.Uint64(rs.cluster.ID())})
	if err != nil {
		return nil, err
	}
	rs.wal, err = wal.Create(fsys, cfg.Layout().WALPath(), meta, walOptions(cfg)...)
	if err != nil {
		return nil, fmt.Errorf("create WAL: %w", err)
	}
	rs.storage = raft.NewMemoryStorage()
	peers := make([]raft.Peer, len(members))
	for i, mem := range members {
		ctx, err := json.Marshal(mem)
		if err != nil {
			rs.wal.Close()
			return nil, err
		}
		peers[i] = raft.Peer{ID: mem.ID, Context: ctx}
	}
	if rs.node, err = raft.StartNode(raftConfig(cfg, lg, rs.id, rs.storage), peers); err != nil {
		rs.wal.Close()
		return nil, err
	}
	lg.Info("starting local member", zap.String("local-member-id", idString(rs.id)), zap.String("cluster-id", idString(rs.cluster.ID())))
	return rs, nil
}

// restartRaft rebuilds raft's state from the snapshot and the WAL.
func restartRaft(cfg Config, lg *zap.Logger, fsys vfs.FS, st *state, snapshot *raftpb.Snapshot, consistIndex uint64) (_ *raftStart, err error) {
	var marker wal.Marker
	if snapshot != nil {
		marker = walMarker(*snapshot)
	}
	w, err := wal.Open(fsys, cfg.Layout().WALPath(), marker, walOptions(cfg)...)
	if err != nil {
		return nil, fmt.Errorf("open WAL: %w", err)
	}
	defer func() {
		if err != nil {
			w.Close()
		}
	}()
	metaBytes, hs, ents, err := w.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("read WAL: %w", err)
	}
	var meta pb.Metadata
	if err := proto.Unmarshal(metaBytes, &meta); err != nil {
		return nil, fmt.Errorf("decode WAL metadata: %w", err)
	}
	rs := &raftStart{id: meta.GetNodeID(), wal: w, snapshot: snapshot}
	// A forced restart takes over the data dir whatever cluster the flags
	// describe (a backup has new IDs), as etcd ignores them on restart.
	if cfg.CheckDataDirCluster && !cfg.ForceNewCluster {
		if err := checkDataDirIdentity(cfg, rs.id, meta.GetClusterID()); err != nil {
			return nil, err
		}
	}
	rs.cluster = membership.New(meta.GetClusterID())
	view := st.be.ReadTx()
	err = rs.cluster.Recover(view)
	view.End()
	if err != nil {
		return nil, fmt.Errorf("load membership: %w", err)
	}
	if len(rs.cluster.Members()) == 0 {
		// Killed before the bootstrap entries were applied: the members
		// are in the log.
		rs.cluster = membership.New(meta.GetClusterID(), membersInLog(ents)...)
	}
	if len(rs.cluster.Members()) == 0 && !cfg.ForceNewCluster {
		// A joining member killed before its log held anything: ask the
		// peers again, or it could not reach the leader.
		rs.cluster = membership.New(meta.GetClusterID(), rejoinMembers(lg, cfg, meta.GetClusterID())...)
	}
	if cfg.ForceNewCluster {
		if hs, ents, err = forceNewCluster(lg, w, rs.cluster, rs.id, consistIndex, snapshot, hs, ents); err != nil {
			return nil, err
		}
	}
	rs.storage = raft.NewMemoryStorage()
	if snapshot != nil {
		if err := rs.storage.ApplySnapshot(*snapshot); err != nil {
			return nil, err
		}
	}
	if err := rs.storage.SetHardState(hs); err != nil {
		return nil, err
	}
	if err := rs.storage.Append(ents); err != nil {
		return nil, err
	}
	if rs.node, err = raft.RestartNode(raftConfig(cfg, lg, rs.id, rs.storage)); err != nil {
		return nil, err
	}
	if !cfg.ForceNewCluster {
		lg.Info("restarting local member", zap.String("local-member-id", idString(rs.id)),
			zap.String("cluster-id", idString(rs.cluster.ID())), zap.Uint64("commit-index", hs.Commit))
	}
	return rs, nil
}

// membersInLog are the members the log's AddNode conf changes name.
func membersInLog(ents []raftpb.Entry) []*membership.Member {
	var out []*membership.Member
	for _, e := range ents {
		if e.Type != raftpb.EntryConfChange {
			continue
		}
		var cc raftpb.ConfChange
		if cc.Unmarshal(e.Data) != nil || cc.Type != raftpb.ConfChangeAddNode {
			continue
		}
		var mem membership.Member
		if json.Unmarshal(cc.Context, &mem) == nil {
			out = append(out, &mem)
		}
	}
	return out
}

// checkDataDirIdentity refuses a data dir whose WAL was written by
// another member or cluster than the flags describe.
func checkDataDirIdentity(cfg Config, id, clusterID uint64) error {
	members, self, err := membership.InitialMembers(cfg.InitialCluster, cfg.InitialClusterToken, cfg.Name, cfg.PeerURLs)
	if err != nil {
		return err
	}
	wantCluster := membership.ClusterIDFor(membership.IDs(members))
	if self.ID == id && wantCluster == clusterID {
		return nil
	}
	return fmt.Errorf("data dir %s holds member %s of cluster %s, but --name, --initial-cluster and --initial-cluster-token describe member %s of cluster %s: "+
		"start with the flags that bootstrapped it, or use another --data-dir",
		cfg.DataDir, idString(id), idString(clusterID), idString(self.ID), idString(wantCluster))
}

// walOptions are the WAL's options: the test hook
// BASALT_TEST_WAL_SEGMENT_SIZE (bytes), with which tests cut segments
// without writing 64 MiB.
func walOptions(cfg Config) []wal.Option {
	var opts []wal.Option
	if cfg.UnsafeNoFsync {
		opts = append(opts, wal.WithUnsafeNoSync())
	}
	if n, err := strconv.ParseInt(os.Getenv("BASALT_TEST_WAL_SEGMENT_SIZE"), 10, 64); err == nil && n > 0 {
		opts = append(opts, wal.WithSegmentSize(n))
	}
	return opts
}

// fsyncFaultsFromEnv reads the test hooks BASALT_TEST_FSYNC_DELAY (a
// duration added to every fsync of the WAL and snapshot files) and
// BASALT_TEST_FSYNC_FAIL_AFTER (fsyncs after that many fail).
func fsyncFaultsFromEnv() (vfs.Faults, bool) {
	var f vfs.Faults
	if d, err := time.ParseDuration(os.Getenv("BASALT_TEST_FSYNC_DELAY")); err == nil && d > 0 {
		f.SyncDelay = d
	}
	if n, err := strconv.ParseInt(os.Getenv("BASALT_TEST_FSYNC_FAIL_AFTER"), 10, 64); err == nil && n > 0 {
		f.FailSyncAfter = n
	}
	return f, f != (vfs.Faults{})
}
