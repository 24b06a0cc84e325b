package ctl_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/basaltkv/basalt/pkg/testutil"
	"github.com/basaltkv/basalt/tests/e2e"
)

// The v2 cross-check runs one script through etcdctl 3.4 (ETCDCTL_API=2)
// and through basaltctl, each against its own fresh cluster of the same
// server (so that the writes of one do not change what the other sees),
// and compares each step's stdout, stderr and exit status with indexes,
// times, IDs and addresses normalised.

// v2Server is the server a v2 script runs against: a binary taking
// etcd's flags, plus its own. Debian's etcd 3.4 today; basalt
// --enable-v2 once it serves /v2.
type v2Server struct {
	name  string
	bin   string
	extra []string
	// clientTLS, if set, serves clients over https, and is how the
	// harness checks the members' health.
	clientTLS *tls.Config
}

var debianEtcdV2 = v2Server{name: "etcd 3.4", bin: e2e.DebianEtcd, extra: []string{"--enable-v2"}}

// v2Member is one started member.
type v2Member struct {
	name, clientURL, peerURL string
}

// newV2PeerURL picks a peer URL on a port the OS chose.
func newV2URLs(t testing.TB) (client, peer string) {
	t.Helper()
	ports, err := e2e.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("http://127.0.0.1:%d", ports[0]), fmt.Sprintf("http://127.0.0.1:%d", ports[1])
}

// startV2Member runs a member of srv and waits until it is healthy; a
// joining member (state "existing") is given its peer URL and the cluster.
func startV2Member(t testing.TB, srv v2Server, dataDir, name, clientURL, peerURL, initialCluster, state string) v2Member {
	t.Helper()
	if initialCluster == "" {
		initialCluster = name + "=" + peerURL
	}
	args := append([]string{"--name", name, "--data-dir", dataDir,
		"--listen-client-urls", clientURL, "--advertise-client-urls", clientURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", initialCluster, "--initial-cluster-state", state}, srv.extra...)
	cmd := exec.Command(srv.bin, args...)
	logPath := dataDir + ".log"
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", srv.bin, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		logf.Close()
	})
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: srv.clientTLS}}
	testutil.WaitUntil(t, 30*time.Second, srv.name+" "+name+" to be healthy", func() bool {
		select {
		case <-exited:
			b, _ := os.ReadFile(logPath)
			t.Fatalf("%s %s exited before it was healthy; its log:\n%s", srv.name, name, b)
		default:
		}
		resp, err := hc.Get(clientURL + "/health")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return strings.Contains(b.String(), `"health":"true"`)
	})
	return v2Member{name: name, clientURL: clientURL, peerURL: peerURL}
}

// v2Step is one command of a script, or (with do) an action on the
// cluster between commands.
type v2Step struct {
	args  []string
	stdin string
	// env are extra variables ($EP, here and in args, is the endpoint); a
	// step with env names its endpoints itself, not with --endpoints.
	env []string
	// capture sets vars[name] from stdout's first submatch.
	capture map[string]string
	// sortLines compares stdout's lines in sorted order (member lists,
	// whose order follows random IDs).
	sortLines bool
	// background runs the command while the steps in then run, until it
	// exits or its stdout has lines lines.
	background bool
	lines      int
	then       []v2Step
	// retry runs the command again until it succeeds (a member removal
	// that the server refuses until the new member has been connected a
	// while); its last result is compared.
	retry bool
	// anyOrder makes stderr's lines, and the numbers of a cluster error's
	// failures, order-free: etcdctl shuffles the endpoints it tries.
	anyOrder bool
	// norm are extra replacements for this step (regexp, replacement).
	norm [][2]string
	// do acts on the cluster (start a member) and may set vars.
	do func(t testing.TB, run *v2Run)
}

// v2Run is one tool's run of a script.
type v2Run struct {
	tool    string
	srv     v2Server
	dir     string
	members []v2Member
	vars    map[string]string
	norm    *normalizer
}

func (r *v2Run) endpoint() string { return r.members[0].clientURL }

// newV2Run starts a one-member cluster for one tool's run.
func newV2Run(t testing.TB, tool string, srv v2Server) *v2Run {
	t.Helper()
	dir := t.TempDir()
	client, peer := newV2URLs(t)
	if srv.clientTLS != nil {
		client = "https" + strings.TrimPrefix(client, "http")
	}
	m := startV2Member(t, srv, filepath.Join(dir, "e0"), "e0", client, peer, "", "new")
	r := &v2Run{tool: tool, srv: srv, dir: dir, members: []v2Member{m}, vars: map[string]string{}, norm: &normalizer{}}
	r.addMember(m, 0)
	r.vars["PEER0"] = m.peerURL
	r.vars["EP"] = m.clientURL
	r.vars["DIR"] = dir
	r.norm.addLiteral(dir, "<DIR>")
	return r
}

func (r *v2Run) addMember(m v2Member, i int) {
	r.norm.addLiteral(m.clientURL, fmt.Sprintf("<CLIENT%d>", i))
	r.norm.addLiteral(m.peerURL, fmt.Sprintf("<PEER%d>", i))
	host := strings.TrimPrefix(strings.TrimPrefix(m.clientURL, "https://"), "http://")
	r.norm.addLiteral(host, fmt.Sprintf("<CLIENT%d_HOST>", i))
}

// v2Norms are the values that differ between runs of one script.
var v2Norms = []struct{ re, repl string }{
	// v2 writes IDs in hex without padding.
	{`\b[0-9a-f]{10,16}\b`, `<ID>`},
	{`/\d{20}\b`, `/<SEQ>`},
	{`"(createdIndex|modifiedIndex|index)":\d+`, `"$1":<N>`},
	{`(?m)^(Created-Index|Modified-Index|Index): \d+$`, `$1: <N>`},
	{`(?m) \[\d+\]$`, ` [<N>]`},
	// Go's HTTP client names where it read a TLS alert that came after
	// the handshake (in TLS 1.3 a refused client certificate does) only
	// when its read loop got it first: a race, in etcdctl as in basaltctl.
	{`readLoopPeekFailLocked: `, ``},
	// A compare on the index names the key's modified index.
	{`\[(\d+) != \d+\]`, `[$1 != <N>]`},
	{`"expiration":"[^"]+"`, `"expiration":"<TIME>"`},
	{`"ttl":\d+`, `"ttl":<TTL>`},
	{`(?m)^TTL: [1-9]\d*$`, `TTL: <TTL>`},
	{`ETCD_WATCH_MODIFIED_INDEX=\d+`, `ETCD_WATCH_MODIFIED_INDEX=<N>`},
	{`(?m)^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} I \|`, `<TIME> I |`},
	{`(?m)^   3\.\d+\.\d+$`, `   <VERSION>`},
	// etcdctl's password prompt runs stty, which complains when stdin is
	// not a terminal; basaltctl does not run it (see docs/design.md).
	{`(?m)^stty: 'standard input': Inappropriate ioctl for device\n`, ``},
	{`etcdctl version: 3\.\d+\.\d+`, `etcdctl version: <VERSION>`},
}

func (r *v2Run) normalize(s string) string {
	s = r.norm.apply(s)
	for _, n := range v2Norms {
		s = regexp.MustCompile(n.re).ReplaceAllString(s, n.repl)
	}
	return s
}

// expand replaces $NAME arguments (and $NAME inside them) with vars.
func (r *v2Run) expand(s string) string {
	return os.Expand(s, func(k string) string {
		if v, ok := r.vars[k]; ok {
			return v
		}
		return "$" + k
	})
}

// v2Result is one step's normalised outcome.
type v2Result struct {
	stdout, stderr string
	code           int
}

// runStep runs s with bin (named etcdctl) and returns its results, the
// background steps' after its own.
func (r *v2Run) runStep(t testing.TB, bin string, s v2Step) []v2Result {
	t.Helper()
	if s.do != nil {
		s.do(t, r)
		return nil
	}
	var args []string
	env := []string{"ETCDCTL_API=2"}
	if s.env == nil {
		args = append(args, "--endpoints="+r.endpoint())
	}
	for _, kv := range s.env {
		env = append(env, r.expand(kv))
	}
	for _, a := range s.args {
		args = append(args, r.expand(a))
	}
	var res v2Result
	var then []v2Result
	if s.background {
		res, then = r.runBackground(t, bin, args, env, s)
	} else {
		run := func() v2Result {
			out := runCtl(t, bin, args, r.expand(s.stdin), env, 60*time.Second)
			return v2Result{stdout: out.stdout, stderr: out.stderr, code: out.code}
		}
		res = run()
		if s.retry {
			testutil.WaitUntil(t, 30*time.Second, fmt.Sprintf("%s %q to succeed", r.tool, s.args), func() bool {
				if res.code != 0 {
					res = run()
				}
				return res.code == 0
			})
		}
	}
	for name, expr := range s.capture {
		m := regexp.MustCompile(expr).FindStringSubmatch(res.stdout)
		if m == nil {
			t.Fatalf("%s %q: no %s (%s) in stdout:\n%s\nstderr:\n%s", r.tool, s.args, name, expr, res.stdout, res.stderr)
		}
		r.vars[name] = m[1]
	}
	res.stdout, res.stderr = r.normalize(res.stdout), r.normalize(res.stderr)
	for _, n := range s.norm {
		res.stdout = regexp.MustCompile(n[0]).ReplaceAllString(res.stdout, n[1])
		res.stderr = regexp.MustCompile(n[0]).ReplaceAllString(res.stderr, n[1])
	}
	if s.anyOrder {
		lines := strings.Split(regexp.MustCompile(`error #\d+`).ReplaceAllString(res.stderr, "error #<N>"), "\n")
		sort.Strings(lines)
		res.stderr = strings.Join(lines, "\n")
	}
	if s.sortLines {
		lines := strings.Split(strings.TrimSuffix(res.stdout, "\n"), "\n")
		sort.Strings(lines)
		res.stdout = strings.Join(lines, "\n") + "\n"
	}
	return append([]v2Result{res}, then...)
}

// runBackground starts a long-running command (a watch), runs s.then
// while it runs, and stops it once it has exited or printed s.lines lines.
func (r *v2Run) runBackground(t testing.TB, bin string, args, env []string, s v2Step) (v2Result, []v2Result) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = cleanEnv(env)
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	var then []v2Result
	for _, ts := range s.then {
		then = append(then, r.runStep(t, bin, ts)...)
	}
	done := func() bool {
		select {
		case <-exited:
			return true
		default:
		}
		return s.lines > 0 && strings.Count(stdout.String(), "\n") >= s.lines
	}
	testutil.WaitUntil(t, 30*time.Second, fmt.Sprintf("%s %q to print %d lines (it printed %q)", r.tool, args, s.lines, stdout.String()), done)
	code := -1 // still running when stopped
	select {
	case <-exited:
		code = cmd.ProcessState.ExitCode()
	default:
		cmd.Process.Kill()
		<-exited
	}
	return v2Result{stdout: stdout.String(), stderr: stderr.String(), code: code}, then
}

// v2Tools are the two command lines compared: etcdctl 3.4, and basaltctl
// under the name etcdctl (help and messages name the program).
func v2Tools(t testing.TB) (etcdctl, basaltctl string) {
	t.Helper()
	etcdctl, err := exec.LookPath("etcdctl")
	if err != nil {
		t.Skip("etcdctl is not on PATH: install Debian's etcd-client to cross-check basaltctl's v2 commands against it")
	}
	dir := t.TempDir()
	basaltctl = filepath.Join(dir, "etcdctl")
	if err := os.Symlink(ctlPath(), basaltctl); err != nil {
		t.Fatal(err)
	}
	return etcdctl, basaltctl
}

// crossCheckV2 runs script with both tools against srv and compares them
// step by step.
func crossCheckV2(t *testing.T, srv v2Server, script []v2Step) {
	t.Helper()
	if _, err := os.Stat(srv.bin); err != nil {
		t.Skipf("%s is missing: the v2 cross-check needs %s", srv.bin, srv.name)
	}
	etcdctl, basaltctl := v2Tools(t)
	want := newV2Run(t, "etcdctl", srv)
	got := newV2Run(t, "basaltctl", srv)
	for _, s := range script {
		w := want.runStep(t, etcdctl, s)
		g := got.runStep(t, basaltctl, s)
		if len(w) != len(g) {
			t.Fatalf("%q: %d results from etcdctl, %d from basaltctl", s.args, len(w), len(g))
		}
		for i := range w {
			t.Logf("%q (result %d): exit %d\nstdout:\n%s\nstderr:\n%s", s.args, i, w[i].code, w[i].stdout, w[i].stderr)
			if w[i] != g[i] {
				t.Errorf("%q (result %d):\netcdctl:   exit %d\nstdout:\n%s\nstderr:\n%s\nbasaltctl: exit %d\nstdout:\n%s\nstderr:\n%s",
					s.args, i, w[i].code, w[i].stdout, w[i].stderr, g[i].code, g[i].stdout, g[i].stderr)
			}
		}
	}
}
