package utl_test

import (
	"fmt"
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
		a("migrate", "--data-dir", filepath.Join(dir, "golden.etcd"), "--target-version", "3.6.1"),
		a("migrate", "--data-dir", filepath.Join(dir, "golden.etcd"), "--target-version", "3.4"),
		a("migrate", "--data-dir", filepath.Join(dir, "golden.etcd")),
		a("nosuchcommand"),
		a("version"),
	}
	var b strings.Builder
	for _, args := range steps {
		r := run(t, nil, utlPath(), args...)
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
	e2e.CheckGolden(t, name, got, *update)
}

// TestCompletionAndHelp: completion scripts for each shell, refusals of
// other shells, and help (the usage alone, as etcdutl's) on stdout.
func TestCompletionAndHelp(t *testing.T) {
	tests := []struct {
		args     []string
		wantOut  string
		wantErr  string
		wantCode int
	}{
		{args: []string{"completion", "bash"}, wantOut: "__start_basaltutl"},
		{args: []string{"completion", "zsh"}, wantOut: "#compdef basaltutl"},
		{args: []string{"completion", "fish"}, wantOut: "complete -c basaltutl"},
		{args: []string{"completion", "powershell"}, wantOut: "Register-ArgumentCompleter"},
		{args: []string{"completion", "tcsh"}, wantErr: `Error: invalid argument "tcsh" for "basaltutl completion"`, wantCode: 1},
		{args: []string{"completion"}, wantErr: "Error: accepts 1 arg(s), received 0", wantCode: 1},
		{args: []string{"--help"}, wantOut: "Usage:\n  basaltutl [command]\n"},
		{args: []string{"snapshot", "restore", "--help"}, wantOut: "--initial-cluster-token string"},
		{args: []string{"snap", "stat", "--help"}, wantOut: "basaltutl snapshot status <filename> [flags]"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := run(t, nil, utlPath(), tt.args...)
			if r.code != tt.wantCode || !strings.Contains(r.stdout, tt.wantOut) || !strings.Contains(r.stderr, tt.wantErr) {
				t.Fatalf("exit %d (want %d)\nstdout:\n%.500s\nstderr:\n%s\nwant stdout with %q, stderr with %q",
					r.code, tt.wantCode, r.stdout, r.stderr, tt.wantOut, tt.wantErr)
			}
		})
	}
}
