// Package fuzz holds fuzz targets that need a whole member: client
// requests, as raw protobuf bytes, sent over gRPC to a real member.
package fuzz

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/basaltkv/basalt/api/v3rpc"
	"github.com/basaltkv/basalt/server"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// rawCodec sends a request's bytes as they are, so that malformed
// protobuf reaches the server; responses are decoded normally.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) {
	if b, ok := v.(*[]byte); ok {
		return *b, nil
	}
	return proto.Marshal(v.(proto.Message))
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	if b, ok := v.(*[]byte); ok {
		*b = append((*b)[:0], data...)
		return nil
	}
	return proto.Unmarshal(data, v.(proto.Message))
}

func (rawCodec) Name() string { return "proto" }

// methods are the unary calls fuzzed, by the index the input picks.
// Alarm (which could raise NOSPACE), MoveLeader, Defragment and Snapshot
// change or stream the whole member and are left out.
var methods = []string{
	"/etcdserverpb.KV/Range",
	"/etcdserverpb.KV/Put",
	"/etcdserverpb.KV/DeleteRange",
	"/etcdserverpb.KV/Txn",
	"/etcdserverpb.KV/Compact",
	"/etcdserverpb.Lease/LeaseGrant",
	"/etcdserverpb.Lease/LeaseRevoke",
	"/etcdserverpb.Lease/LeaseTimeToLive",
	"/etcdserverpb.Lease/LeaseLeases",
	"/etcdserverpb.Maintenance/HashKV",
	"/etcdserverpb.Maintenance/Status",
}

// TestMain removes the shared member's data dir when the process ends
// (the fuzzing engine's workers are such processes too).
func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		shared.member.Stop()
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

type target struct {
	member *server.Member
	dir    string

	conn  *grpc.ClientConn
	kv    pb.KVClient
	lease pb.LeaseClient
}

var (
	once    sync.Once
	shared  *target
	initErr error
)

// member starts one member and its gRPC server for the whole process; the
// fuzzing engine's workers are processes, each with its own.
func member(t testing.TB) *target {
	once.Do(func() { shared, initErr = startMember() })
	if initErr != nil {
		t.Fatal(initErr)
	}
	return shared
}

func startMember() (*target, error) {
	dir, err := os.MkdirTemp("", "basalt-fuzz-")
	if err != nil {
		return nil, err
	}
	peer, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	u := url.URL{Scheme: "http", Host: peer.Addr().String()}
	m, err := server.NewMember(server.Config{
		Name:                   "fuzz",
		DataDir:                filepath.Join(dir, "fuzz.etcd"),
		SnapshotCount:          10000,
		SnapshotCatchUpEntries: 5000,
		TickMs:                 10,
		ElectionTicks:          10,
		PreVote:                true,
		InitialCluster:         map[string][]url.URL{"fuzz": {u}},
		InitialClusterToken:    "fuzz",
		NewCluster:             true,
		PeerURLs:               []url.URL{u},
		ClientURLs:             []url.URL{{Scheme: "http", Host: "127.0.0.1:1"}},
		MaxRequestBytes:        1572864,
		MaxTxnOps:              128,
		BackendBatchInterval:   10 * time.Millisecond,
		Logger:                 zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("start member: %w", err)
	}
	go (&http.Server{Handler: m.PeerHandler()}).Serve(peer)
	m.Start()
	select {
	case <-m.ReadyNotify():
	case <-time.After(20 * time.Second):
		return nil, fmt.Errorf("member not ready")
	}
	srv, err := v3rpc.NewServer(m, v3rpc.Config{Logger: zap.NewNop(), MaxRequestBytes: 1572864, MaxTxnOps: 128})
	if err != nil {
		return nil, err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	go srv.GRPCServer().Serve(lis)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(16<<20), grpc.MaxCallSendMsgSize(16<<20)))
	if err != nil {
		return nil, err
	}
	return &target{member: m, dir: dir, conn: conn, kv: pb.NewKVClient(conn), lease: pb.NewLeaseClient(conn)}, nil
}

// snapshot is the whole keyspace and the revision, read linearizably.
func (tg *target) snapshot(ctx context.Context) (*pb.RangeResponse, error) {
	return tg.kv.Range(ctx, &pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}})
}

func sameState(a, b *pb.RangeResponse) bool {
	if a.Header.Revision != b.Header.Revision || len(a.Kvs) != len(b.Kvs) {
		return false
	}
	for i := range a.Kvs {
		if !proto.Equal(a.Kvs[i], b.Kvs[i]) {
			return false
		}
	}
	return true
}

// expiredSince reports whether the difference between two states is only
// the work of leases that expired in between: leases the fuzzer granted
// with short TTLs run out while it runs, and each revocation deletes its
// keys in one revision. Every key of after must be unchanged from before;
// every key gone must have had a lease that no longer exists; and the
// revision may have moved by at most one per such lease.
func (tg *target) expiredSince(ctx context.Context, before, after *pb.RangeResponse) (bool, error) {
	prev := make(map[string]*mvccpb.KeyValue, len(before.Kvs))
	for _, kv := range before.Kvs {
		prev[string(kv.Key)] = kv
	}
	for _, kv := range after.Kvs {
		if !proto.Equal(prev[string(kv.Key)], kv) {
			return false, nil
		}
		delete(prev, string(kv.Key))
	}
	revoked := make(map[int64]bool)
	for _, kv := range prev {
		if kv.Lease == 0 {
			return false, nil
		}
		if _, seen := revoked[kv.Lease]; seen {
			continue
		}
		ttl, err := tg.lease.LeaseTimeToLive(ctx, &pb.LeaseTimeToLiveRequest{ID: kv.Lease})
		if err != nil {
			return false, fmt.Errorf("lease %x: %w", kv.Lease, err)
		}
		if ttl.TTL != -1 {
			return false, nil
		}
		revoked[kv.Lease] = true
	}
	moved := after.Header.Revision - before.Header.Revision
	return moved >= 0 && moved <= int64(len(revoked)), nil
}

func addSeeds(f *testing.F) {
	req := func(m proto.Message) []byte {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	seeds := []struct {
		method uint8
		data   []byte
	}{
		{0, req(&pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte{0}, Limit: -1, Revision: -5})},
		{0, req(&pb.RangeRequest{Key: []byte("a"), Revision: 1 << 40, SortOrder: 7, SortTarget: 9})},
		{1, req(&pb.PutRequest{Key: []byte("k"), Value: []byte("v")})},
		{1, req(&pb.PutRequest{Key: nil, Value: []byte("v")})},
		{1, req(&pb.PutRequest{Key: []byte("k"), Lease: -1, IgnoreValue: true, IgnoreLease: true})},
		{2, req(&pb.DeleteRangeRequest{Key: []byte("k"), RangeEnd: []byte("a"), PrevKv: true})},
		{3, req(&pb.TxnRequest{
			Compare: []*pb.Compare{{Key: []byte("k"), Target: pb.Compare_VERSION, Result: pb.Compare_GREATER, TargetUnion: &pb.Compare_Version{Version: -1}}},
			Success: []*pb.RequestOp{
				{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("a"), Value: []byte("1")}}},
				{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("a"), Value: []byte("2")}}},
			},
		})},
		{3, req(&pb.TxnRequest{
			Success: []*pb.RequestOp{
				{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("x"), Value: []byte("1")}}},
				{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("y"), Value: []byte("1"), Lease: 12345}}},
			},
		})},
		{3, req(&pb.TxnRequest{Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestTxn{RequestTxn: &pb.TxnRequest{
			Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: &pb.DeleteRangeRequest{Key: []byte("a"), RangeEnd: []byte{0}}}}},
		}}}}})},
		{4, req(&pb.CompactionRequest{Revision: -1})},
		{4, req(&pb.CompactionRequest{Revision: 1 << 50, Physical: true})},
		{5, req(&pb.LeaseGrantRequest{TTL: -10, ID: -1})},
		{5, req(&pb.LeaseGrantRequest{TTL: 1 << 40, ID: 7})},
		{6, req(&pb.LeaseRevokeRequest{ID: 0})},
		{7, req(&pb.LeaseTimeToLiveRequest{ID: -3, Keys: true})},
		{8, nil},
		{9, req(&pb.HashKVRequest{Revision: -1})},
		{10, nil},
		{1, []byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f}},       // a length past the end
		{3, []byte{0x12, 0x02, 0x0a, 0x00, 0x12, 0x80, 0x01}}, // truncated nested message
		{0, bytes.Repeat([]byte{0x0a, 0x01, 'k'}, 100)},       // a repeated singular field
	}
	for _, s := range seeds {
		f.Add(s.method, s.data)
	}
}

// FuzzRequests sends a request of a fuzzed type and bytes to a member. It
// must answer with a gRPC status or a response, never panic; a refused
// write must change nothing; and the member must go on serving.
func FuzzRequests(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, method uint8, data []byte) {
		tg := member(t)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		before, err := tg.snapshot(ctx)
		if err != nil {
			t.Fatalf("range before: %v", err)
		}
		name := methods[int(method)%len(methods)]
		var resp []byte
		callErr := tg.conn.Invoke(ctx, name, &data, &resp, grpc.ForceCodec(rawCodec{}))
		if callErr != nil {
			if _, ok := status.FromError(callErr); !ok {
				t.Fatalf("%s: not a gRPC status: %v", name, callErr)
			}
			after, err := tg.snapshot(ctx)
			if err != nil {
				t.Fatalf("range after %s failed with %v: %v", name, callErr, err)
			}
			expired, err := tg.expiredSince(ctx, before, after)
			if err != nil {
				t.Fatalf("after %s failed with %v: %v", name, callErr, err)
			}
			if !sameState(before, after) && !expired {
				t.Fatalf("%s failed (%v) but changed the store: revision %d → %d, %d → %d keys",
					name, callErr, before.Header.Revision, after.Header.Revision, len(before.Kvs), len(after.Kvs))
			}
		}
		// Still serving writes and reads.
		if _, err := tg.kv.Put(ctx, &pb.PutRequest{Key: []byte("fuzz-canary"), Value: data[:min(len(data), 16)]}); err != nil {
			t.Fatalf("after %s: put: %v", name, err)
		}
		if _, err := tg.kv.Range(ctx, &pb.RangeRequest{Key: []byte("fuzz-canary")}); err != nil {
			t.Fatalf("after %s: range: %v", name, err)
		}
	})
}

// streams are the bidirectional calls fuzzed, by the index the input picks.
var streams = []string{
	"/etcdserverpb.Watch/Watch",
	"/etcdserverpb.Lease/LeaseKeepAlive",
}

// FuzzStreamRequests sends fuzzed raw requests on a Watch or
// LeaseKeepAlive stream, then closes its side: the member answers or ends
// the stream with a status, never panics, and goes on serving.
func FuzzStreamRequests(f *testing.F) {
	req := func(m proto.Message) []byte {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	create := func(c *pb.WatchCreateRequest) []byte {
		return req(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: c}})
	}
	for _, s := range []struct {
		stream uint8
		data   []byte
	}{
		{0, create(&pb.WatchCreateRequest{Key: []byte("k")})},
		{0, create(&pb.WatchCreateRequest{Key: []byte("a"), RangeEnd: []byte{0}, StartRevision: -5, ProgressNotify: true, PrevKv: true, Fragment: true})},
		{0, create(&pb.WatchCreateRequest{Key: []byte("a"), StartRevision: 1 << 50, WatchId: -7, Filters: []pb.WatchCreateRequest_FilterType{9, 0, 1}})},
		{0, create(&pb.WatchCreateRequest{Key: nil, RangeEnd: []byte("z"), WatchId: 1 << 40})},
		{0, req(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CancelRequest{CancelRequest: &pb.WatchCancelRequest{WatchId: -1}}})},
		{0, req(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_ProgressRequest{ProgressRequest: &pb.WatchProgressRequest{}}})},
		{0, nil},
		{1, req(&pb.LeaseKeepAliveRequest{ID: -1})},
		{1, req(&pb.LeaseKeepAliveRequest{ID: 0})},
		{1, []byte{0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
	} {
		f.Add(s.stream, s.data)
	}
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		tg := member(t)
		name := streams[int(which)%len(streams)]
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		// Most requests are answered at once; one that is not (a cancel of
		// no watch) is given a moment.
		sctx, scancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer scancel()
		st, err := tg.conn.NewStream(sctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, name, grpc.ForceCodec(rawCodec{}))
		if err != nil {
			t.Fatalf("%s: open: %v", name, err)
		}
		if err := st.SendMsg(&data); err == nil {
			_ = st.CloseSend()
			// The first answer, or the end of the stream (a watch stream
			// stays open on a closed client side).
			var resp []byte
			if err := st.RecvMsg(&resp); err != nil {
				if _, ok := status.FromError(err); !ok && err != io.EOF {
					t.Fatalf("%s: not a gRPC status: %v", name, err)
				}
			}
		}
		if _, err := tg.kv.Put(ctx, &pb.PutRequest{Key: []byte("fuzz-canary"), Value: data[:min(len(data), 16)]}); err != nil {
			t.Fatalf("after %s: put: %v", name, err)
		}
	})
}
