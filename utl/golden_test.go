package utl_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/basaltkv/basalt/tests/e2e"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// goldenDB builds a database file whose every byte the test decides: a
// member's keys (puts, an overwrite, a delete, a compaction), saved as a
// snapshot, restored with etcd's default name, cluster and token (so the
// membership and consistent index are fixed) and defragmented (so the page
// layout no longer depends on commit timing). Status and hashkv of it need
// no placeholder.
func goldenDB(t *testing.T, dir string) string {
	t.Helper()
	c := e2e.NewCluster(t, 1, nil)
	cli := c.Client(t)
	ctx := ctxT(t)
	for _, k := range []string{"a", "b", "c", "d", "e"} {
		if _, err := cli.Put(ctx, "key-"+k, "value-"+k); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cli.Delete(ctx, "key-c"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, "key-a", "value-a2"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(ctx, 3, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	snap := filepath.Join(dir, "snap.db")
	saveSnapshot(t, c.Members[0].ClientURL(), snap)
	c.Stop(t)
	dataDir := filepath.Join(dir, "golden.etcd")
	utl(t, "snapshot", "restore", snap, "--data-dir", dataDir)
	utl(t, "defrag", "--data-dir", dataDir)
	return filepath.Join(dataDir, "member", "snap", "db")
}

func TestGolden(t *testing.T) {
	dir := t.TempDir()
	db := goldenDB(t, dir)
	a := func(s ...string) []string { return s }
	steps := [][]string{
		a("snapshot", "status", db),
		a("snapshot", "status", db, "-w", "simple"),
		a("snapshot", "status", db, "-w", "json"),
		a("snapshot", "status", db, "-w", "fields"),
		a("snapshot", "status", db, "-w", "table"),
		a("snapshot", "status", db, "-w", "protobuf"),
		a("snapshot", "status", db, "-w", "yaml"),
		a("snapshot", "status"),
		a("snapshot", "status", db, db),
		a("snapshot", "status", filepath.Join(dir, "absent.db")),
		a("snapshot", "status", filepath.Join(dir, "snap.db"), "--bogus"),
		a("hashkv", db),
		a("hashkv", db, "--rev", "5", "-w", "json"),
		a("hashkv", db, "--rev", "3", "-w", "fields"),
		a("hashkv", db, "-w", "table"),
		a("hashkv", db, "-w", "protobuf"),
		a("hashkv", db, "--rev", "2"),
		a("hashkv", db, "--rev", "100"),
		a("hashkv", filepath.Join(dir, "absent.db")),
		a("hashkv"),
		a("defrag"),
		a("defrag", "--data-dir", filepath.Join(dir, "absent.etcd")),
		a("migrate", "--data-dir", dir, "--target-version", "3.6"),
		a("nosuchcommand"),
		a("version"),
	}
	var b strings.Builder
	for _, args := range steps {
		r := run(t, nil, utlBin, args...)
		fmt.Fprintf(&b, "$ basaltutl %s\n%s", strings.Join(args, " "), r.stdout)
		if r.stderr != "" {
			fmt.Fprintf(&b, "[stderr]\n%s", r.stderr)
		}
		if r.code != 0 {
			fmt.Fprintf(&b, "[exit %d]\n", r.code)
		}
		b.WriteString("\n")
	}
	got := strings.ReplaceAll(b.String(), dir, "<DIR>")
	compareGolden(t, "golden", got)
}

func compareGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it)\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}
