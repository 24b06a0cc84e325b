package ctl_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/basaltkv/basalt/pkg/testutil"
	"github.com/basaltkv/basalt/tests/e2e"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestV2MigrateMatchesEtcdctl34: the same v2 writes on etcd 3.4 and on
// basalt (some in a raft snapshot, some in the WAL after it), each data
// dir migrated by its own tool (etcdctl 3.4's `migrate`, basaltctl's),
// give the same v3 keys: names, values, versions, and revisions relative
// to the first v2 write; directories and hidden keys are left out, TTL
// keys too with --no-ttl.
func TestV2MigrateMatchesEtcdctl34(t *testing.T) {
	if _, err := os.Stat(e2e.DebianEtcd); err != nil {
		t.Skipf("%s is missing: basaltctl migrate is compared with etcdctl 3.4's", e2e.DebianEtcd)
	}
	etcdctl, basaltctl := v2Tools(t)
	sides := []struct {
		srv  v2Server
		tool string
	}{
		{debianEtcdV2, etcdctl},
		{basaltV2(), basaltctl},
	}
	for _, noTTL := range []bool{false, true} {
		var results [2]string
		for i, side := range sides {
			results[i] = migrateSide(t, side.srv, side.tool, noTTL)
		}
		if results[0] != results[1] {
			t.Errorf("no-ttl=%v:\n%s (etcdctl 3.4):\n%s\n%s (basaltctl):\n%s", noTTL, sides[0].srv.name, results[0], sides[1].srv.name, results[1])
		}
		if !strings.Contains(results[1], "/ttl") == !noTTL {
			t.Errorf("no-ttl=%v: the TTL key migrated: %v", noTTL, strings.Contains(results[1], "/ttl"))
		}
	}
}

// migrateSide writes the v2 keys on a member of srv, stops it, migrates
// its data dir with tool and reads the v3 keys back from it.
func migrateSide(t *testing.T, srv v2Server, tool string, noTTL bool) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	srv.extra = append(append([]string(nil), srv.extra...), "--snapshot-count", "10")
	clientURL, peerURL := newV2URLs(t)
	p := startStoppable(t, srv, dir, clientURL, peerURL)
	put := func(path string, form url.Values) uint64 {
		req, _ := http.NewRequest(http.MethodPut, clientURL+"/v2/keys"+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		var idx uint64
		fmt.Sscan(resp.Header.Get("X-Etcd-Index"), &idx)
		return idx
	}
	base := put("/a", url.Values{"value": {"1"}})
	put("/dir/b", url.Values{"value": {"2"}})
	put("/ttl", url.Values{"value": {"t"}, "ttl": {"600"}})
	put("/_hidden", url.Values{"value": {"h"}})
	put("/emptydir", url.Values{"dir": {"true"}})
	for i := range 25 {
		put(fmt.Sprintf("/k/%02d", i), url.Values{"value": {fmt.Sprint("v", i)}})
	}
	put("/a", url.Values{"value": {"1b"}})
	if _, err := p.Stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	args := []string{"migrate", "--data-dir", dir}
	if noTTL {
		args = append(args, "--no-ttl")
	}
	cmd := exec.Command(tool, args...)
	cmd.Env = append(os.Environ(), "ETCDCTL_API=3")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s migrate: %v\n%s", srv.name, err, out)
	}
	// etcdctl 3.4 also logs the membership it rebuilds (JSON lines).
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if !strings.HasPrefix(l, "{") {
			lines = append(lines, l)
		}
	}
	startStoppable(t, srv, dir, clientURL, peerURL)
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{clientURL}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, "/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	var kvs []string
	for _, kv := range resp.Kvs {
		kvs = append(kvs, fmt.Sprintf("%s=%s create+%d mod+%d version %d", kv.Key, kv.Value,
			uint64(kv.CreateRevision)-base, uint64(kv.ModRevision)-base, kv.Version))
	}
	slices.Sort(kvs)
	return strings.Join(lines, "\n") + "\n" + strings.Join(kvs, "\n")
}

// startStoppable runs a one-member srv on dir until it serves.
func startStoppable(t *testing.T, srv v2Server, dir, clientURL, peerURL string) *e2e.Process {
	t.Helper()
	args := append([]string{"--name", "m", "--data-dir", dir,
		"--listen-client-urls", clientURL, "--advertise-client-urls", clientURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "m=" + peerURL}, srv.extra...)
	p, err := e2e.StartProcess(srv.bin, args, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	testutil.WaitUntil(t, 30*time.Second, srv.name+" to serve", func() bool {
		if p.Exited() {
			<-p.Done()
			t.Fatalf("%s %q exited with %d:\n%s", srv.name, args, p.ExitCode(), p.Output())
		}
		resp, err := http.Get(clientURL + "/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return p
}
