package v3rpc_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/basaltkv/basalt/api/internal/fakemember"
	"github.com/basaltkv/basalt/api/v3rpc"
	"github.com/basaltkv/basalt/server/serverr"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func checkHeader(t *testing.T, h *pb.ResponseHeader, rev int64) {
	t.Helper()
	if h == nil {
		t.Fatal("no header")
	}
	if h.ClusterId != fakemember.ClusterID || h.MemberId != fakemember.MemberID || h.RaftTerm != fakemember.RaftTerm {
		t.Fatalf("header %v: want cluster %x member %x term %d", h, fakemember.ClusterID, fakemember.MemberID, fakemember.RaftTerm)
	}
	if rev != 0 && h.Revision != rev {
		t.Fatalf("header revision %d, want %d", h.Revision, rev)
	}
}

func TestKVEndToEnd(t *testing.T) {
	c := newCluster(t, v3rpc.Config{})
	cli := c.client

	pr, err := cli.Put(ctx(t), "foo", "bar")
	if err != nil {
		t.Fatal(err)
	}
	checkHeader(t, pr.Header, 2)

	gr, err := cli.Get(ctx(t), "foo")
	if err != nil {
		t.Fatal(err)
	}
	checkHeader(t, gr.Header, 2)
	if len(gr.Kvs) != 1 || string(gr.Kvs[0].Value) != "bar" || gr.Kvs[0].CreateRevision != 2 {
		t.Fatalf("get: %v", gr.Kvs)
	}

	for i := range 5 {
		if _, err := cli.Put(ctx(t), fmt.Sprintf("dir/%d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	gr, err = cli.Get(ctx(t), "dir/", clientv3.WithPrefix(), clientv3.WithLimit(2), clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend))
	if err != nil {
		t.Fatal(err)
	}
	if gr.Count != 5 || !gr.More || len(gr.Kvs) != 2 || string(gr.Kvs[0].Key) != "dir/4" {
		t.Fatalf("prefix get: count %d more %v kvs %v", gr.Count, gr.More, gr.Kvs)
	}
	// An empty range_end (as JSON "" decodes) reads the key alone.
	raw := pb.NewKVClient(cli.ActiveConnection())
	rr, err := raw.Range(ctx(t), &pb.RangeRequest{Key: []byte("dir/0"), RangeEnd: []byte{}})
	if err != nil || len(rr.Kvs) != 1 {
		t.Fatalf("range with empty end: %v %v", rr, err)
	}

	tr, err := cli.Txn(ctx(t)).
		If(clientv3.Compare(clientv3.Value("foo"), "=", "bar")).
		Then(clientv3.OpPut("foo", "baz"), clientv3.OpGet("foo")).
		Else(clientv3.OpDelete("foo")).
		Commit()
	if err != nil {
		t.Fatal(err)
	}
	checkHeader(t, tr.Header, 8)
	if !tr.Succeeded || string(tr.Responses[1].GetResponseRange().Kvs[0].Value) != "baz" {
		t.Fatalf("txn: %v", tr)
	}

	dr, err := cli.Delete(ctx(t), "dir/", clientv3.WithPrefix(), clientv3.WithPrevKV())
	if err != nil {
		t.Fatal(err)
	}
	if dr.Deleted != 5 || len(dr.PrevKvs) != 5 {
		t.Fatalf("delete: %v", dr)
	}

	if _, err := cli.Compact(ctx(t), 5, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Get(ctx(t), "foo", clientv3.WithRev(3)); !errors.Is(err, rpctypes.ErrCompacted) {
		t.Fatalf("get compacted revision: %v", err)
	}
	if _, err := cli.Get(ctx(t), "foo", clientv3.WithRev(100)); !errors.Is(err, rpctypes.ErrFutureRev) {
		t.Fatalf("get future revision: %v", err)
	}
	if _, err := cli.Compact(ctx(t), 4); !errors.Is(err, rpctypes.ErrCompacted) {
		t.Fatalf("compact twice: %v", err)
	}
}

func TestKVValidationErrors(t *testing.T) {
	c := newCluster(t, v3rpc.Config{MaxTxnOps: 8, MaxRequestBytes: 64 * 1024})
	cli := c.client
	raw := pb.NewKVClient(cli.ActiveConnection())
	big := strings.Repeat("x", 64*1024+1)
	many := func(n int) []clientv3.Op {
		ops := make([]clientv3.Op, n)
		for i := range ops {
			ops[i] = clientv3.OpPut(fmt.Sprintf("k%d", i), "v")
		}
		return ops
	}
	tests := []struct {
		name string
		do   func() error
		want error
	}{
		{"put empty key", func() error { _, err := cli.Put(ctx(t), "", "v"); return err }, rpctypes.ErrEmptyKey},
		{"get empty key", func() error { _, err := cli.Get(ctx(t), ""); return err }, rpctypes.ErrEmptyKey},
		{"delete empty key", func() error { _, err := cli.Delete(ctx(t), ""); return err }, rpctypes.ErrEmptyKey},
		{"ignore value with a value", func() error {
			_, err := raw.Put(ctx(t), &pb.PutRequest{Key: []byte("a"), Value: []byte("v"), IgnoreValue: true})
			return rpctypes.Error(err)
		}, rpctypes.ErrValueProvided},
		{"ignore lease with a lease", func() error {
			_, err := raw.Put(ctx(t), &pb.PutRequest{Key: []byte("a"), Lease: 7, IgnoreLease: true})
			return rpctypes.Error(err)
		}, rpctypes.ErrLeaseProvided},
		{"ignore value of missing key", func() error { _, err := cli.Put(ctx(t), "missing", "", clientv3.WithIgnoreValue()); return err }, rpctypes.ErrKeyNotFound},
		{"bad sort order", func() error {
			_, err := raw.Range(ctx(t), &pb.RangeRequest{Key: []byte("a"), SortOrder: 42})
			return rpctypes.Error(err)
		}, rpctypes.ErrInvalidSortOption},
		{"too many ops", func() error { _, err := cli.Txn(ctx(t)).Then(many(9)...).Commit(); return err }, rpctypes.ErrTooManyOps},
		{"max ops", func() error { _, err := cli.Txn(ctx(t)).Then(many(8)...).Commit(); return err }, nil},
		{"duplicate put", func() error {
			_, err := cli.Txn(ctx(t)).Then(clientv3.OpPut("a", "1"), clientv3.OpPut("a", "2")).Commit()
			return err
		}, rpctypes.ErrDuplicateKey},
		{"put in deleted range of nested txn", func() error {
			_, err := cli.Txn(ctx(t)).Then(clientv3.OpPut("b", "1"), clientv3.OpTxn(nil, []clientv3.Op{clientv3.OpDelete("a", clientv3.WithRange("c"))}, nil)).Commit()
			return err
		}, rpctypes.ErrDuplicateKey},
		{"put of unknown lease", func() error { _, err := cli.Put(ctx(t), "a", "v", clientv3.WithLease(12345)); return err }, rpctypes.ErrLeaseNotFound},
		{"request too large", func() error { _, err := cli.Put(ctx(t), "big", big); return err }, rpctypes.ErrRequestTooLarge},
		{"read-only txn is not a proposal", func() error {
			_, err := cli.Txn(ctx(t)).If(clientv3.Compare(clientv3.Value("k"), "=", big)).Then(clientv3.OpGet("k")).Commit()
			return err
		}, nil},
		{"write txn too large", func() error {
			_, err := cli.Txn(ctx(t)).Then(clientv3.OpPut("big", big)).Commit()
			return err
		}, rpctypes.ErrRequestTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.do(); !errors.Is(err, tt.want) {
				t.Fatalf("got %v (%T), want %v", err, err, tt.want)
			}
		})
	}

	// Beyond gRPC's receive limit the request never reaches the server's
	// handlers: gRPC refuses it, as etcd's does.
	_, err := cli.Put(ctx(t), "huge", strings.Repeat("x", 64*1024+600*1024))
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("huge put: %v", err)
	}
}

func TestMemberErrorsReachClient(t *testing.T) {
	c := newCluster(t, v3rpc.Config{})
	tests := []struct {
		err  error
		want error
	}{
		{serverr.ErrTimeout, rpctypes.ErrTimeout},
		{serverr.ErrNoSpace, rpctypes.ErrNoSpace},
		{serverr.ErrTooManyRequests, rpctypes.ErrTooManyRequests},
		{serverr.ErrCorrupt, rpctypes.ErrCorrupt},
		{serverr.ErrRequestTooLarge, rpctypes.ErrRequestTooLarge},
		{serverr.ErrNotLeader, rpctypes.ErrNotLeader},
	}
	for _, tt := range tests {
		c.m.FailNext(tt.err)
		if _, err := c.client.Put(ctx(t), "k", "v"); !errors.Is(err, tt.want) {
			t.Errorf("member error %v: client got %v, want %v", tt.err, err, tt.want)
		}
	}
	c.m.FailNext(errors.New("unexpected"))
	_, err := c.client.Get(ctx(t), "k", clientv3.WithSerializable())
	if status.Code(err) != codes.Unknown || !strings.Contains(err.Error(), "unexpected") {
		t.Fatalf("unmapped error: %v", err)
	}
}

func TestRequireLeader(t *testing.T) {
	c := newCluster(t, v3rpc.Config{})
	c.m.SetLeader(0)
	_, err := c.client.Get(clientv3.WithRequireLeader(ctx(t)), "k", clientv3.WithSerializable())
	if !errors.Is(err, rpctypes.ErrNoLeader) {
		t.Fatalf("got %v, want no leader", err)
	}
	// Without the requirement a serializable read is served.
	if _, err := c.client.Get(ctx(t), "k", clientv3.WithSerializable()); err != nil {
		t.Fatal(err)
	}
}

func TestRangeStream(t *testing.T) {
	c := newCluster(t, v3rpc.Config{})
	const n = 95
	for i := range n {
		if _, err := c.client.Put(ctx(t), fmt.Sprintf("s/%03d", i), strings.Repeat("v", i)); err != nil {
			t.Fatal(err)
		}
	}
	rev := int64(n + 1)
	tests := []struct {
		name      string
		opts      []clientv3.OpOption
		wantKeys  int
		wantCount int64
		wantMore  bool
	}{
		{"all", []clientv3.OpOption{clientv3.WithPrefix()}, n, n, false},
		{"limit", []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithLimit(33)}, 33, n, true},
		{"count only", []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithCountOnly()}, 0, n, false},
		{"at revision", []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithRev(11)}, 10, 10, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch, err := c.client.GetStream(ctx(t), "s/", tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := clientv3.GetStreamToGetResponse(ch)
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Kvs) != tt.wantKeys || resp.Count != tt.wantCount || resp.More != tt.wantMore {
				t.Fatalf("got %d keys, count %d, more %v", len(resp.Kvs), resp.Count, resp.More)
			}
			checkHeader(t, resp.Header, rev)
			for i := 1; i < len(resp.Kvs); i++ {
				if string(resp.Kvs[i-1].Key) >= string(resp.Kvs[i].Key) {
					t.Fatalf("keys out of order at %d", i)
				}
			}
		})
	}
	_, err := c.client.GetStream(ctx(t), "s/", clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByValue, clientv3.SortAscend))
	if err == nil {
		// The error arrives on the stream.
		ch, _ := c.client.GetStream(ctx(t), "s/", clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByValue, clientv3.SortAscend))
		_, err = clientv3.GetStreamToGetResponse(ch)
	}
	if status.Code(err) != codes.Unimplemented {
		t.Fatalf("custom sort: %v", err)
	}
}
