package utl_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/basaltkv/basalt/pkg/testutil"
	"github.com/basaltkv/basalt/raft/raftpb"
	"github.com/basaltkv/basalt/storage/vfs"
	"github.com/basaltkv/basalt/storage/wal"
	"github.com/basaltkv/basalt/tests/e2e"
	bolt "go.etcd.io/bbolt"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"
)

// etcdutl37Env names the path of etcdutl 3.7.3 (.ci/run builds it from
// go.etcd.io/etcd/etcdutl/v3@v3.7.3): the migrate tests run it on copies
// of the same data dirs as basaltutl. They skip when it is unset.
const etcdutl37Env = "BASALT_ETCDUTL37"

func etcdutl37(t *testing.T) string {
	t.Helper()
	bin := os.Getenv(etcdutl37Env)
	if bin == "" {
		t.Skipf("%s is not set (the path of an etcdutl 3.7.3 binary; .ci/run builds one): migrate is compared with etcdutl's", etcdutl37Env)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("%s=%s: %v", etcdutl37Env, bin, err)
	}
	return bin
}

// migrateStep is one migrate run and what it must leave: the exit
// status, the storage version in the meta bucket ("": none) and the key
// log lines (see keyLines). A step runs on the data dir the previous
// steps left.
type migrateStep struct {
	args    []string // after --data-dir DIR
	code    int
	version string
	lines   []string
}

func upToDate(v string) string {
	return `info storage version up-to-date {"storage-version": "` + v + `"}`
}

func updated(v string) string {
	return `info updated storage version {"new-storage-version": "` + v + `"}`
}

// migrateChain walks a basalt data dir (storage version 3.7.0) down to
// 3.5 and back, with the refusals and --force on the way.
var migrateChain = []migrateStep{
	{args: []string{"--target-version", "3.7"}, version: "3.7.0", lines: []string{upToDate("3.7")}},
	{args: []string{"--target-version", "3.6"}, version: "3.6.0", lines: []string{updated("3.6.0")}},
	{args: []string{"--target-version", "3.5"}, lines: []string{updated("3.5.0")}},
	{args: []string{"--target-version", "3.5"}, lines: []string{upToDate("3.5")}},
	{args: []string{"--target-version", "3.6"}, version: "3.6.0", lines: []string{updated("3.6.0")}},
	{args: []string{"--target-version", "3.7"}, version: "3.7.0", lines: []string{updated("3.7.0")}},
	{args: []string{"--target-version", "3.5"}, lines: []string{updated("3.6.0"), updated("3.5.0")}},
	{args: []string{"--target-version", "3.7"}, version: "3.7.0", lines: []string{updated("3.6.0"), updated("3.7.0")}},
	{args: []string{"--target-version", "3"}, code: 128, version: "3.7.0",
		lines: []string{`Error: wrong target version format, expected "X.Y", got "3"`}},
	{args: []string{"--target-version", "3.6.1"}, code: 128, version: "3.7.0",
		lines: []string{`Error: wrong target version format, expected "X.Y", got "3.6.1"`}},
	{args: []string{"--target-version", "3.4"}, code: 128, version: "3.7.0",
		lines: []string{`Error: target version "3.4" not supported. Minimal "3.5"`}},
	{args: []string{"--target-version", "3.x"}, code: 128, version: "3.7.0",
		lines: []string{`Error: failed to parse target version: strconv.ParseInt: parsing "x": invalid syntax`}},
	{args: []string{"--target-version", "3.8"}, code: 1, version: "3.7.0",
		lines: []string{`Error: cannot create migration plan: version "3.8.0" is not supported`}},
	{args: []string{"--target-version", "4.0"}, code: 1, version: "3.7.0", lines: []string{
		`error Changing major storage version is not supported {"storage-version": "3.7.0", "target-storage-version": "4.0.0"}`,
		`Error: cannot create migration plan: changing major storage version is not supported`}},
	{args: []string{"--target-version", "3.8", "--force"}, version: "3.8.0", lines: []string{
		`info normal migrate failed, trying with force {"error": "cannot create migration plan: version \"3.8.0\" is not supported"}`,
		`warn forcefully set storage version {"storage-version": "3.8"}`}},
	{args: []string{"--target-version", "3.7"}, code: 1, version: "3.8.0",
		lines: []string{`Error: cannot create migration plan: version "3.8.0" is not supported`}},
	{args: []string{"--target-version", "3.7", "--force"}, version: "3.7.0", lines: []string{
		`info normal migrate failed, trying with force {"error": "cannot create migration plan: version \"3.8.0\" is not supported"}`,
		`warn forcefully set storage version {"storage-version": "3.7"}`}},
}

// migrateCase is a migration of a fresh copy of the data dir, changed by
// setup first.
type migrateCase struct {
	name  string
	setup func(t *testing.T, dataDir string)
	step  migrateStep
}

func walNeeds(ver string) func(*testing.T, string) {
	return func(t *testing.T, dataDir string) {
		appendWALRequest(t, dataDir, &pb.InternalRaftRequest{ID: 1, DowngradeVersionTest: &pb.DowngradeVersionTestRequest{Ver: ver}})
	}
}

func deleteMeta(keys ...string) func(*testing.T, string) {
	return func(t *testing.T, dataDir string) {
		updateMeta(t, dataDir, func(b *bolt.Bucket) error {
			for _, k := range keys {
				if err := b.Delete([]byte(k)); err != nil {
					return err
				}
			}
			return nil
		})
	}
}

const walRefusal = "cannot downgrade storage, WAL contains newer entries, as the target version (%s) is lower than the version (%s) detected from WAL logs"

var migrateCases = []migrateCase{
	{name: "WAL needs 3.6, to 3.5", setup: walNeeds("3.6.0"), step: migrateStep{
		args: []string{"--target-version", "3.5"}, code: 1, version: "3.7.0",
		lines: []string{"Error: " + fmt.Sprintf(walRefusal, "3.5.0", "3.6.0")}}},
	{name: "WAL needs 3.6, to 3.6", setup: walNeeds("3.6.0"), step: migrateStep{
		args: []string{"--target-version", "3.6"}, version: "3.6.0", lines: []string{updated("3.6.0")}}},
	{name: "WAL needs 3.6, to 3.5 forced", setup: walNeeds("3.6.0"), step: migrateStep{
		args: []string{"--target-version", "3.5", "--force"}, lines: []string{
			`info normal migrate failed, trying with force {"error": "` + fmt.Sprintf(walRefusal, "3.5.0", "3.6.0") + `"}`,
			`warn forcefully cleared storage version`}}},
	{name: "WAL needs 3.7, to 3.6", setup: walNeeds("3.7.0"), step: migrateStep{
		args: []string{"--target-version", "3.6"}, code: 1, version: "3.7.0",
		lines: []string{"Error: " + fmt.Sprintf(walRefusal, "3.6.0", "3.7.0")}}},
	{name: "WAL needs 3.7, upgrade from 3.5", setup: func(t *testing.T, dataDir string) {
		walNeeds("3.7.0")(t, dataDir)
		deleteMeta("storageVersion")(t, dataDir)
	}, step: migrateStep{
		args: []string{"--target-version", "3.7"}, version: "3.7.0", lines: []string{updated("3.6.0"), updated("3.7.0")}}},
	{name: "no storage version", setup: deleteMeta("storageVersion"), step: migrateStep{
		args: []string{"--target-version", "3.5"}, lines: []string{upToDate("3.5")}}},
	{name: "no storage version, no term", setup: deleteMeta("storageVersion", "term"), step: migrateStep{
		args: []string{"--target-version", "3.6"}, code: 1, lines: []string{
			"error failed to detect storage version. Please make sure you are using data dir from etcd v3.5 and older",
			"Error: missing term information"}}},
	{name: "unparsable storage version", setup: func(t *testing.T, dataDir string) {
		updateMeta(t, dataDir, func(b *bolt.Bucket) error { return b.Put([]byte("storageVersion"), []byte("3.6")) })
	}, step: migrateStep{
		args: []string{"--target-version", "3.6"}, version: "3.6.0", lines: []string{updated("3.6.0")}}},
	{name: "WAL without segments", setup: func(t *testing.T, dataDir string) {
		walDir := filepath.Join(dataDir, "member", "wal")
		if err := os.RemoveAll(walDir); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(walDir, 0o700); err != nil {
			t.Fatal(err)
		}
	}, step: migrateStep{
		args: []string{"--target-version", "3.6"}, code: 1, version: "3.7.0", lines: []string{
			`error Failed to finalize config {"error": "failed to get the lastest snapshot: wal: file not found"}`,
			"Error: failed to get the lastest snapshot: wal: file not found"}}},
	{name: "no database", setup: func(t *testing.T, dataDir string) {
		if err := os.Remove(filepath.Join(dataDir, "member", "snap", "db")); err != nil {
			t.Fatal(err)
		}
	}, step: migrateStep{
		args: []string{"--target-version", "3.6"}, code: 1, version: "-",
		lines: []string{"Error: stat <DATA>/member/snap/db: no such file or directory"}}},
}

// utlTool is an offline tool under test: basaltutl or etcdutl 3.7.3.
type utlTool struct{ name, bin string }

func basaltutlTool() utlTool { return utlTool{"basaltutl", utlPath()} }

// checkMigrations runs migrateChain on a copy of src, and each of
// migrateCases on a fresh copy, with every tool (each on its own copy),
// and checks what each run leaves and logs.
func checkMigrations(t *testing.T, src string, tools []utlTool) {
	t.Helper()
	dirs := make([]string, len(tools))
	for i, tool := range tools {
		dirs[i] = filepath.Join(t.TempDir(), tool.name+".etcd")
		copyDir(t, src, dirs[i])
	}
	for i, s := range migrateChain {
		for j, tool := range tools {
			if diff := s.diff(runMigrate(t, tool.bin, dirs[j], s.args)); diff != "" {
				t.Fatalf("step %d, %s migrate %s: %s", i, tool.name, strings.Join(s.args, " "), diff)
			}
		}
	}
	for _, c := range migrateCases {
		t.Run(c.name, func(t *testing.T) {
			prepared := filepath.Join(t.TempDir(), "prepared.etcd")
			copyDir(t, src, prepared)
			c.setup(t, prepared)
			for _, tool := range tools {
				dataDir := filepath.Join(t.TempDir(), tool.name+".etcd")
				copyDir(t, prepared, dataDir)
				if diff := c.step.diff(runMigrate(t, tool.bin, dataDir, c.step.args)); diff != "" {
					t.Errorf("%s migrate %s: %s", tool.name, strings.Join(c.step.args, " "), diff)
				}
			}
		})
	}
}

// TestMigrate runs basaltutl migrate on a basalt data dir (a member's,
// with raft snapshots in its WAL) and checks what each run leaves and
// logs; a data dir migrated down to 3.5 is raised back to 3.7 by basalt's
// next start, as etcd 3.7 raises it, and is not migrated while it runs.
func TestMigrate(t *testing.T) {
	src, m := basaltMigrateSource(t)
	checkMigrations(t, src, []utlTool{basaltutlTool()})

	t.Run("raised back by basalt", func(t *testing.T) {
		down := migrateStep{args: []string{"--target-version", "3.5"}, lines: []string{updated("3.6.0"), updated("3.5.0")}}
		if diff := down.diff(runMigrate(t, utlPath(), m.DataDir, down.args)); diff != "" {
			t.Fatalf("migrate the member's own data dir to 3.5: %s", diff)
		}
		m.Start(t)
		if _, err := m.Client(t).Put(ctxT(t), "after", "3.5"); err != nil {
			t.Fatal(err)
		}
		// The running member holds the database's lock: --timeout bounds
		// the wait.
		r := run(t, nil, utlPath(), "migrate", "--data-dir", m.DataDir, "--target-version", "3.5", "--timeout", "300ms")
		if want := "Error: open " + filepath.Join(m.DataDir, "member", "snap", "db") + ": timeout\n"; r.code != 1 || r.stderr != want {
			t.Fatalf("migrate of a running member: exit %d, stderr:\n%s\nwant exit 1 and %q", r.code, r.stderr, want)
		}
		m.Stop(t)
		if v, _ := storageVersion(t, m.DataDir); v != "3.7.0" {
			t.Fatalf("storage version %q after basalt ran, want 3.7.0", v)
		}
	})
}

// TestMigrateMatchesEtcdutl37 runs etcdutl 3.7.3's migrate and
// basaltutl's side by side on copies of the same basalt data dirs: the
// same exit status, storage version and key log lines at every step.
func TestMigrateMatchesEtcdutl37(t *testing.T) {
	etcdutl := etcdutl37(t)
	src, _ := basaltMigrateSource(t)
	checkMigrations(t, src, []utlTool{{"etcdutl", etcdutl}, basaltutlTool()})
}

// TestMigrateEtcd37DataDir: the same migrations of a data dir etcd 3.7.3
// wrote, by basaltutl and (if $BASALT_ETCDUTL37 is set) etcdutl 3.7.3.
func TestMigrateEtcd37DataDir(t *testing.T) {
	bin := e2e.Etcd37Binary(t, "basaltutl migrate is run on a data dir of etcd 3.7.3")
	tools := []utlTool{basaltutlTool()}
	if etcdutl := os.Getenv(etcdutl37Env); etcdutl != "" {
		tools = append(tools, utlTool{"etcdutl", etcdutl})
	} else {
		t.Logf("%s is not set: basaltutl alone migrates etcd's data dir", etcdutl37Env)
	}
	checkMigrations(t, etcdMigrateSource(t, bin), tools)
}

// etcdMigrateSource is the data dir of a stopped one-member etcd 3.7.3
// with raft snapshots in its WAL and storage version 3.7.0 (which etcd
// writes once its cluster version is 3.7).
func etcdMigrateSource(t *testing.T, bin string) string {
	t.Helper()
	ports, err := e2e.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	clientURL := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	dataDir := filepath.Join(t.TempDir(), "e37.etcd")
	p, err := e2e.StartProcess(bin, []string{
		"--name", "e37", "--data-dir", dataDir, "--snapshot-count", "10",
		"--listen-client-urls", clientURL, "--advertise-client-urls", clientURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "e37=" + peerURL,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("=== output of etcd 3.7.3 ===\n%s", p.Output())
		}
	})
	if err := p.WaitOutput(e2e.ReadyLine, time.Minute); err != nil {
		t.Fatalf("etcd 3.7.3 not ready: %v", err)
	}
	cli := e2e.NewClient(t, []string{clientURL}, nil)
	for i := range 40 {
		if _, err := cli.Put(ctxT(t), fmt.Sprintf("k%d", i%7), fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	testutil.WaitUntil(t, 30*time.Second, "etcd 3.7.3 to record storage version 3.7.0", func() bool {
		st, err := cli.Status(ctxT(t), clientURL)
		return err == nil && st.StorageVersion == "3.7.0"
	})
	if _, err := p.Stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	checkSnapshotMarkers(t, dataDir)
	return dataDir
}

// basaltMigrateSource is a copy of a stopped one-member basalt cluster's
// data dir, with raft snapshots (--snapshot-count 10) in its WAL, and its
// member.
func basaltMigrateSource(t *testing.T) (string, *e2e.Member) {
	t.Helper()
	c := e2e.NewCluster(t, 1, &e2e.Options{Args: []string{"--snapshot-count", "10"}})
	cli := c.Client(t)
	for i := range 40 {
		if _, err := cli.Put(ctxT(t), fmt.Sprintf("k%d", i%7), fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	c.Stop(t)
	m := c.Members[0]
	checkSnapshotMarkers(t, m.DataDir)
	src := filepath.Join(t.TempDir(), "src.etcd")
	copyDir(t, m.DataDir, src)
	return src, m
}

// checkSnapshotMarkers fails t unless the WAL of dataDir has snapshot
// markers: migrate must read it from the newest.
func checkSnapshotMarkers(t *testing.T, dataDir string) {
	t.Helper()
	markers, err := wal.ValidSnapshotMarkers(vfs.OS, filepath.Join(dataDir, "member", "wal"))
	if err != nil || len(markers) < 2 {
		t.Fatalf("the WAL's snapshot markers: %v, %v; want some beyond the zero one", markers, err)
	}
}

// runMigrate runs bin's migrate on dataDir and returns what it left.
func runMigrate(t *testing.T, bin, dataDir string, args []string) migrateStep {
	t.Helper()
	r := run(t, nil, bin, append([]string{"migrate", "--data-dir", dataDir}, args...)...)
	got := migrateStep{args: args, code: r.code, lines: keyLines(strings.ReplaceAll(r.stderr, dataDir, "<DATA>"))}
	if _, err := os.Stat(filepath.Join(dataDir, "member", "snap", "db")); err != nil {
		got.version = "-"
	} else {
		got.version, _ = storageVersion(t, dataDir)
	}
	return got
}

func (s migrateStep) diff(got migrateStep) string {
	var d []string
	if got.code != s.code {
		d = append(d, fmt.Sprintf("exit %d, want %d", got.code, s.code))
	}
	if got.version != s.version {
		d = append(d, fmt.Sprintf("storage version %q, want %q", got.version, s.version))
	}
	if !slices.Equal(got.lines, s.lines) {
		d = append(d, fmt.Sprintf("log\n\t%s\nwant\n\t%s", strings.Join(got.lines, "\n\t"), strings.Join(s.lines, "\n\t")))
	}
	return strings.Join(d, "; ")
}

var logTime = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d`)

// keyLines are a run's log lines as "level message fields", without
// time and caller, and its "Error:" lines. bbolt's lines (etcdutl's
// backend logs its opening) and zap's stack traces (etcdutl's error
// lines) are left out.
func keyLines(stderr string) []string {
	var lines []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "Error: ") {
			lines = append(lines, l)
			continue
		}
		if !logTime.MatchString(l) {
			continue
		}
		f := strings.Split(l, "\t")
		if len(f) < 4 || f[2] == "bbolt" {
			continue
		}
		lines = append(lines, strings.Join(append([]string{f[1]}, f[3:]...), " "))
	}
	return lines
}

// storageVersion reads the meta bucket's storageVersion.
func storageVersion(t *testing.T, dataDir string) (string, bool) {
	t.Helper()
	var v string
	var ok bool
	// Copied inside the transaction: bbolt's value is in the memory map,
	// unmapped when the file closes.
	viewMeta(t, dataDir, func(b *bolt.Bucket) {
		raw := b.Get([]byte("storageVersion"))
		v, ok = string(raw), raw != nil
	})
	return v, ok
}

func viewMeta(t *testing.T, dataDir string, f func(*bolt.Bucket)) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dataDir, "member", "snap", "db"), 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.View(func(tx *bolt.Tx) error { f(tx.Bucket([]byte("meta"))); return nil }); err != nil {
		t.Fatal(err)
	}
}

func updateMeta(t *testing.T, dataDir string, f func(*bolt.Bucket) error) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dataDir, "member", "snap", "db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error { return f(tx.Bucket([]byte("meta"))) }); err != nil {
		t.Fatal(err)
	}
}

// appendWALRequest appends r to the WAL of dataDir as the next entry of
// the current term, after the newest snapshot.
func appendWALRequest(t *testing.T, dataDir string, r *pb.InternalRaftRequest) {
	t.Helper()
	dir := filepath.Join(dataDir, "member", "wal")
	markers, err := wal.ValidSnapshotMarkers(vfs.OS, dir)
	if err != nil {
		t.Fatal(err)
	}
	newest := markers[len(markers)-1]
	w, err := wal.Open(vfs.OS, dir, newest)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	_, hs, ents, err := w.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	last := newest.Index
	if len(ents) > 0 {
		last = ents[len(ents)-1].Index
	}
	data, err := proto.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Save(hs, []raftpb.Entry{{Type: raftpb.EntryNormal, Term: hs.Term, Index: last + 1, Data: data}}); err != nil {
		t.Fatal(err)
	}
}

// copyDir copies the tree src to dst (which must not exist).
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := os.CopyFS(dst, os.DirFS(src))
	if err != nil {
		t.Fatal(err)
	}
}
