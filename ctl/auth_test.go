package ctl_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/basaltkv/basalt/pkg/testutil"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"golang.org/x/sys/unix"
)

// basalt does not implement authentication yet, so the user, role and auth
// commands are tested against Debian's etcd 3.4: a golden transcript of
// basaltctl, and a cross-check with Debian's etcdctl 3.4 on the commands
// whose output 3.4 and 3.7 share.

// root runs args as the root user.
func root(args ...string) []string { return append([]string{"--user=root:rootpw"}, args...) }

// authStep is a step of the auth scenario; since34 says why etcdctl 3.4
// prints something else, for the steps the cross-check leaves out.
type authStep struct {
	step
	since34 string
	// server34 says why etcd 3.4's answer differs from etcd 3.7's (and
	// basalt's): TestAuthAgainstBasalt leaves the step out of its
	// comparison with the transcript recorded against 3.4.
	server34 string
}

func plain(steps ...step) []authStep {
	out := make([]authStep, len(steps))
	for i, s := range steps {
		out[i] = authStep{step: s}
	}
	return out
}

// differs34 marks steps whose output changed after etcdctl 3.4.
func differs34(why string, steps ...step) []authStep {
	out := plain(steps...)
	for i := range out {
		out[i].since34 = why
	}
	return out
}

// serverDiffers34 marks steps etcd 3.4 answers otherwise than 3.7.
func serverDiffers34(why string, steps ...step) []authStep {
	out := plain(steps...)
	for i := range out {
		out[i].server34 = why
	}
	return out
}

// serverToo marks steps whose difference is also etcd 3.4's server's.
func serverToo(steps []authStep) []authStep {
	for i := range steps {
		steps[i].server34 = steps[i].since34
	}
	return steps
}

// perFormat is one step per output format, args made by argsFor; protobuf
// output is decoded with decode.
func perFormat(decode func([]byte) (any, error), argsFor func(format string) []string) []authStep {
	var steps []authStep
	for _, f := range formats {
		s := step{args: append(argsFor(f), "-w", f)}
		if f == "protobuf" {
			s.decode = decode
		}
		steps = append(steps, authStep{step: s})
	}
	return steps
}

func authConcat(parts ...[]authStep) []authStep {
	var out []authStep
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

const why34RootRole = "3.4 lists no keys for the root role"

// authScenario creates users and roles, turns auth on, grants and revokes
// permissions and roles, checks what users may do, changes passwords, and
// turns auth off again; with every output format and etcdctl's errors.
var authScenario = authConcat(
	plain(
		step{args: a("auth", "enable")},
		step{args: a("user", "add", "root", "--new-user-password=rootpw")},
		step{args: a("user", "get", "root")},
		// root has no root role: auth enable creates and grants it.
		step{args: a("auth", "enable")},
		step{args: a("user", "get", "root")},
		step{args: root("user", "get", "root")},
		step{args: root("auth", "enable")},
	),
	differs34(why34RootRole,
		step{args: root("role", "get", "root")},
		step{args: root("user", "get", "root", "--detail")},
	),
	serverDiffers34("etcd 3.7 answers a RoleGet of root with its permission on every key, 3.4 with none",
		step{args: root("role", "get", "root", "-w", "fields")},
		step{args: root("role", "get", "root", "-w", "json")},
	),

	// Users: every form of giving (or not) a password.
	perFormat(decodeAs[pb.AuthUserAddResponse](), func(f string) []string { return root("user", "add", "u-"+f+":pw") }),
	plain(
		step{args: root("user", "add", "u1"), stdin: "pw1\npw1\n"},
		step{args: root("user", "add", "u2", "--interactive=false"), stdin: "pw2 not-this\n"},
		step{args: root("user", "add", "u3", "--no-password")},
		step{args: root("user", "add", "u4:a:b")},
		step{args: root("user", "add", "u5:ignored", "--new-user-password=p5")},
		step{args: root("user", "add", "u6", "--interactive=true"), stdin: "  spaced  \nspaced\n"},
		step{args: root("user", "add", "u7"), stdin: "one\ntwo\n"},
		step{args: root("user", "add", "u7"), stdin: "\n"},
		step{args: root("user", "add", "u7")},
		step{args: root("user", "add", ":pw")},
		step{args: root("user", "add", "u1:again")},
		step{args: root("user", "add")},
		step{args: root("user", "add", "a", "b")},
	),
	differs34("3.4's cobra prints the usage on stdout",
		step{args: root("user", "add", "u8", "--no-such-flag")},
	),
	perFormat(decodeAs[pb.AuthUserListResponse](), func(string) []string { return root("user", "list") }),
	plain(
		step{args: root("user", "list", "extra")},
	),

	// Roles and their permissions.
	perFormat(decodeAs[pb.AuthRoleAddResponse](), func(f string) []string { return root("role", "add", "r-"+f) }),
	plain(
		step{args: root("role", "add", "r1")},
		step{args: root("role", "add", "r2")},
		step{args: root("role", "add", "r1")},
		step{args: root("role", "add")},
		step{args: root("role", "grant-permission", "r1", "readwrite", "foo", "--prefix")},
		step{args: root("role", "grant-permission", "r1", "read", "a", "c")},
		step{args: root("role", "grant-permission", "r1", "READ", "m", "--from-key")},
		step{args: root("role", "grant-permission", "r1", "Write", "k")},
		step{args: root("role", "grant-permission", "r1", "write", "\xff", "--prefix")},
		step{args: root("role", "grant-permission", "r2", "read", "", "--prefix")},
		step{args: root("role", "grant-permission", "r2", "write", "", "--from-key")},
		step{args: root("role", "grant-permission", "r2", "readwrite", "")},
		// An end key after an empty key is ignored, as in etcdctl.
		step{args: root("role", "grant-permission", "r2", "read", "", "zzz")},
	),
	perFormat(decodeAs[pb.AuthRoleGrantPermissionResponse](), func(f string) []string {
		return root("role", "grant-permission", "r2", "read", "g-"+f)
	}),
	plain(
		step{args: root("role", "grant-permission", "r1", "read")},
		step{args: root("role", "grant-permission", "r1", "readx", "k")},
		step{args: root("role", "grant-permission", "r1", "read", "k", "--prefix", "--from-key")},
		step{args: root("role", "grant-permission", "r1", "read", "", "--prefix", "--from-key")},
		step{args: root("role", "grant-permission", "r1", "read", "k", "z", "--prefix")},
		step{args: root("role", "grant-permission", "r1", "read", "k", "z", "--from-key")},
		step{args: root("role", "grant-permission", "r1", "read", "k", "z", "--prefix", "--from-key")},
		step{args: root("role", "grant-permission", "nope", "read", "k")},
	),
	perFormat(decodeAs[pb.AuthRoleGetResponse](), func(string) []string { return root("role", "get", "r1") }),
	plain(
		step{args: root("role", "get", "r2")},
		step{args: root("role", "get", "nope")},
		step{args: root("role", "get")},
	),
	perFormat(decodeAs[pb.AuthRoleListResponse](), func(string) []string { return root("role", "list") }),
	plain(
		step{args: root("role", "list", "extra")},
	),

	// Granting roles to users.
	perFormat(decodeAs[pb.AuthUserGrantRoleResponse](), func(f string) []string {
		return root("user", "grant-role", "u-"+f, "r1")
	}),
	plain(
		step{args: root("user", "grant-role", "u1", "r1")},
		step{args: root("user", "grant-role", "u1", "r2")},
		step{args: root("user", "grant-role", "u1", "nope")},
		step{args: root("user", "grant-role", "nope", "r1")},
		step{args: root("user", "grant-role", "u1")},
	),
	perFormat(decodeAs[pb.AuthUserGetResponse](), func(string) []string { return root("user", "get", "u1") }),
	plain(
		step{args: root("user", "get", "u1", "--detail")},
		step{args: root("user", "get", "u1", "--detail", "-w", "json")},
		step{args: root("user", "get", "u1", "--detail", "-w", "fields")},
		step{args: root("user", "get", "u1", "--detail", "-w", "table")},
		step{args: root("user", "get", "u3", "--detail")},
		step{args: root("user", "get", "nope")},
		step{args: root("user", "get")},
	),

	// What users may do: u1 has r1 (foo*, [a, c), m.., k, 0xff*) and r2.
	plain(
		step{args: a("--user=u1:pw1", "put", "foo1", "v")},
		step{args: a("--user=u1:pw1", "get", "foo1")},
		step{args: a("--user=u1:pw1", "put", "b", "v")},
		step{args: a("--user=u1:pw1", "user", "list")},
		step{args: a("--user=u1:wrong", "get", "foo1")},
		step{args: a("--user=nobody:x", "get", "foo1")},
		step{args: a("--user=u1", "get", "foo1"), stdin: "pw1\n"},
		step{args: a("--user=u1", "--password=pw1", "get", "foo1")},
		step{args: a("--user=u2:pw2", "get", "foo1")},
		step{args: a("--user=u2:pw2", "put", "foo1", "v2")},
		step{args: a("--user=u4:a:b", "get", "foo1")},
		step{args: a("--user=u5:p5", "get", "foo1")},
		step{args: a("--user=u6:spaced", "get", "foo1")},
		step{args: a("get", "foo1")},
	),
	// A user whose one role is restricted to a prefix.
	plain(
		step{args: root("role", "add", "app")},
		step{args: root("role", "grant-permission", "app", "readwrite", "app/", "--prefix")},
		step{args: root("user", "add", "appuser:apppw")},
		step{args: root("user", "grant-role", "appuser", "app")},
		step{args: a("--user=appuser:apppw", "put", "app/x", "1")},
		step{args: a("--user=appuser:apppw", "get", "app/", "--prefix")},
		step{args: a("--user=appuser:apppw", "del", "app/x")},
		step{args: a("--user=appuser:apppw", "put", "other", "1")},
		step{args: a("--user=appuser:apppw", "get", "other")},
		step{args: a("--user=appuser:apppw", "get", "app", "--prefix")},
		step{args: a("--user=appuser:apppw", "get", "", "--from-key")},
		step{args: a("--user=appuser:apppw", "txn"), stdin: "\nput app/y 2\n\nput other 2\n\n"},
		step{args: a("--user=appuser:apppw", "role", "get", "app")},
		step{args: root("get", "", "--prefix")},
	),

	// Passwords.
	plain(
		step{args: root("user", "passwd", "u1"), stdin: "new1\nnew1\n"},
		step{args: a("--user=u1:pw1", "get", "foo1")},
		step{args: a("--user=u1:new1", "get", "foo1")},
		step{args: root("user", "passwd", "u1", "--interactive=false"), stdin: "new2\n"},
		step{args: a("--user=u1:new2", "get", "foo1")},
		step{args: root("user", "passwd", "u1"), stdin: "x\ny\n"},
		step{args: root("user", "passwd", "u1"), stdin: ""},
		step{args: root("user", "passwd", "nope", "--interactive=false"), stdin: "x\n"},
		step{args: root("user", "passwd")},
	),
	perFormat(decodeAs[pb.AuthUserChangePasswordResponse](), func(string) []string {
		return root("user", "passwd", "u2", "--interactive=false")
	}),

	// Revoking permissions.
	plain(
		step{args: root("role", "revoke-permission", "r1", "k")},
		step{args: root("role", "revoke-permission", "r1", "a", "c")},
		step{args: root("role", "revoke-permission", "r1", "foo", "--prefix")},
		step{args: root("role", "revoke-permission", "r1", "m", "--from-key")},
		step{args: root("role", "revoke-permission", "r1", "\xff", "--prefix")},
		step{args: root("role", "revoke-permission", "r2", "", "--prefix")},
		step{args: root("role", "revoke-permission", "r2", "", "--from-key")},
		step{args: root("role", "revoke-permission", "r2", "")},
		step{args: root("role", "revoke-permission", "r1", "nokey")},
		step{args: root("role", "revoke-permission", "nope", "k")},
		step{args: root("role", "revoke-permission", "r1")},
		step{args: root("role", "revoke-permission", "r1", "k", "--prefix", "--from-key")},
		step{args: root("role", "revoke-permission", "r1", "k", "z", "--prefix")},
		step{args: root("role", "revoke-permission", "r1", "k", "z", "--from-key")},
	),
	perFormat(decodeAs[pb.AuthRoleRevokePermissionResponse](), func(f string) []string {
		return root("role", "revoke-permission", "r2", "g-"+f)
	}),
	plain(
		step{args: root("role", "get", "r1")},
		step{args: root("role", "get", "r2")},
		step{args: a("--user=u1:new2", "get", "foo1")},
	),

	// Revoking roles, deleting users and roles.
	perFormat(decodeAs[pb.AuthUserRevokeRoleResponse](), func(f string) []string {
		return root("user", "revoke-role", "u-"+f, "r1")
	}),
	plain(
		step{args: root("user", "revoke-role", "u1", "r1")},
		step{args: root("user", "revoke-role", "u1", "r1")},
		step{args: root("user", "revoke-role", "u1")},
		step{args: root("user", "get", "u1")},
	),
	perFormat(decodeAs[pb.AuthUserDeleteResponse](), func(f string) []string { return root("user", "delete", "u-"+f) }),
	plain(
		step{args: root("user", "delete", "nope")},
		step{args: root("user", "delete")},
		step{args: a("--user=u1:new2", "user", "delete", "u2")},
	),
	perFormat(decodeAs[pb.AuthRoleDeleteResponse](), func(f string) []string { return root("role", "delete", "r-"+f) }),
	plain(
		step{args: root("role", "delete", "nope")},
		step{args: root("role", "delete")},
		step{args: root("user", "list")},
		step{args: root("role", "list")},
	),

	// Turning auth off.
	plain(
		step{args: a("--user=u1:new2", "auth", "disable")},
		step{args: root("auth", "disable", "extra")},
		step{args: root("auth", "enable", "extra")},
		step{args: root("auth", "disable", "-w", "json")},
		step{args: a("auth", "disable", "-w", "table")},
		step{args: a("user", "get", "u1")},
		step{args: a("put", "k", "v")},
	),
	// etcd 3.4 has no AuthStatus RPC; etcdctl 3.4 no auth status command.
	serverToo(differs34("3.4 has no auth status command",
		step{args: a("auth", "status")},
		step{args: a("auth", "status", "extra")},
	)),
)

func authSteps() []step {
	steps := make([]step, len(authScenario))
	for i, s := range authScenario {
		steps[i] = s.step
	}
	return steps
}

// TestAuthAgainstEtcd runs the auth scenario with basaltctl against etcd
// 3.4 and compares it with testdata/auth.golden.
func TestAuthAgainstEtcd(t *testing.T) {
	ep, _, cli := startEtcd(t)
	n := clientNormalizer(t, cli)
	checkGolden(t, "auth", transcript(t, ep, n, authSteps()))
}

// TestAuthCrossCheckEtcdctl runs the auth scenario with Debian's etcdctl
// and with basaltctl, each against its own etcd 3.4, and compares stdout,
// the "Error:" line and the exit status of the steps whose output etcdctl
// did not change since 3.4.
func TestAuthCrossCheckEtcdctl(t *testing.T) {
	etcdctl, err := exec.LookPath("etcdctl")
	if err != nil {
		t.Skip("etcdctl is not on PATH: install Debian's etcd-client to cross-check basaltctl against it")
	}
	etcdctlEp, _, etcdctlCli := startEtcd(t)
	basaltctlEp, _, basaltctlCli := startEtcd(t)
	etcdctlNorm, basaltctlNorm := clientNormalizer(t, etcdctlCli), clientNormalizer(t, basaltctlCli)
	for _, s := range authScenario {
		want := runCtl(t, etcdctl, append([]string{"--endpoints=" + etcdctlEp}, s.args...), s.stdin, []string{"ETCDCTL_API=3"}, 60*time.Second)
		got := runCtl(t, ctlPath(), append([]string{"--endpoints=" + basaltctlEp}, s.args...), s.stdin, nil, 60*time.Second)
		if s.since34 != "" {
			continue
		}
		if s.decode != nil {
			// protobuf output carries the IDs in binary: compare it decoded.
			want.stdout, got.stdout = decodedJSON(t, s.step, want), decodedJSON(t, s.step, got)
		}
		want.stdout, want.stderr = etcdctlNorm.apply(want.stdout), etcdctlNorm.apply(want.stderr)
		got.stdout, got.stderr = basaltctlNorm.apply(got.stdout), basaltctlNorm.apply(got.stderr)
		if got.stdout != want.stdout || got.code != want.code || errorLine(got.stderr) != errorLine(want.stderr) {
			t.Errorf("%q:\netcdctl:   exit %d, stdout %q, error %q\nbasaltctl: exit %d, stdout %q, error %q",
				s.args, want.code, want.stdout, errorLine(want.stderr), got.code, got.stdout, errorLine(got.stderr))
		}
	}
}

// decodedJSON is r's protobuf output decoded as s says, as JSON.
func decodedJSON(t *testing.T, s step, r result) string {
	t.Helper()
	if r.code != 0 {
		return r.stdout
	}
	v, err := s.decode([]byte(r.stdout))
	if err != nil {
		t.Fatalf("%q: decode protobuf output: %v", s.args, err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestAuthAgainstBasalt runs the auth scenario with basaltctl against
// basalt: each step etcd 3.4 answers as etcd 3.7 does (all but those
// marked server34) prints exactly what it printed against etcd
// (testdata/auth.golden); the whole transcript, with the 3.7 answers of
// the others, is testdata/auth_basalt.golden.
func TestAuthAgainstBasalt(t *testing.T) {
	_, ep, n := newCluster(t, 1, nil)
	got := transcript(t, ep, n, authSteps())
	checkGolden(t, "auth_basalt", got)
	want, err := os.ReadFile(filepath.Join("testdata", "auth.golden"))
	if err != nil {
		t.Fatal(err)
	}
	gotSteps, wantSteps := transcriptSteps(got), transcriptSteps(string(want))
	if len(gotSteps) != len(authScenario) || len(wantSteps) != len(authScenario) {
		t.Fatalf("%d and %d steps in the transcripts, %d in the scenario", len(gotSteps), len(wantSteps), len(authScenario))
	}
	for i, s := range authScenario {
		if s.server34 == "" && gotSteps[i] != wantSteps[i] {
			t.Errorf("step %d against basalt:\n%s\nagainst etcd:\n%s", i, gotSteps[i], wantSteps[i])
		}
	}
}

// transcriptSteps splits a transcript into its steps, each from its "$ "
// line to its exit status.
func transcriptSteps(tr string) []string {
	var out []string
	for _, block := range strings.Split(tr, "\n$ ") {
		if block = strings.TrimSpace(block); block != "" {
			out = append(out, strings.TrimPrefix(block, "$ "))
		}
	}
	return out
}

// openPTY opens a pseudo-terminal pair: the master the test types on, and
// the slave basaltctl reads as its stdin.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	var n int
	if err := control(master, func(fd int) error {
		if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
			return err
		}
		var err error
		n, err = unix.IoctlGetInt(fd, unix.TIOCGPTN)
		return err
	}); err != nil {
		t.Fatalf("unlock pty: %v", err)
	}
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { slave.Close() })
	return master, slave
}

// control runs f on f's descriptor without switching it to blocking mode.
func control(f *os.File, op func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var opErr error
	if err := rc.Control(func(fd uintptr) { opErr = op(int(fd)) }); err != nil {
		return err
	}
	return opErr
}

// echoing reports whether the terminal echoes what is typed.
func echoing(t *testing.T, tty *os.File) bool {
	t.Helper()
	var lflag uint32
	if err := control(tty, func(fd int) error {
		tio, err := unix.IoctlGetTermios(fd, unix.TCGETS)
		if err == nil {
			lflag = tio.Lflag
		}
		return err
	}); err != nil {
		t.Fatalf("termios: %v", err)
	}
	return lflag&unix.ECHO != 0
}

// syncBuffer is a bytes.Buffer that a reader goroutine fills while the
// test polls it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestUserAddPromptsOnTerminal types a new user's password twice on a
// terminal: basaltctl prompts for each on stdout, turns echo off while
// reading and on again after, as etcdctl does.
func TestUserAddPromptsOnTerminal(t *testing.T) {
	ep, _, cli := startEtcd(t)
	master, slave := openPTY(t)
	if !echoing(t, slave) {
		t.Fatal("a new terminal does not echo")
	}
	var stdout, stderr syncBuffer
	cmd := exec.Command(ctlPath(), "--endpoints="+ep, "user", "add", "u1")
	cmd.Env = cleanEnv(nil)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	for _, prompt := range []string{"Password of u1: ", "Password of u1: \nType password of u1 again for confirmation: "} {
		testutil.WaitUntil(t, 30*time.Second, fmt.Sprintf("prompt %q", prompt), func() bool { return stdout.String() == prompt })
		testutil.WaitUntil(t, 30*time.Second, "echo off", func() bool { return !echoing(t, slave) })
		if _, err := master.WriteString("s3cret\n"); err != nil {
			t.Fatal(err)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("user add: %v, stderr %q", err, stderr.String())
	}
	const want = "Password of u1: \nType password of u1 again for confirmation: \nUser u1 created\n"
	if stdout.String() != want {
		t.Errorf("stdout %q, want %q", stdout.String(), want)
	}
	if !echoing(t, slave) {
		t.Error("echo is still off after user add")
	}
	// With echo back on, a marker typed now comes back: nothing before it
	// may be the password.
	if _, err := master.WriteString("marker\n"); err != nil {
		t.Fatal(err)
	}
	var echoed []byte
	buf := make([]byte, 256)
	master.SetReadDeadline(time.Now().Add(30 * time.Second))
	for !bytes.Contains(echoed, []byte("marker")) {
		n, err := master.Read(buf)
		if err != nil {
			t.Fatalf("read the terminal: %v (got %q)", err, echoed)
		}
		echoed = append(echoed, buf[:n]...)
	}
	if bytes.Contains(echoed, []byte("s3cret")) {
		t.Errorf("the password was echoed: %q", echoed)
	}
	// The password is the one typed: the user can log in with it.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.RoleAdd(ctx, "root"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.UserAdd(ctx, "root", "rootpw"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.UserGrantRole(ctx, "root", "root"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.AuthEnable(ctx); err != nil {
		t.Fatal(err)
	}
	r := runCtl(t, ctlPath(), a("--endpoints="+ep, "--user=u1:s3cret", "get", "foo"), "", nil, 30*time.Second)
	if r.code != 1 || errorLine(r.stderr) != "Error: etcdserver: permission denied" {
		t.Errorf("u1 logging in with the typed password: %+v, want permission denied (logged in, no role)", r)
	}
}
