package server

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"github.com/basaltkv/basalt/server/datadir"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.uber.org/zap/zaptest"
)

// saveSnapshotFile writes m's database with the SHA-256 `snapshot save`
// appends, and returns the path.
func saveSnapshotFile(t *testing.T, m *Member) string {
	t.Helper()
	s, err := m.Snapshot(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var buf bytes.Buffer
	if _, err := s.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(buf.Bytes())
	buf.Write(sum[:])
	path := filepath.Join(t.TempDir(), "snapshot.db")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRestoreSnapshotIntoNewCluster saves a snapshot of a loaded member,
// restores it into the data dirs of a new three-member cluster, starts
// them, and checks they serve the same data at the same revision as a
// new cluster, and take writes.
func TestRestoreSnapshotIntoNewCluster(t *testing.T) {
	src := newTestCluster(t, 1)
	src.waitReady()
	sm := src.leader().m
	ctx := ctxT(t)
	lease, err := sm.LeaseGrant(ctx, &pb.LeaseGrantRequest{TTL: 3600})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		req := &pb.PutRequest{Key: fmt.Appendf(nil, "key-%03d", i), Value: fmt.Appendf(nil, "value-%d", i)}
		if i%10 == 0 {
			req.Lease = lease.ID
		}
		if _, err := sm.Put(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := sm.DeleteRange(ctx, &pb.DeleteRangeRequest{Key: []byte("key-099")}); err != nil {
		t.Fatal(err)
	}
	want, err := sm.Range(ctx, &pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}})
	if err != nil {
		t.Fatal(err)
	}
	path := saveSnapshotFile(t, sm)

	// The new cluster: three members restored from the same file.
	c := &testCluster{t: t}
	initial := map[string][]url.URL{}
	for i := range 3 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("r%d", i)
		initial[name] = []url.URL{{Scheme: "http", Host: ln.Addr().String()}}
		c.members = append(c.members, &testMember{name: name, ln: ln})
	}
	dir := t.TempDir()
	for _, tm := range c.members {
		tm.cfg = src.members[0].cfg
		tm.cfg.Name = tm.name
		tm.cfg.DataDir = filepath.Join(dir, tm.name)
		tm.cfg.InitialCluster = initial
		tm.cfg.InitialClusterToken = "restored"
		tm.cfg.PeerURLs = initial[tm.name]
		tm.cfg.Logger = zaptest.NewLogger(t)
		err := datadir.RestoreSnapshot(datadir.RestoreConfig{
			SnapshotPath: path, Name: tm.name, InitialCluster: initial, InitialClusterToken: "restored",
			PeerURLs: initial[tm.name], DataDir: tm.cfg.DataDir, Logger: tm.cfg.Logger,
		})
		if err != nil {
			t.Fatalf("restore %s: %v", tm.name, err)
		}
	}
	for _, tm := range c.members {
		c.start(tm)
	}
	t.Cleanup(c.stop)
	c.waitReady()
	lead := c.leader().m
	if lead.ClusterID() == sm.ClusterID() {
		t.Fatal("restored cluster kept the old cluster ID")
	}
	ml, err := lead.MemberList(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mem := range ml.Members {
		names = append(names, mem.Name)
	}
	slices.Sort(names)
	if strings.Join(names, ",") != "r0,r1,r2" {
		t.Fatalf("members %v, want r0,r1,r2", names)
	}
	for _, tm := range c.members {
		got, err := tm.m.Range(ctx, &pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}})
		if err != nil {
			t.Fatal(err)
		}
		if got.Header.Revision != want.Header.Revision || len(got.Kvs) != len(want.Kvs) {
			t.Fatalf("%s: revision %d with %d keys, want %d with %d", tm.name, got.Header.Revision, len(got.Kvs), want.Header.Revision, len(want.Kvs))
		}
		for i := range got.Kvs {
			if !bytes.Equal(got.Kvs[i].Key, want.Kvs[i].Key) || !bytes.Equal(got.Kvs[i].Value, want.Kvs[i].Value) ||
				got.Kvs[i].ModRevision != want.Kvs[i].ModRevision || got.Kvs[i].Lease != want.Kvs[i].Lease {
				t.Fatalf("%s: key %d is %v, want %v", tm.name, i, got.Kvs[i], want.Kvs[i])
			}
		}
	}
	ttl, err := lead.LeaseTimeToLive(ctx, &pb.LeaseTimeToLiveRequest{ID: lease.ID, Keys: true})
	if err != nil || len(ttl.Keys) != 10 {
		t.Fatalf("lease after restore: %v %v", ttl, err)
	}
	put, err := lead.Put(ctx, &pb.PutRequest{Key: []byte("after"), Value: []byte("restore")})
	if err != nil {
		t.Fatal(err)
	}
	if put.Header.Revision != want.Header.Revision+1 {
		t.Fatalf("revision after a put %d, want %d", put.Header.Revision, want.Header.Revision+1)
	}
}

func TestRestoreSnapshotRefuses(t *testing.T) {
	src := newTestCluster(t, 1)
	src.waitReady()
	sm := src.leader().m
	if _, err := sm.Put(ctxT(t), &pb.PutRequest{Key: []byte("k"), Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	good := saveSnapshotFile(t, sm)
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	badHash := slices.Clone(data)
	badHash[len(badHash)-1] ^= 1
	noHash := data[:len(data)-sha256.Size]
	full := filepath.Join(dir, "full")
	if err := os.MkdirAll(full, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(full, "x"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	peer := []url.URL{{Scheme: "http", Host: "127.0.0.1:2380"}}
	tests := []struct {
		name    string
		path    string
		skip    bool
		dataDir string
		member  string
		wantErr string
	}{
		{"sound", good, false, "", "a", ""},
		{"bad hash", write("bad", badHash), false, "", "a", "expected sha256"},
		{"no hash", write("nohash", noHash), false, "", "a", "snapshot missing hash but --skip-hash-check=false"},
		{"no hash, skipped", filepath.Join(dir, "nohash"), true, "", "a", ""},
		{"not a database", write("junk", bytes.Repeat([]byte{7}, 4096)), true, "", "a", "snapshot"},
		{"data dir not empty", good, false, full, "a", "not empty"},
		{"name not in cluster", good, false, "", "zz", `couldn't find local name "zz"`},
		{"missing snapshot", filepath.Join(dir, "absent"), false, "", "a", "no such file or directory"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dd := tt.dataDir
			if dd == "" {
				dd = filepath.Join(dir, fmt.Sprint("dd", i))
			}
			err := datadir.RestoreSnapshot(datadir.RestoreConfig{
				SnapshotPath: tt.path, Name: tt.member, InitialCluster: map[string][]url.URL{"a": peer},
				InitialClusterToken: "t", PeerURLs: peer, DataDir: dd, SkipHashCheck: tt.skip,
			})
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("restore: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("restore: %v, want an error with %q", err, tt.wantErr)
			}
			if tt.wantErr == "no such file or directory" {
				// Nothing is created: a corrected retry must not find the
				// data dir not empty.
				if _, err := os.Stat(dd); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("data dir after a failed restore: %v, want it absent", err)
				}
			}
		})
	}
}
