package e2e

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/basaltkv/basalt/pkg/testutil"
	bolt "go.etcd.io/bbolt"
	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"
)

// corruptValue rewrites the value of one revision in a stopped member's
// bbolt file, as a bad disk or a bug would: the member still starts, and
// only a comparison of hashes with its peers can tell.
func corruptValue(t *testing.T, m *Member, key string) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(m.DataDir, "member", "snap", "db"), 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("key"))
		if b == nil {
			return fmt.Errorf("no key bucket")
		}
		var rev, val []byte
		err := b.ForEach(func(k, v []byte) error {
			var kv mvccpb.KeyValue
			if err := proto.Unmarshal(v, &kv); err == nil && string(kv.Key) == key {
				kv.Value = []byte("corrupted")
				rev = slices.Clone(k)
				val, err = proto.Marshal(&kv)
				return err
			}
			return nil
		})
		if err != nil {
			return err
		}
		if rev == nil {
			return fmt.Errorf("key %q not found", key)
		}
		return b.Put(rev, val)
	})
	if err != nil {
		t.Fatalf("corrupt %s's database: %v", m.Name, err)
	}
}

// corruptCluster starts 3 members with args, writes, and corrupts the
// last member's data while it is stopped.
func corruptCluster(t *testing.T, args ...string) (*Cluster, *clientv3.Client, *Member) {
	t.Helper()
	c := NewCluster(t, 3, &Options{Args: args})
	cli := c.Client(t)
	for i := range 20 {
		putGet(t, cli, fmt.Sprintf("k%02d", i), "v")
	}
	bad := c.Members[2]
	bc := NewClient(t, []string{bad.ClientURL()}, nil)
	testutil.WaitUntil(t, 30*time.Second, bad.Name+" to hold every write", func() bool {
		r, err := bc.Get(testCtx(t), "k19", clientv3.WithSerializable())
		return err == nil && len(r.Kvs) == 1
	})
	if code := bad.Stop(t); code != 0 {
		t.Fatalf("%s exited with %d", bad.Name, code)
	}
	corruptValue(t, bad, "k05")
	return c, cli, bad
}

// waitCorruptAlarm waits for the CORRUPT alarm on member id and checks
// that the cluster then refuses writes with etcd's error.
func waitCorruptAlarm(t *testing.T, cli *clientv3.Client, id uint64) {
	t.Helper()
	testutil.WaitUntil(t, 30*time.Second, "the CORRUPT alarm", func() bool {
		resp, err := cli.AlarmList(testCtx(t))
		if err != nil {
			return false
		}
		for _, a := range resp.Alarms {
			if a.Alarm == etcdserverpb.AlarmType_CORRUPT && a.MemberID == id {
				return true
			}
		}
		return false
	})
	if _, err := cli.Put(testCtx(t), "after", "corruption"); err == nil || !strings.Contains(err.Error(), "etcdserver: corrupt cluster") {
		t.Errorf("put with a CORRUPT alarm raised: got %v, want etcdserver: corrupt cluster", err)
	}
	if _, err := cli.Get(testCtx(t), "k00", clientv3.WithSerializable()); err != nil {
		t.Errorf("a serializable read with a CORRUPT alarm raised: %v", err)
	}
}

// TestInitialAndPeriodicCorruptCheck: a member whose data was altered
// refuses to start with InitialCorruptCheck, as etcd's ("found data
// inconsistency with peers"); started without it, the leader's periodic
// check (--corrupt-check-time) raises the CORRUPT alarm for it.
func TestInitialAndPeriodicCorruptCheck(t *testing.T) {
	c, cli, bad := corruptCluster(t, "--corrupt-check-time=1s")
	id := memberID(t, cli, bad)
	args := bad.args
	bad.args = append(slices.Clone(args), "--feature-gates=InitialCorruptCheck=true")
	if err := bad.start(); err != nil {
		t.Fatal(err)
	}
	p := bad.Process()
	if code, err := p.Wait(60 * time.Second); err != nil || code == 0 || !strings.Contains(p.Output(), "found data inconsistency with peers") {
		t.Fatalf("a corrupt member with InitialCorruptCheck: status %d, %v; output:\n%s", code, err, p.Output())
	}
	// A sound member passes the check.
	good := c.Members[1]
	if code := good.Stop(t); code != 0 {
		t.Fatalf("%s exited with %d", good.Name, code)
	}
	goodArgs := good.args
	good.args = append(slices.Clone(goodArgs), "--feature-gates=InitialCorruptCheck=true")
	good.Start(t)
	if !strings.Contains(good.Logs(), "initial corruption checking passed; no corruption") {
		t.Errorf("%s did not pass the initial check:\n%s", good.Name, good.Logs())
	}
	bad.args = args
	bad.Start(t)
	waitCorruptAlarm(t, cli, id)
}

// TestCompactHashCheck: with CompactHashCheck, the leader compares the
// hashes every member stored at a compaction and raises the CORRUPT alarm
// for the one that differs.
func TestCompactHashCheck(t *testing.T) {
	_, cli, bad := corruptCluster(t, "--feature-gates=CompactHashCheck=true", "--compact-hash-check-time=1s")
	id := memberID(t, cli, bad)
	bad.Start(t)
	resp, err := cli.Put(testCtx(t), "compact-here", "v")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(testCtx(t), resp.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	waitCorruptAlarm(t, cli, id)
}
