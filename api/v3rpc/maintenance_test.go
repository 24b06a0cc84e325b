package v3rpc_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/basaltkv/basalt/api/internal/fakemember"
	"github.com/basaltkv/basalt/api/v3rpc"
	"github.com/basaltkv/basalt/storage/mvcc"
	bolt "go.etcd.io/bbolt"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/snapshot"
)

func TestStatusAndAlarms(t *testing.T) {
	c := newCluster(t, v3rpc.Config{})
	cli := c.client
	st, err := cli.Status(ctx(t), c.addr)
	if err != nil {
		t.Fatal(err)
	}
	checkHeader(t, st.Header, 1)
	if st.Version != "3.7.0" || st.Leader != fakemember.MemberID || st.DbSize == 0 || st.DbSizeQuota != 2<<30 || len(st.Errors) != 0 {
		t.Fatalf("status: %+v", st)
	}

	if _, err := cli.AlarmDisarm(ctx(t), &clientv3.AlarmMember{}); err != nil {
		t.Fatal(err)
	}
	if _, err := pb.NewMaintenanceClient(cli.ActiveConnection()).Alarm(ctx(t), &pb.AlarmRequest{
		Action: pb.AlarmRequest_ACTIVATE, MemberID: fakemember.MemberID, Alarm: pb.AlarmType_NOSPACE,
	}); err != nil {
		t.Fatal(err)
	}
	al, err := cli.AlarmList(ctx(t))
	if err != nil || len(al.Alarms) != 1 || al.Alarms[0].Alarm != pb.AlarmType_NOSPACE {
		t.Fatalf("alarms: %+v %v", al, err)
	}
	c.m.SetLeader(0)
	st, err = cli.Status(ctx(t), c.addr)
	if err != nil {
		t.Fatal(err)
	}
	// An alarm reads as its protobuf text, whose spacing protobuf varies
	// on purpose.
	want := []string{"etcdserver: no leader", fmt.Sprintf("memberID:%d alarm:NOSPACE", fakemember.MemberID)}
	var got []string
	for _, e := range st.Errors {
		got = append(got, strings.Join(strings.Fields(e), " "))
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("status errors %q, want %q", st.Errors, want)
	}
}

func TestHashDefragMoveLeader(t *testing.T) {
	c := newCluster(t, v3rpc.Config{})
	cli := c.client
	for i := range 10 {
		if _, err := cli.Put(ctx(t), fmt.Sprint("k", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	hkv, err := cli.HashKV(ctx(t), c.addr, 0)
	if err != nil {
		t.Fatal(err)
	}
	checkHeader(t, hkv.Header, 11)
	if hkv.Hash == 0 || hkv.HashRevision != 11 {
		t.Fatalf("hashkv: %+v", hkv)
	}
	if _, err := cli.HashKV(ctx(t), c.addr, 100); !errors.Is(err, rpctypes.ErrFutureRev) {
		t.Fatalf("hashkv of a future revision: %v", err)
	}
	h, err := pb.NewMaintenanceClient(cli.ActiveConnection()).Hash(ctx(t), &pb.HashRequest{})
	if err != nil || h.Hash == 0 {
		t.Fatalf("hash: %v %v", h, err)
	}
	if _, err := cli.Defragment(ctx(t), c.addr); err != nil {
		t.Fatal(err)
	}
	if gr, err := cli.Get(ctx(t), "k", clientv3.WithPrefix()); err != nil || gr.Count != 10 {
		t.Fatalf("after defrag: %v %v", gr, err)
	}
	if _, err := cli.MoveLeader(ctx(t), 5); err != nil {
		t.Fatal(err)
	}
	c.m.SetLeader(5)
	if _, err := cli.MoveLeader(ctx(t), 6); !errors.Is(err, rpctypes.ErrNotLeader) {
		t.Fatalf("move leader from a follower: %v", err)
	}

	// The gRPC health service reports serving.
	hr, err := healthpb.NewHealthClient(cli.ActiveConnection()).Check(ctx(t), &healthpb.HealthCheckRequest{})
	if err != nil || hr.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v %v", hr, err)
	}
}

func TestSnapshotChecksum(t *testing.T) {
	c := newCluster(t, v3rpc.Config{})
	// Enough data for several chunks.
	val := strings.Repeat("x", 10_000)
	for i := range 30 {
		if _, err := c.client.Put(ctx(t), fmt.Sprintf("snap/%02d", i), val); err != nil {
			t.Fatal(err)
		}
	}
	// etcdctl snapshot save.
	path := filepath.Join(t.TempDir(), "snap.db")
	version, err := snapshot.SaveWithVersion(ctx(t), zap.NewNop(), clientv3.Config{Endpoints: []string{c.addr}}, path)
	if err != nil {
		t.Fatal(err)
	}
	if version != "3.7.0" {
		t.Fatalf("snapshot version %q", version)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// etcdutl snapshot restore: the last 32 bytes are the SHA-256 of the
	// rest, and the rest is the database.
	if len(data)%512 != sha256.Size {
		t.Fatalf("snapshot of %d bytes has no checksum trailer", len(data))
	}
	db, sum := data[:len(data)-sha256.Size], data[len(data)-sha256.Size:]
	if got := sha256.Sum256(db); !bytes.Equal(got[:], sum) {
		t.Fatal("snapshot checksum does not match")
	}
	if len(db) < 300_000 {
		t.Fatalf("snapshot of %d bytes is too small for its data", len(db))
	}
	dbPath := filepath.Join(t.TempDir(), "restored.db")
	if err := os.WriteFile(dbPath, db, 0o600); err != nil {
		t.Fatal(err)
	}
	bdb, err := bolt.Open(dbPath, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	var revisions int
	if err := bdb.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(mvcc.KeyBucket)
		if b == nil {
			return errors.New("no key bucket")
		}
		revisions = b.Stats().KeyN
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if revisions != 30 {
		t.Fatalf("snapshot holds %d revisions, want 30", revisions)
	}
}

func TestUnimplemented(t *testing.T) {
	c := newCluster(t, v3rpc.Config{})
	cli := c.client
	tests := []struct {
		name string
		do   func() error
		msg  string
	}{
		{"downgrade", func() error { _, err := cli.Downgrade(ctx(t), clientv3.DowngradeValidate, "3.6.0"); return err }, "basalt: downgrade is not implemented"},
	}
	for _, tt := range tests {
		err := tt.do()
		if status.Code(err) != codes.Unimplemented || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: got %v", tt.name, err)
		}
	}
}

// TestMemberChangeRequests: peer URLs are checked and sorted as etcd's
// are, and the member's refusals reach the client as etcd's errors.
func TestMemberChangeRequests(t *testing.T) {
	c := newCluster(t, v3rpc.Config{})
	cli := c.client
	// clientv3 checks the URLs itself: send the request as another client
	// could.
	raw := pb.NewClusterClient(cli.ActiveConnection())
	for _, bad := range [][]string{{"127.0.0.1:2390"}, {"http://127.0.0.1"}, {"http://127.0.0.1:2390/path"}, {"ftp://127.0.0.1:2390"}, {}} {
		if _, err := raw.MemberAdd(ctx(t), &pb.MemberAddRequest{PeerURLs: bad}); err == nil || err.Error() != rpctypes.ErrGRPCMemberBadURLs.Error() {
			t.Errorf("MemberAdd(%q): got %v, want %v", bad, err, rpctypes.ErrGRPCMemberBadURLs)
		}
	}
	resp, err := raw.MemberAdd(ctx(t), &pb.MemberAddRequest{PeerURLs: []string{"http://127.0.0.2:2390", " http://127.0.0.1:2390"}, IsLearner: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Member.PeerURLs; !resp.Member.IsLearner || len(got) != 2 || got[0] != "http://127.0.0.1:2390" || len(resp.Members) != 2 {
		t.Errorf("MemberAddAsLearner: got %v", resp)
	}
	if resp.Header.GetMemberId() != fakemember.MemberID || resp.Header.GetClusterId() == 0 {
		t.Errorf("MemberAdd header: %v", resp.Header)
	}
	if _, err := cli.MemberPromote(ctx(t), resp.Member.ID); err != nil {
		t.Errorf("MemberPromote: %v", err)
	}
	if _, err := cli.MemberRemove(ctx(t), 12345); err == nil || err.Error() != rpctypes.ErrMemberNotFound.Error() {
		t.Errorf("MemberRemove of an unknown member: got %v, want %v", err, rpctypes.ErrMemberNotFound)
	}
}

func TestClusterAndAuth(t *testing.T) {
	c := newCluster(t, v3rpc.Config{})
	c.m.ClientURLs = []string{"http://" + c.addr}
	ml, err := c.client.MemberList(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	checkHeader(t, ml.Header, 0)
	if ml.Header.Revision != 0 {
		t.Errorf("member list header has revision %d; etcd's has none", ml.Header.Revision)
	}
	if len(ml.Members) != 1 || ml.Members[0].ID != fakemember.MemberID || ml.Members[0].ClientURLs[0] != "http://"+c.addr {
		t.Fatalf("members: %+v", ml.Members)
	}

	as, err := c.client.AuthStatus(ctx(t))
	if err != nil || as.Enabled || as.AuthRevision != 1 {
		t.Fatalf("auth status: %+v %v", as, err)
	}
	if _, err := c.client.AuthDisable(ctx(t)); err != nil {
		t.Fatalf("auth disable: %v", err)
	}
	if _, err := c.client.Authenticate(ctx(t), "root", "pw"); !errors.Is(err, rpctypes.ErrAuthNotEnabled) {
		t.Fatalf("authenticate: %v", err)
	}
	// A client configured with credentials works, as against an etcd
	// whose auth is off.
	withUser := c.newClient(t, func(cfg *clientv3.Config) { cfg.Username, cfg.Password = "root", "pw" })
	if _, err := withUser.Put(ctx(t), "k", "v"); err != nil {
		t.Fatal(err)
	}
}
