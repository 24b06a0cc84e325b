package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/basaltkv/basalt/pkg/journal"
	"github.com/basaltkv/basalt/pkg/testutil"
	clientv3 "go.etcd.io/etcd/client/v3"
)

const runTimeout = 30 * time.Second

func TestVersion(t *testing.T) {
	code, out, err := RunProcess(Binary(), []string{"--version"}, nil, runTimeout)
	if err != nil || code != 0 {
		t.Fatalf("--version: status %d, %v\n%s", code, err, out)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	want := []string{"etcd Version: 3.7.0", "Git SHA: ", "Go Version: " + runtime.Version(), "Go OS/Arch: " + runtime.GOOS + "/" + runtime.GOARCH, "basalt Version: "}
	if len(lines) != len(want) {
		t.Fatalf("--version printed %d lines, want %d:\n%s", len(lines), len(want), out)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d = %q, want prefix %q", i+1, lines[i], w)
		}
	}
}

func TestHelp(t *testing.T) {
	for _, arg := range []string{"--help", "-h"} {
		code, out, err := RunProcess(Binary(), []string{arg}, nil, runTimeout)
		if err != nil || code != 0 {
			t.Fatalf("%s: status %d, %v", arg, code, err)
		}
		for _, want := range []string{"Usage:", "--name 'default'", "--data-dir '${name}.etcd'", "--listen-client-urls 'http://localhost:2379'",
			"--initial-cluster 'default=http://localhost:2380'", "--initial-cluster-token 'etcd-cluster'", "--snapshot-count '10000'",
			"--max-request-bytes '1572864'", "--grpc-keepalive-interval '2h0m0s'", "--tls-min-version 'TLS1.2'", "--peer-cert-allowed-cn",
			"--cipher-suites", "--self-signed-cert-validity '1'", "--log-outputs 'default'", "--auto-compaction-mode 'periodic'", "--config-file", "--version"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s output lacks %q", arg, want)
			}
		}
	}
}

// TestRefusedAtStart checks that bad settings stop the member before it
// starts, with the message users grep for and etcd's exit status: 2 for
// what the flag parser refuses, 1 for the rest.
func TestRefusedAtStart(t *testing.T) {
	dir := t.TempDir()
	other := filepath.Join(dir, "x.yml")
	if err := os.WriteFile(other, []byte("log-outputs: [systemd/journal]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	data := []string{"--data-dir", filepath.Join(dir, "never-created")}
	tests := []struct {
		name     string
		args     []string
		env      []string
		wantCode int
		wantMsg  string
	}{
		{"unknown flag", []string{"--no-such-flag"}, nil, 2, "flag provided but not defined: -no-such-flag"},
		{"malformed URL flag", []string{"--listen-client-urls", "foo://127.0.0.1:1"}, nil, 2, "URL scheme must be http, https, unix, or unixs: foo://127.0.0.1:1"},
		{"malformed URL env", nil, []string{"ETCD_LISTEN_PEER_URLS=foo://127.0.0.1:1"}, 1, "URL scheme must be http, https, unix, or unixs: foo://127.0.0.1:1"},
		{"URL with path", []string{"--listen-peer-urls", "http://127.0.0.1:1/x"}, nil, 2, "URL must not contain a path: http://127.0.0.1:1/x"},
		{"name missing from initial cluster", []string{"--name", "x", "--initial-cluster", "y=http://127.0.0.1:1"}, nil, 1,
			`couldn't find local name "x" in the initial cluster configuration`},
		{"advertise not in initial cluster", []string{"--name", "a", "--initial-cluster", "a=http://127.0.0.1:1", "--initial-advertise-peer-urls", "http://127.0.0.1:2"}, nil, 1,
			"--initial-cluster has a=http://127.0.0.1:1 but missing from --initial-advertise-peer-urls=http://127.0.0.1:2"},
		{"election timeout too short", []string{"--heartbeat-interval", "100", "--election-timeout", "300"}, nil, 1,
			"--election-timeout[300ms] should be at least as 5 times as --heartbeat-interval[100ms]"},
		{"https without certs", []string{"--listen-client-urls", "https://127.0.0.1:1", "--advertise-client-urls", "https://127.0.0.1:1"}, nil, 1,
			"TLS key/cert (--cert-file, --key-file) must be provided for client url https://127.0.0.1:1 with HTTPS scheme"},
		{"listen without advertise", []string{"--listen-client-urls", "http://127.0.0.1:1"}, nil, 1,
			"--advertise-client-urls is required when --listen-client-urls is set explicitly"},
		{"host name to bind", []string{"--listen-peer-urls", "http://example.com:1"}, nil, 1, "expected IP in URL for binding (http://example.com:1)"},
		{"bad TLS version", []string{"--tls-min-version", "TLS1.1"}, nil, 1, `unexpected TLS version "TLS1.1" (must be one of: TLS1.2, TLS1.3)`},
		{"unknown cipher", []string{"--cipher-suites", "TLS_RSA_NOPE"}, nil, 1, `unexpected TLS cipher suite "TLS_RSA_NOPE"`},
		{"bad log level", []string{"--log-level", "chatty"}, nil, 1, `invalid --log-level "chatty"`},
		{"positional argument", []string{"serve"}, nil, 1, `"serve" is not a valid flag`},
		{"flag and env", []string{"--name", "a"}, []string{"ETCD_NAME=b"}, 1, "conflicting environment variable is shadowed by corresponding command-line flag"},
		{"journal missing", []string{"--config-file", other}, []string{journal.TestSocketEnv + "=" + filepath.Join(dir, "no-journal")}, 1,
			"can't find journal (dial unixgram " + filepath.Join(dir, "no-journal") + ": connect: no such file or directory)"},
		{"journal and another output", []string{"--log-outputs", "systemd/journal,stderr"}, nil, 1,
			`running with systemd/journal but other '--log-outputs' values (["stderr" "systemd/journal"]) are configured with 'default'; override 'default' value with something else`},
		{"tracing sampling rate", []string{"--enable-distributed-tracing", "--distributed-tracing-sampling-rate=-1"}, nil, 1, "tracing sampling rate must be positive"},
		{"JWT without a key", []string{"--auth-token", "jwt,sign-method=RS256"}, nil, 1, "auth: missing key data"},
		{"unknown token type", []string{"--auth-token", "magic"}, nil, 1, "auth: invalid auth options"},
		{"missing config file", []string{"--config-file", filepath.Join(dir, "missing.yml")}, nil, 1, "no such file or directory"},
		{"discovery endpoints without a token", []string{"--discovery-endpoints=http://127.0.0.1:1"}, nil, 1, "both --discovery-token and --discovery-endpoints must be set"},
		{"discovery token without endpoints", []string{"--discovery-token=t"}, nil, 1, "both --discovery-token and --discovery-endpoints must be set"},
		{"DNS discovery and an initial cluster", []string{"--discovery-srv=example.com", "--initial-cluster=default=http://localhost:2380"}, nil, 1,
			`multiple discovery or bootstrap flags are set. Choose one of "initial-cluster", "discovery-endpoints" or "discovery-srv"`},
	}
	// etcd 3.7 removed the experimental flags.
	tests = append(tests, struct {
		name     string
		args     []string
		env      []string
		wantCode int
		wantMsg  string
	}{name: "removed experimental flag", args: []string{"--experimental-initial-corrupt-check=true"}, wantCode: 2,
		wantMsg: "flag provided but not defined: -experimental-initial-corrupt-check"})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, err := RunProcess(Binary(), append(append([]string{}, data...), tt.args...), tt.env, runTimeout)
			if err != nil {
				t.Fatal(err)
			}
			if code != tt.wantCode {
				t.Errorf("exit status %d, want %d", code, tt.wantCode)
			}
			if !LogContains(out, tt.wantMsg) {
				t.Errorf("output lacks %q:\n%s", tt.wantMsg, out)
			}
			if _, err := os.Stat(data[1]); err == nil {
				t.Errorf("data dir created by a refused start")
			}
		})
	}
}

// TestDataDirOfAnotherCluster restarts a member's data dir under flags that
// describe another cluster: refused at start, naming both identities; the
// right flags still start it.
func TestDataDirOfAnotherCluster(t *testing.T) {
	m := stoppedWithKey(t, "k", "v")
	for _, tt := range []struct{ flag, value string }{
		{"--initial-cluster-token", "another-token"},
		{"--initial-cluster", m.Name + "=" + m.PeerURL() + ",other=http://127.0.0.1:1"},
	} {
		t.Run(tt.flag, func(t *testing.T) {
			args := append(append([]string{}, m.args...), tt.flag, tt.value)
			code, out, err := RunProcess(Binary(), args, nil, runTimeout)
			if err != nil {
				t.Fatal(err)
			}
			if code != 1 {
				t.Errorf("exit status %d, want 1", code)
			}
			if want := "data dir " + m.DataDir + " holds member"; !LogContains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		})
	}
	m.Start(t)
	mustGet(t, m.Client(t), "k", "v")
}

// TestEveryAlphaGate starts a cluster with every alpha feature gate on
// (SetMemberLocalAddr, InitialCorruptCheck, CompactHashCheck, ...), as
// etcd takes it: it serves, and SetMemberLocalAddr says why it keeps the
// system's source address (every advertised peer URL is on loopback).
func TestEveryAlphaGate(t *testing.T) {
	c := NewCluster(t, 3, &Options{Args: []string{"--feature-gates=AllAlpha=true"}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Client(t).Put(ctx, "k", "v"); err != nil {
		t.Fatalf("put: %v", err)
	}
	for _, m := range c.Members {
		if !LogContains(m.Logs(), "unable to set a member local address due to lack of suitable local addresses") {
			t.Errorf("%s: no word on the member local address:\n%s", m.Name, m.Logs())
		}
	}
}

// TestWarningApplyDurationAndRaftTimeouts starts members with etcd's
// --warning-apply-duration, --raft-read-timeout, --raft-write-timeout,
// --downgrade-check-time and --backend-bbolt-freelist-type at other values
// than the defaults: applies and
// reads slower than the (tiny) limit are logged and counted as etcd does,
// and the cluster runs.
func TestWarningApplyDurationAndRaftTimeouts(t *testing.T) {
	c := NewCluster(t, 3, &Options{Metrics: true, Args: []string{"--warning-apply-duration=1ns",
		"--raft-read-timeout=3s", "--raft-write-timeout=4s", "--downgrade-check-time=1m", "--backend-bbolt-freelist-type=array"}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cli := NewClient(t, []string{c.Members[0].ClientURL()}, nil)
	if _, err := cli.Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Get(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	m := c.Members[0]
	// The member logs before it answers, but its output reaches the test
	// through a pipe: wait for each line.
	for _, want := range []string{`"msg":"apply request took too long"`, `"prefix":"read-only range "`, `"request":"put:<key:\"k\" value_size:1 lease:0>"`} {
		if err := m.Process().WaitOutput(want, 10*time.Second); err != nil {
			t.Errorf("logs lack %s: %v", want, err)
		}
	}
	code, body := httpGet(t, m.MetricsURL()+"/metrics", nil)
	if code != 200 || !strings.Contains(body, "etcd_server_slow_apply_total ") || strings.Contains(body, "etcd_server_slow_apply_total 0\n") {
		t.Errorf("slow applies not counted: %d", code)
	}
}

// TestUnsafeNoFsync: with --unsafe-no-fsync writes are served without a
// single WAL fsync, and the member says so at start.
func TestUnsafeNoFsync(t *testing.T) {
	c := NewCluster(t, 1, &Options{Metrics: true, Args: []string{"--unsafe-no-fsync"}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cli := c.Client(t)
	for i := range 20 {
		if _, err := cli.Put(ctx, fmt.Sprintf("k%d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	m := c.Members[0]
	if !LogContains(m.Logs(), "--unsafe-no-fsync is set") {
		t.Errorf("no warning about --unsafe-no-fsync:\n%s", m.Logs())
	}
	code, body := httpGet(t, m.MetricsURL()+"/metrics", nil)
	if code != 200 || !strings.Contains(body, "etcd_disk_wal_fsync_duration_seconds_count 0\n") {
		t.Errorf("the WAL was fsynced with --unsafe-no-fsync (metrics status %d)", code)
	}
}

// TestBootstrapDefrag restarts a member whose database has megabytes free
// with --bootstrap-defrag-threshold-megabytes: above the free space it
// skips the defragmentation, at or below it defragments before serving.
func TestBootstrapDefrag(t *testing.T) {
	// The compaction that frees the space runs in batches of ten
	// revisions (--compaction-batch-limit, --compaction-sleep-interval).
	c := NewCluster(t, 1, &Options{Args: []string{"--compaction-batch-limit=10", "--compaction-sleep-interval=1ms"}})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cli := c.Client(t)
	big := strings.Repeat("x", 64<<10)
	for i := range 64 { // 4 MiB
		if _, err := cli.Put(ctx, fmt.Sprintf("big/%02d", i), big); err != nil {
			t.Fatal(err)
		}
	}
	del, err := cli.Delete(ctx, "big/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(ctx, del.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	m := c.Members[0]
	// The freed pages count once the backend commits the compaction.
	var before *clientv3.StatusResponse
	testutil.WaitUntil(t, 30*time.Second, "2 MiB free after deleting 4 MiB", func() bool {
		before, err = cli.Status(ctx, m.ClientURL())
		return err == nil && before.DbSize-before.DbSizeInUse >= 2<<20
	})
	restartWith := func(extra ...string) *clientv3.Client {
		t.Helper()
		m.Stop(t)
		m.args = append(slices.Clone(m.args), extra...)
		m.Start(t)
		return NewClient(t, []string{m.ClientURL()}, nil)
	}
	restartWith("--bootstrap-defrag-threshold-megabytes=1000")
	if !LogContains(m.Logs(), "Skipping defragmentation") {
		t.Error("no 'Skipping defragmentation' with a threshold above the free space")
	}
	after := restartWith("--bootstrap-defrag-threshold-megabytes=1")
	if !LogContains(m.Logs(), "finished defragmenting directory") {
		t.Error("no defragmentation at start with a threshold below the free space")
	}
	// etcd's fields, which dashboards and log searches use.
	for _, field := range []string{`"current-db-size-in-use-bytes-diff":`, `"current-db-size-in-use":"`, `"took":"`} {
		if !strings.Contains(m.Logs(), field) {
			t.Errorf("the defragmentation's log lines lack etcd's %s", field)
		}
	}
	st, err := after.Status(ctx, m.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	if st.DbSize >= before.DbSize {
		t.Errorf("database %d bytes after the defragmentation at start, %d before", st.DbSize, before.DbSize)
	}
}

// TestMemoryMlock: with --memory-mlock the backend's pages are locked in
// memory (the process's VmLck), as etcd locks bbolt's.
func TestMemoryMlock(t *testing.T) {
	p, _ := StartLoneMember(t, t.TempDir(), "--memory-mlock")
	if err := p.WaitOutput(ReadyLine, time.Minute); err != nil {
		if strings.Contains(p.Output(), "cannot allocate memory") || strings.Contains(p.Output(), "operation not permitted") {
			t.Skipf("this machine does not let a process lock memory (RLIMIT_MEMLOCK, CAP_IPC_LOCK):\n%s", p.Output())
		}
		t.Fatalf("not ready: %v\n%s", err, p.Output())
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.PID()))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmLck:" {
			if f[1] == "0" {
				t.Fatalf("nothing locked with --memory-mlock: %s", line)
			}
			return
		}
	}
	t.Fatalf("no VmLck in /proc/%d/status", p.PID())
}

// TestLogRotation logs to a file with --enable-log-rotation and a 1 MB
// limit: once the member has logged more than that, the file has been
// rotated (a timestamped backup beside it) and logging goes on.
func TestLogRotation(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "basalt.log")
	p, client := StartLoneMember(t, dir, "--log-outputs", logFile, "--log-level", "debug", "--enable-log-rotation",
		"--log-rotation-config-json", `{"maxsize": 1, "maxbackups": 3}`)
	cli := NewClient(t, []string{client}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Every request logs a debug line; a megabyte of them rotates the file.
	value := strings.Repeat("v", 100)
	backups := func() []string {
		m, _ := filepath.Glob(filepath.Join(dir, "basalt-*.log"))
		return m
	}
	testutil.WaitUntil(t, 2*time.Minute, "the log file to be rotated", func() bool {
		for i := range 200 {
			if _, err := cli.Put(ctx, fmt.Sprintf("k%d", i), value); err != nil {
				return false
			}
		}
		return len(backups()) > 0
	})
	st, err := os.Stat(logFile)
	if err != nil {
		t.Fatalf("the log file after rotation: %v", err)
	}
	if st.Size() > 1<<20 {
		t.Errorf("the log file is %d bytes, over the 1 MB limit", st.Size())
	}
	if p.Exited() {
		t.Fatalf("the member stopped:\n%s", p.Output())
	}
}

// TestJournalOutput: with --log-outputs=systemd/journal every log entry
// goes to the journal's socket (a stand-in here) over journald's native
// protocol, with etcd's fields and priorities, and nothing to stderr.
func TestJournalOutput(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "journal.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ports, err := FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	client, peer := fmt.Sprintf("http://127.0.0.1:%d", ports[0]), fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	// The default name draws a warning at start.
	p, err := StartProcess(Binary(), []string{"--name", "default", "--data-dir", filepath.Join(dir, "m.etcd"),
		"--listen-client-urls", client, "--advertise-client-urls", client, "--listen-peer-urls", peer,
		"--initial-advertise-peer-urls", peer, "--initial-cluster", "default=" + peer, "--log-outputs", "systemd/journal"},
		[]string{journal.TestSocketEnv + "=" + sock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	buf := make([]byte, 1<<20)
	var ready map[string]string
	priorities := map[string]bool{}
	testutil.WaitUntil(t, 60*time.Second, "the ready line and a warning in the journal", func() bool {
		_ = conn.SetReadDeadline(time.Now().Add(time.Second))
		n, err := conn.Read(buf)
		if err != nil {
			return false
		}
		entry, err := journal.Decode(buf[:n])
		if err != nil {
			t.Fatalf("a malformed journal entry: %v", err)
		}
		priorities[entry["PRIORITY"]] = true
		if strings.Contains(entry["MESSAGE"], `"msg":"`+ReadyLine+`"`) {
			ready = entry
		}
		return ready != nil && priorities["4"]
	})
	if ready["PRIORITY"] != "6" || ready["SYSLOG_IDENTIFIER"] != "basalt" || ready["PACKAGE"] == "" {
		t.Errorf("the ready line's entry: %q", ready)
	}
	if out := p.Output(); strings.Contains(out, ReadyLine) {
		t.Errorf("the log also went to stderr:\n%s", out)
	}
}

// TestListenClientHTTPURLs: with --listen-client-http-urls the client
// URLs serve gRPC alone and the HTTP URLs the HTTP endpoints alone
// (health, the JSON gateway), as etcd does.
func TestListenClientHTTPURLs(t *testing.T) {
	ports, err := FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	httpURL := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	p, client := StartLoneMember(t, t.TempDir(), "--listen-client-http-urls", httpURL)
	if err := p.WaitOutput(ReadyLine, time.Minute); err != nil {
		t.Fatalf("not ready: %v\n%s", err, p.Output())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := NewClient(t, []string{client}, nil).Put(ctx, "k", "v"); err != nil {
		t.Fatalf("gRPC on the client URL: %v", err)
	}
	if code, body := httpGet(t, httpURL+"/health", nil); code != 200 || !strings.Contains(body, `"health":"true"`) {
		t.Errorf("/health on the HTTP URL: %d %s", code, body)
	}
	if code, body := gatewayStatus(t, httpURL+"/v3/kv/range", "", `{"key":"aw=="}`); code != 200 || !strings.Contains(body, `"count":"1"`) {
		t.Errorf("gateway range on the HTTP URL: %d %s", code, body)
	}
	if resp, err := http.Get(client + "/health"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Errorf("/health answered on the gRPC-only client URL")
		}
	}
	gctx, gcancel := context.WithTimeout(ctx, 3*time.Second)
	defer gcancel()
	if _, err := NewClient(t, []string{httpURL}, nil).Get(gctx, "k"); err == nil {
		t.Error("gRPC answered on the HTTP-only URL")
	}
}

// TestEtcdVerify: with ETCD_VERIFY=all a member checks its persisted state
// when it stops, with etcd's log lines, and the variable is understood,
// not warned about.
func TestEtcdVerify(t *testing.T) {
	c := NewCluster(t, 1, &Options{Env: []string{"ETCD_VERIFY=all"}})
	putGet(t, c.Client(t), "k", "v")
	m := c.Members[0]
	if code := m.Stop(t); code != 0 {
		t.Fatalf("exit status %d", code)
	}
	out := m.Logs()
	for _, want := range []string{"verification of persisted state", "verification: consistentIndex OK", "verification of persisted state successful"} {
		if !LogContains(out, want) {
			t.Errorf("log lacks %q", want)
		}
	}
	if LogContains(out, "unrecognized environment variable") {
		t.Errorf("ETCD_VERIFY is warned about:\n%s", out)
	}
}
