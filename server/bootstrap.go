package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/basaltkv/basalt/lease"
	"github.com/basaltkv/basalt/raft"
	"github.com/basaltkv/basalt/raft/raftpb"
	"github.com/basaltkv/basalt/server/rafthttp"
	"github.com/basaltkv/basalt/storage/backend"
	"github.com/basaltkv/basalt/storage/mvcc"
	"github.com/basaltkv/basalt/storage/snap"
	"github.com/basaltkv/basalt/storage/vfs"
	"github.com/basaltkv/basalt/storage/wal"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"
)

// NewMember opens (or creates) the member's data dir and builds the member
// from its parts; Start runs it.
func NewMember(cfg Config) (*Member, error) {
	lg := cfg.Logger
	if lg == nil {
		lg = zap.NewNop()
	}
	if err := os.MkdirAll(cfg.SnapDir(), 0o700); err != nil {
		return nil, fmt.Errorf("create data dir %s: %w", cfg.SnapDir(), err)
	}
	m := &Member{
		cfg:           cfg,
		lg:            lg,
		w:             newWaitRegistry(),
		readNotifier:  newNotifier(),
		readwaitc:     make(chan struct{}, 1),
		readStateC:    make(chan raft.ReadState, 1),
		leaderChanged: make(chan struct{}),
		applyc:        make(chan toApply, 16),
		readyc:        make(chan struct{}),
		stopping:      make(chan struct{}),
		done:          make(chan struct{}),
		metrics:       newMetrics(),
		peerHTTP:      newPeerHTTPClient(cfg),
		renewCalls:    make(chan *renewCall),
	}
	fsys := vfs.OS
	if f, ok := fsyncFaultsFromEnv(); ok {
		// A test hook (tests/linearizability): a slow or failing disk
		// under the WAL and snapshot files.
		lg.Warn("injecting fsync faults (test hook)", zap.Duration("delay", f.SyncDelay), zap.Int64("fail-after", f.FailSyncAfter))
		fsys = vfs.Faulty(fsys, f)
	}
	m.fs = fsys
	var err error
	verifyDB := func(_ vfs.FS, path string) error { return backend.Verify(path) }
	if m.snapshotter, err = snap.New(fsys, cfg.SnapDir(), snap.WithLogger(slogFor(lg)), snap.WithDBVerifier(verifyDB)); err != nil {
		return nil, err
	}
	haveWAL := wal.Exist(fsys, cfg.WALPath())

	// On restart, the newest snapshot the WAL knows of bounds the replay.
	var snapshot *raftpb.Snapshot
	if haveWAL {
		markers, err := wal.ValidSnapshotMarkers(fsys, cfg.WALPath(), wal.WithLogger(slogFor(lg)))
		if err != nil {
			return nil, fmt.Errorf("read WAL snapshot markers: %w", err)
		}
		snapshot, err = m.snapshotter.LoadNewestAvailable(markers)
		if err != nil && !errors.Is(err, snap.ErrNoSnapshot) {
			return nil, fmt.Errorf("load snapshot: %w", err)
		}
		if snapshot != nil {
			// A database received with this snapshot may not have been
			// swapped in before a crash.
			if err := m.recoverSnapshotDB(snapshot.Metadata.Index); err != nil {
				return nil, err
			}
			m.releaseSnapDBs(snapshot.Metadata.Index)
		}
	}

	if err := m.openStorage(); err != nil {
		return nil, err
	}
	if haveWAL {
		err = m.restart(snapshot)
	} else {
		err = m.bootstrapNew()
	}
	if err != nil {
		m.closeStorage()
		return nil, err
	}
	m.reqIDs = newReqIDGen(m.id, time.Now())
	m.transport = rafthttp.New(rafthttp.Config{
		ID:        m.id,
		ClusterID: m.cluster.id,
		TLS:       cfg.PeerTLS,
		Raft:      (*raftGlue)(m),
		Source:    (*snapshotGlue)(m),
		Sink:      (*snapshotGlue)(m),
		Logger:    lg,
	})
	for _, mem := range m.cluster.list() {
		if mem.ID != m.id {
			m.transport.AddPeer(mem.ID, mem.PeerURLs)
		}
	}
	m.registerMetrics()
	return m, nil
}

// openStorage opens the backend, the lessor and the store.
func (m *Member) openStorage() error {
	be, err := backend.Open(backend.Config{
		Path:          m.cfg.BackendPath(),
		BatchInterval: m.cfg.BackendBatchInterval,
		BatchLimit:    m.cfg.BackendBatchLimit,
		OnCommit:      m.metrics.observeBackendCommit,
	})
	if err != nil {
		return err
	}
	m.be = be
	minTTL := lease.MinLeaseTTLFor(m.cfg.ElectionTicks, time.Duration(m.cfg.TickMs)*time.Millisecond)
	m.lessor = lease.New(lease.Config{MinLeaseTTL: minTTL, Logger: zapLeaseLogger{m.lg}})
	if err := initBuckets(be); err != nil {
		return err
	}
	if err := recoverLeases(m.lessor, be); err != nil {
		return fmt.Errorf("recover leases: %w", err)
	}
	m.store, err = mvcc.NewStore(be, leaseAttacher{m.lessor}, mvcc.Config{})
	if err != nil {
		return err
	}
	m.consistIndex, _ = m.store.ConsistentIndex()
	m.alarms, err = loadAlarms(be)
	return err
}

func initBuckets(be *backend.Backend) error {
	tx := be.BatchTx()
	tx.Lock()
	var err error
	for _, b := range [][]byte{mvcc.MetaBucket, membersBucket, membersRemovedBucket, alarmBucket, clusterBucket, []byte(lease.BucketName)} {
		if err = tx.UnsafeCreateBucket(b); err != nil {
			break
		}
	}
	if err == nil {
		err = tx.UnsafePut(mvcc.MetaBucket, storageVersionKey, []byte(StorageVersion))
	}
	if uerr := tx.Unlock(); err == nil {
		err = uerr
	}
	return err
}

func (m *Member) closeStorage() {
	if m.store != nil {
		m.store.Close()
	}
	if m.lessor != nil {
		m.lessor.Stop()
	}
	if m.be != nil {
		m.be.Close()
	}
	if m.wal != nil {
		m.wal.Close()
	}
}

func (m *Member) raftConfig(storage *raft.MemoryStorage) *raft.Config {
	return &raft.Config{
		ID:              m.id,
		ElectionTick:    m.cfg.ElectionTicks,
		HeartbeatTick:   1,
		Storage:         storage,
		MaxSizePerMsg:   maxSizePerMsg,
		MaxInflightMsgs: maxInflightMsgs,
		CheckQuorum:     true,
		PreVote:         m.cfg.PreVote,
		Rand:            rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
		Logger:          raftLogger{m.lg.Sugar()},
		// A proposal that cannot fit is refused instead of growing memory.
		MaxUncommittedEntriesSize: 1 << 30,
	}
}

// bootstrapNew starts the first member of a new cluster, or one of them.
func (m *Member) bootstrapNew() error {
	if !m.cfg.NewCluster {
		return errors.New("--initial-cluster-state=existing: joining an existing cluster is not supported yet (member changes come in a later release); start every member with --initial-cluster-state=new")
	}
	members, self, err := initialMembers(m.cfg)
	if err != nil {
		return err
	}
	ids := make([]uint64, len(members))
	for i, mem := range members {
		ids[i] = mem.ID
	}
	m.id = self.ID
	m.cluster = newCluster(clusterIDFor(ids))
	for _, mem := range members {
		// Known at once so the transport can reach peers; the bootstrap
		// entries persist them when applied.
		m.cluster.members[mem.ID] = mem
	}
	meta, err := proto.Marshal(&pb.Metadata{NodeID: proto.Uint64(m.id), ClusterID: proto.Uint64(m.cluster.id)})
	if err != nil {
		return err
	}
	m.wal, err = wal.Create(m.fs, m.cfg.WALPath(), meta, wal.WithFsyncObserver(m.metrics.observeWALFsync))
	if err != nil {
		return fmt.Errorf("create WAL: %w", err)
	}
	m.raftStorage = raft.NewMemoryStorage()
	peers := make([]raft.Peer, len(members))
	for i, mem := range members {
		ctx, err := json.Marshal(mem)
		if err != nil {
			return err
		}
		peers[i] = raft.Peer{ID: mem.ID, Context: ctx}
	}
	m.node, err = raft.StartNode(m.raftConfig(m.raftStorage), peers)
	if err != nil {
		return err
	}
	m.lg.Info("starting local member", zap.String("local-member-id", idString(m.id)), zap.String("cluster-id", idString(m.cluster.id)))
	m.appliedWait = newAppliedWait(0)
	return nil
}

// checkDataDirIdentity refuses a data dir whose WAL was written by
// another member or cluster than the flags describe.
func (m *Member) checkDataDirIdentity() error {
	members, self, err := initialMembers(m.cfg)
	if err != nil {
		return err
	}
	ids := make([]uint64, len(members))
	for i, mem := range members {
		ids[i] = mem.ID
	}
	wantCluster := clusterIDFor(ids)
	if self.ID == m.id && wantCluster == m.cluster.id {
		return nil
	}
	return fmt.Errorf("data dir %s holds member %s of cluster %s, but --name, --initial-cluster and --initial-cluster-token describe member %s of cluster %s: "+
		"start with the flags that bootstrapped it, or use another --data-dir",
		m.cfg.DataDir, idString(m.id), idString(m.cluster.id), idString(self.ID), idString(wantCluster))
}

// initialMembers computes the members of --initial-cluster and finds
// this one by name.
func initialMembers(cfg Config) ([]*MemberInfo, *MemberInfo, error) {
	if len(cfg.InitialCluster) == 0 {
		return nil, nil, errors.New("--initial-cluster is empty")
	}
	var members []*MemberInfo
	var self *MemberInfo
	seen := map[uint64]string{}
	for name, urls := range cfg.InitialCluster {
		peerURLs := urlStrings(urls)
		mem := &MemberInfo{ID: memberIDFor(peerURLs, cfg.InitialClusterToken, nil), Name: name, PeerURLs: peerURLs}
		if other, dup := seen[mem.ID]; dup {
			return nil, nil, fmt.Errorf("--initial-cluster has members %q and %q with the same peer URLs", other, name)
		}
		seen[mem.ID] = name
		members = append(members, mem)
		if name == cfg.Name {
			self = mem
		}
	}
	if self == nil {
		return nil, nil, fmt.Errorf("couldn't find local name %q in the initial cluster configuration", cfg.Name)
	}
	adv := urlStrings(cfg.PeerURLs)
	if !slices.Equal(adv, self.PeerURLs) {
		return nil, nil, fmt.Errorf("--initial-cluster has %s=%v but missing from --initial-advertise-peer-urls=%v", cfg.Name, self.PeerURLs, adv)
	}
	slices.SortFunc(members, func(a, b *MemberInfo) int { return cmpUint64(a.ID, b.ID) })
	return members, self, nil
}

func cmpUint64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// restart rebuilds the raft state from the snapshot and the WAL.
func (m *Member) restart(snapshot *raftpb.Snapshot) error {
	var marker wal.Marker
	if snapshot != nil {
		marker = wal.Marker{Index: snapshot.Metadata.Index, Term: snapshot.Metadata.Term}
	}
	w, err := wal.Open(m.fs, m.cfg.WALPath(), marker, wal.WithFsyncObserver(m.metrics.observeWALFsync))
	if err != nil {
		return fmt.Errorf("open WAL: %w", err)
	}
	m.wal = w
	metaBytes, hs, ents, err := w.ReadAll()
	if err != nil {
		return fmt.Errorf("read WAL: %w", err)
	}
	var meta pb.Metadata
	if err := proto.Unmarshal(metaBytes, &meta); err != nil {
		return fmt.Errorf("decode WAL metadata: %w", err)
	}
	m.id = meta.GetNodeID()
	m.cluster = newCluster(meta.GetClusterID())
	// A forced restart takes over the data dir whatever cluster the flags
	// describe (a backup has new IDs), as etcd ignores them on restart.
	if m.cfg.CheckDataDirCluster && !m.cfg.ForceNewCluster {
		if err := m.checkDataDirIdentity(); err != nil {
			return err
		}
	}
	if err := m.cluster.load(m.store); err != nil {
		return fmt.Errorf("load membership: %w", err)
	}
	if m.cfg.ForceNewCluster {
		if hs, ents, err = m.forceNewCluster(snapshot, hs, ents); err != nil {
			return err
		}
	}
	m.raftStorage = raft.NewMemoryStorage()
	if snapshot != nil {
		if err := m.raftStorage.ApplySnapshot(*snapshot); err != nil {
			return err
		}
		m.confState = snapshot.Metadata.ConfState
		m.snapshotIndex = snapshot.Metadata.Index
	}
	if err := m.raftStorage.SetHardState(hs); err != nil {
		return err
	}
	if err := m.raftStorage.Append(ents); err != nil {
		return err
	}
	// Members known from the log but not yet applied to the backend (a
	// crash right after bootstrap) are found by replaying the log.
	if len(m.cluster.members) == 0 {
		for _, e := range ents {
			if e.Type != raftpb.EntryConfChange {
				continue
			}
			var cc raftpb.ConfChange
			if cc.Unmarshal(e.Data) != nil || cc.Type != raftpb.ConfChangeAddNode {
				continue
			}
			var mem MemberInfo
			if json.Unmarshal(cc.Context, &mem) == nil {
				m.cluster.members[mem.ID] = &mem
			}
		}
	}
	m.node, err = raft.RestartNode(m.raftConfig(m.raftStorage))
	if err != nil {
		return err
	}
	applied := uint64(0)
	if snapshot != nil {
		applied = snapshot.Metadata.Index
	}
	m.appliedIndex.Store(applied)
	m.appliedWait = newAppliedWait(applied)
	if !m.cfg.ForceNewCluster {
		m.lg.Info("restarting local member", zap.String("local-member-id", idString(m.id)),
			zap.String("cluster-id", idString(m.cluster.id)), zap.Uint64("commit-index", hs.Commit))
	}
	return nil
}

// recoverSnapshotDB swaps in the database received with the snapshot at
// index if the backend is older than it.
func (m *Member) recoverSnapshotDB(index uint64) error {
	path, err := m.snapshotter.DBFilePath(index)
	if err != nil {
		return nil // no database came with it: the backend is current
	}
	be, err := backend.Open(backend.Config{Path: m.cfg.BackendPath()})
	if err != nil {
		return err
	}
	s, err := mvcc.NewStore(be, nil, mvcc.Config{})
	if err != nil {
		be.Close()
		return err
	}
	ci, _ := s.ConsistentIndex()
	s.Close()
	be.Close()
	if ci >= index {
		return nil
	}
	m.lg.Info("recovering backend from snapshot database", zap.String("path", path), zap.Uint64("snapshot-index", index))
	return os.Rename(path, m.cfg.BackendPath())
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
