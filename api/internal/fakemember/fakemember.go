// Package fakemember is a single-member stand-in for the server package,
// for the API layer's tests only: requests apply straight to a real
// mvcc.Store over a real backend in a temporary directory, leases live in
// memory (and never expire on their own), and the raft state is whatever
// the test sets. It is not production code and must not be imported by
// any.
package fakemember

import (
	"context"
	"github.com/basaltkv/basalt/server/kvapply"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/basaltkv/basalt/lease"
	"github.com/basaltkv/basalt/server/membership"
	"github.com/basaltkv/basalt/server/serverr"
	"github.com/basaltkv/basalt/storage/backend"
	"github.com/basaltkv/basalt/storage/mvcc"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"
)

// Fixed identities reported in headers.
const (
	MemberID  uint64 = 0x8e9e05c52164694d
	ClusterID uint64 = 0xcdf818194e3a8c32
	RaftTerm  uint64 = 2
)

type fakeLease struct {
	ttl     int64
	expires time.Time
	keys    map[string]struct{}
}

// Member implements v3rpc.Member for tests.
type Member struct {
	be    *backend.Backend
	store *mvcc.Store

	// writeMu serializes writes, as the raft apply loop would.
	writeMu sync.Mutex

	leader   atomic.Uint64
	failNext atomic.Pointer[error]

	// lmu guards the lease tables; it is taken inside mvcc write
	// transactions (Attach, Detach) and so never held around one.
	lmu      sync.Mutex
	leases   map[int64]*fakeLease
	keyLease map[string]int64

	amu    sync.Mutex
	alarms []*pb.AlarmMember

	// ClientURLs are reported by MemberList.
	ClientURLs []string

	mmu   sync.Mutex
	added []*pb.Member
}

// New opens a member over a fresh backend in t's temporary directory,
// closed when the test ends.
func New(t testing.TB) *Member {
	t.Helper()
	be, err := backend.Open(backend.Config{Path: filepath.Join(t.TempDir(), "db"), BatchInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	f := &Member{be: be, leases: map[int64]*fakeLease{}, keyLease: map[string]int64{}}
	f.store, err = mvcc.NewStore(be, f, mvcc.Config{SyncWatchersInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	f.leader.Store(MemberID)
	t.Cleanup(func() {
		f.store.Close()
		if err := be.Close(); err != nil {
			t.Error(err)
		}
	})
	return f
}

// SetLeader sets the leader the member knows of; 0 is none.
func (f *Member) SetLeader(id uint64) { f.leader.Store(id) }

// FailNext makes the next KV or lease request fail with err.
func (f *Member) FailNext(err error) { f.failNext.Store(&err) }

func (f *Member) injected() error {
	if p := f.failNext.Swap(nil); p != nil {
		return *p
	}
	return nil
}

func (f *Member) ID() uint64        { return MemberID }
func (f *Member) ClusterID() uint64 { return ClusterID }
func (f *Member) Term() uint64      { return RaftTerm }
func (f *Member) Leader() uint64    { return f.leader.Load() }
func (f *Member) HasLeader() bool   { return f.Leader() != 0 }

func (f *Member) Store() *mvcc.Store { return f.store }

// LinearizableReadNotify fails without a leader, at once.
func (f *Member) LinearizableReadNotify(ctx context.Context) error {
	if !f.HasLeader() {
		return serverr.ErrNoLeader
	}
	return ctx.Err()
}

func (f *Member) Range(ctx context.Context, r *pb.RangeRequest) (*pb.RangeResponse, error) {
	if err := f.injected(); err != nil {
		return nil, err
	}
	if !r.Serializable {
		if err := f.LinearizableReadNotify(ctx); err != nil {
			return nil, err
		}
	}
	txn := f.store.Read()
	defer txn.End()
	return kvapply.Range(txn, r)
}

// write runs fn in one write transaction.
func (f *Member) write(fn func(txn *mvcc.WriteTxn) error) error {
	if err := f.injected(); err != nil {
		return err
	}
	if !f.HasLeader() {
		return serverr.ErrNoLeader
	}
	f.writeMu.Lock()
	defer f.writeMu.Unlock()
	txn := f.store.Write()
	err := fn(txn)
	if eerr := txn.End(); err == nil {
		err = eerr
	}
	return err
}

func (f *Member) Put(_ context.Context, r *pb.PutRequest) (resp *pb.PutResponse, err error) {
	err = f.write(func(txn *mvcc.WriteTxn) error {
		if err := kvapply.CheckPut(txn, f, r); err != nil {
			return err
		}
		resp, err = kvapply.Put(txn, r)
		return err
	})
	return resp, err
}

func (f *Member) DeleteRange(_ context.Context, r *pb.DeleteRangeRequest) (resp *pb.DeleteRangeResponse, err error) {
	err = f.write(func(txn *mvcc.WriteTxn) error {
		resp, err = kvapply.DeleteRange(txn, r)
		return err
	})
	return resp, err
}

func (f *Member) Txn(_ context.Context, r *pb.TxnRequest) (resp *pb.TxnResponse, err error) {
	err = f.write(func(txn *mvcc.WriteTxn) error {
		resp, err = kvapply.Txn(txn, txn, f, r)
		return err
	})
	return resp, err
}

func (f *Member) Compact(_ context.Context, r *pb.CompactionRequest) (*pb.CompactionResponse, error) {
	if err := f.injected(); err != nil {
		return nil, err
	}
	done, err := f.store.Compact(r.Revision)
	if err != nil {
		return nil, err
	}
	if r.Physical {
		<-done
	}
	return &pb.CompactionResponse{Header: &pb.ResponseHeader{Revision: f.store.Rev()}}, nil
}

// Leases is what mvcc tells of the keys each lease holds.
func (f *Member) LeaseOf(key []byte) int64 {
	f.lmu.Lock()
	defer f.lmu.Unlock()
	return f.keyLease[string(key)]
}

func (f *Member) Attach(id int64, key []byte) {
	f.lmu.Lock()
	defer f.lmu.Unlock()
	if l := f.leases[id]; l != nil {
		l.keys[string(key)] = struct{}{}
	}
	f.keyLease[string(key)] = id
}

func (f *Member) Detach(id int64, key []byte) {
	f.lmu.Lock()
	defer f.lmu.Unlock()
	if l := f.leases[id]; l != nil {
		delete(l.keys, string(key))
	}
	delete(f.keyLease, string(key))
}

// LeaseExists tells kvapply whether a lease exists.
func (f *Member) LeaseExists(id int64) bool {
	f.lmu.Lock()
	defer f.lmu.Unlock()
	return f.leases[id] != nil
}

func (f *Member) LeaseGrant(_ context.Context, r *pb.LeaseGrantRequest) (*pb.LeaseGrantResponse, error) {
	if err := f.injected(); err != nil {
		return nil, err
	}
	if r.TTL > lease.MaxLeaseTTL {
		return nil, lease.ErrLeaseTTLTooLarge
	}
	f.lmu.Lock()
	defer f.lmu.Unlock()
	id := r.ID
	for id == 0 || (r.ID == 0 && f.leases[id] != nil) {
		id = rand.Int64() & (1<<63 - 1)
	}
	if f.leases[id] != nil {
		return nil, lease.ErrLeaseExists
	}
	ttl := max(r.TTL, 5)
	f.leases[id] = &fakeLease{ttl: ttl, expires: time.Now().Add(time.Duration(ttl) * time.Second), keys: map[string]struct{}{}}
	return &pb.LeaseGrantResponse{Header: &pb.ResponseHeader{Revision: f.store.Rev()}, ID: id, TTL: ttl}, nil
}

func (f *Member) LeaseRevoke(_ context.Context, r *pb.LeaseRevokeRequest) (*pb.LeaseRevokeResponse, error) {
	f.lmu.Lock()
	l := f.leases[r.ID]
	var keys []string
	if l != nil {
		for k := range l.keys {
			keys = append(keys, k)
		}
	}
	f.lmu.Unlock()
	if l == nil {
		return nil, lease.ErrLeaseNotFound
	}
	if err := f.write(func(txn *mvcc.WriteTxn) error {
		for _, k := range keys {
			txn.DeleteRange([]byte(k), nil)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	f.lmu.Lock()
	delete(f.leases, r.ID)
	f.lmu.Unlock()
	return &pb.LeaseRevokeResponse{Header: &pb.ResponseHeader{Revision: f.store.Rev()}}, nil
}

func (f *Member) LeaseRenew(_ context.Context, id int64) (int64, error) {
	if err := f.injected(); err != nil {
		return -1, err
	}
	f.lmu.Lock()
	defer f.lmu.Unlock()
	l := f.leases[id]
	if l == nil {
		return -1, lease.ErrLeaseNotFound
	}
	l.expires = time.Now().Add(time.Duration(l.ttl) * time.Second)
	return l.ttl, nil
}

func (f *Member) LeaseTimeToLive(_ context.Context, r *pb.LeaseTimeToLiveRequest) (*pb.LeaseTimeToLiveResponse, error) {
	f.lmu.Lock()
	defer f.lmu.Unlock()
	l := f.leases[r.ID]
	if l == nil {
		return nil, lease.ErrLeaseNotFound
	}
	resp := &pb.LeaseTimeToLiveResponse{
		Header:     &pb.ResponseHeader{},
		ID:         r.ID,
		TTL:        int64(time.Until(l.expires).Seconds()),
		GrantedTTL: l.ttl,
	}
	if r.Keys {
		for k := range l.keys {
			resp.Keys = append(resp.Keys, []byte(k))
		}
	}
	return resp, nil
}

func (f *Member) LeaseLeases(context.Context, *pb.LeaseLeasesRequest) (*pb.LeaseLeasesResponse, error) {
	f.lmu.Lock()
	defer f.lmu.Unlock()
	resp := &pb.LeaseLeasesResponse{Header: &pb.ResponseHeader{}}
	for id := range f.leases {
		resp.Leases = append(resp.Leases, &pb.LeaseStatus{ID: id})
	}
	return resp, nil
}

func (f *Member) MemberList(context.Context, bool) (*pb.MemberListResponse, error) {
	return &pb.MemberListResponse{Header: &pb.ResponseHeader{}, Members: f.members()}, nil
}

// members are this member and the ones added.
func (f *Member) members() []*pb.Member {
	f.mmu.Lock()
	defer f.mmu.Unlock()
	out := []*pb.Member{{ID: MemberID, Name: "fake", PeerURLs: []string{"http://127.0.0.1:2380"}, ClientURLs: f.ClientURLs}}
	for _, m := range f.added {
		out = append(out, proto.Clone(m).(*pb.Member))
	}
	return out
}

// MemberAdd adds a member with the next ID; the fake has no raft, so
// the member is only listed.
func (f *Member) MemberAdd(_ context.Context, peerURLs []string, isLearner bool) (*pb.MemberAddResponse, error) {
	f.mmu.Lock()
	m := &pb.Member{ID: MemberID + uint64(len(f.added)) + 1, PeerURLs: peerURLs, IsLearner: isLearner}
	f.added = append(f.added, m)
	f.mmu.Unlock()
	return &pb.MemberAddResponse{Header: &pb.ResponseHeader{}, Member: proto.Clone(m).(*pb.Member), Members: f.members()}, nil
}

// MemberRemove, MemberUpdate and MemberPromote change an added member.
func (f *Member) MemberRemove(_ context.Context, id uint64) (*pb.MemberRemoveResponse, error) {
	err := f.changeAdded(id, func(i int) { f.added = append(f.added[:i], f.added[i+1:]...) })
	if err != nil {
		return nil, err
	}
	return &pb.MemberRemoveResponse{Header: &pb.ResponseHeader{}, Members: f.members()}, nil
}

func (f *Member) MemberUpdate(_ context.Context, id uint64, peerURLs []string) (*pb.MemberUpdateResponse, error) {
	if err := f.changeAdded(id, func(i int) { f.added[i].PeerURLs = peerURLs }); err != nil {
		return nil, err
	}
	return &pb.MemberUpdateResponse{Header: &pb.ResponseHeader{}, Members: f.members()}, nil
}

func (f *Member) MemberPromote(_ context.Context, id uint64) (*pb.MemberPromoteResponse, error) {
	if err := f.changeAdded(id, func(i int) { f.added[i].IsLearner = false }); err != nil {
		return nil, err
	}
	return &pb.MemberPromoteResponse{Header: &pb.ResponseHeader{}, Members: f.members()}, nil
}

func (f *Member) changeAdded(id uint64, change func(i int)) error {
	f.mmu.Lock()
	defer f.mmu.Unlock()
	for i, m := range f.added {
		if m.ID == id {
			change(i)
			return nil
		}
	}
	return membership.ErrIDNotFound
}

func (f *Member) Alarm(_ context.Context, r *pb.AlarmRequest) (*pb.AlarmResponse, error) {
	f.amu.Lock()
	defer f.amu.Unlock()
	switch r.Action {
	case pb.AlarmRequest_ACTIVATE:
		if r.Alarm != pb.AlarmType_NONE {
			f.alarms = append(f.alarms, &pb.AlarmMember{MemberID: r.MemberID, Alarm: r.Alarm})
		}
	case pb.AlarmRequest_DEACTIVATE:
		out := f.alarms[:0]
		for _, a := range f.alarms {
			if a.MemberID != r.MemberID || a.Alarm != r.Alarm {
				out = append(out, a)
			}
		}
		f.alarms = out
	}
	return &pb.AlarmResponse{Header: &pb.ResponseHeader{}, Alarms: append([]*pb.AlarmMember(nil), f.alarms...)}, nil
}

func (f *Member) Alarms() []*pb.AlarmMember {
	f.amu.Lock()
	defer f.amu.Unlock()
	return append([]*pb.AlarmMember(nil), f.alarms...)
}

func (f *Member) Status(context.Context) (*pb.StatusResponse, error) {
	return &pb.StatusResponse{
		Header:           &pb.ResponseHeader{},
		Version:          "3.7.0",
		DbSize:           f.be.Size(),
		DbSizeInUse:      f.be.SizeInUse(),
		Leader:           f.Leader(),
		RaftIndex:        uint64(f.store.Rev()),
		RaftAppliedIndex: uint64(f.store.Rev()),
		RaftTerm:         RaftTerm,
		StorageVersion:   "3.7.0",
	}, nil
}

func (f *Member) Defragment(context.Context) error {
	_, err := f.be.Defrag()
	return err
}

func (f *Member) Hash(context.Context) (*pb.HashResponse, error) {
	h, err := f.be.Hash(nil)
	if err != nil {
		return nil, err
	}
	return &pb.HashResponse{Header: &pb.ResponseHeader{Revision: f.store.Rev()}, Hash: h}, nil
}

func (f *Member) HashKV(_ context.Context, rev int64) (*pb.HashKVResponse, error) {
	h, err := f.store.HashKV(rev)
	if err != nil {
		return nil, err
	}
	return &pb.HashKVResponse{
		Header:          &pb.ResponseHeader{Revision: h.CurrentRevision},
		Hash:            h.Hash,
		CompactRevision: h.CompactRevision,
		HashRevision:    h.Revision,
	}, nil
}

func (f *Member) Snapshot(context.Context) (*backend.Snapshot, error) { return f.be.Snapshot() }

func (f *Member) MoveLeader(context.Context, uint64) error { return nil }

// Backend is the member's backend, for tests that compare a snapshot
// with it.
func (f *Member) Backend() *backend.Backend { return f.be }
