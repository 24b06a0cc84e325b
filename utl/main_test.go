package utl_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/basaltkv/basalt/tests/e2e"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/snapshot"
	"go.uber.org/zap"
)

// The tests run the basaltutl binary on snapshots and data dirs of real
// basalt processes; transcripts are compared with testdata/*.golden
// (go test -update rewrites them).
var update = flag.Bool("update", false, "rewrite the golden files")

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(e2e.RunWithBinary(m, "basaltutl"))
}

// result is one run of a command.
type result struct {
	stdout, stderr string
	code           int
}

// run runs bin with args and extra environment, bounded by a minute.
func run(t testing.TB, env []string, bin string, args ...string) result {
	t.Helper()
	return runCmd(t, "", env, bin, args...)
}

// runIn runs bin in the working directory wd.
func runIn(t testing.TB, wd, bin string, args ...string) result {
	t.Helper()
	return runCmd(t, wd, nil, bin, args...)
}

func runCmd(t testing.TB, wd string, env []string, bin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = wd
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %q: no exit within a minute\nstdout:\n%s\nstderr:\n%s", bin, args, out.String(), errOut.String())
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s %q: %v", bin, args, err)
	}
	return result{stdout: out.String(), stderr: errOut.String(), code: code}
}

// utl runs basaltutl and fails t unless it exits 0.
func utl(t testing.TB, args ...string) result {
	t.Helper()
	r := run(t, nil, utlPath(), args...)
	if r.code != 0 {
		t.Fatalf("basaltutl %q: exit %d\nstdout:\n%s\nstderr:\n%s", args, r.code, r.stdout, r.stderr)
	}
	return r
}

// saveSnapshot streams a member's database into a file as `snapshot
// save` does (clientv3's snapshot package, which etcdctl uses).
func saveSnapshot(t testing.TB, endpoint, path string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()}
	if _, err := snapshot.SaveWithVersion(ctx, zap.NewNop(), cfg, path); err != nil {
		t.Fatalf("snapshot save from %s: %v", endpoint, err)
	}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// restoredMember is a member process, basalt's or etcd's, started on a
// data dir of its own (most often one a tool restored).
type restoredMember struct {
	name, dataDir, clientURL, peerURL string
	proc                              *e2e.Process
}

// newRestoredCluster picks URLs for members named names and returns them
// with the --initial-cluster that lists them.
func newRestoredCluster(t testing.TB, dir string, names ...string) ([]*restoredMember, string) {
	t.Helper()
	ports, err := e2e.FreePorts(2 * len(names))
	if err != nil {
		t.Fatal(err)
	}
	var ms []*restoredMember
	var initial []string
	for i, n := range names {
		m := &restoredMember{
			name:      n,
			dataDir:   filepath.Join(dir, n+".etcd"),
			clientURL: fmt.Sprintf("http://127.0.0.1:%d", ports[2*i]),
			peerURL:   fmt.Sprintf("http://127.0.0.1:%d", ports[2*i+1]),
		}
		ms = append(ms, m)
		initial = append(initial, n+"="+m.peerURL)
	}
	return ms, strings.Join(initial, ",")
}

// startRestored starts basalt on every member's data dir (the restored
// WAL holds the membership, so the initial-cluster flags are for show, as
// a user would pass them) and waits until each serves clients.
func startRestored(t testing.TB, ms []*restoredMember, initialCluster, token string) {
	t.Helper()
	startMembers(t, e2e.Binary(), ms, initialCluster, token)
}

// startMembers is startRestored with the server binary bin (basalt's or
// etcd's, which take the same flags and log the same ready line).
func startMembers(t testing.TB, bin string, ms []*restoredMember, initialCluster, token string) {
	t.Helper()
	for _, m := range ms {
		args := []string{
			"--name", m.name, "--data-dir", m.dataDir,
			"--listen-client-urls", m.clientURL, "--advertise-client-urls", m.clientURL,
			"--listen-peer-urls", m.peerURL, "--initial-advertise-peer-urls", m.peerURL,
			"--initial-cluster", initialCluster, "--initial-cluster-token", token,
		}
		p, err := e2e.StartProcess(bin, args, nil)
		if err != nil {
			t.Fatal(err)
		}
		m.proc = p
		t.Cleanup(func() {
			p.Kill()
			if t.Failed() {
				t.Logf("=== output of %s (%s) ===\n%s", m.name, filepath.Base(bin), p.Output())
			}
		})
	}
	for _, m := range ms {
		if err := m.proc.WaitOutput(e2e.ReadyLine, time.Minute); err != nil {
			t.Fatalf("%s (%s) not ready: %v", m.name, filepath.Base(bin), err)
		}
	}
}

// utlPath is the basaltutl binary TestMain built.
func utlPath() string { return e2e.Command("basaltutl") }
