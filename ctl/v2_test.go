package ctl_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/basaltkv/basalt/tests/e2e"
)

func s2(args ...string) v2Step { return v2Step{args: args} }

// v2KeysScript covers the keys commands, their flags and errors in the
// simple format.
var v2KeysScript = []v2Step{
	s2("set", "/foo", "bar"),
	s2("get", "/foo"),
	s2("get", "/nokey"),
	s2("get"),
	s2("get", "/foo", "extra"),
	s2("set"),
	s2("set", "/x"),
	{args: []string{"set", "/stdin"}, stdin: "from stdin"},
	s2("get", "/stdin"),
	s2("set", "/foo", "--", "-v"),
	s2("set", "--", "/dash", "-v"),
	s2("set", "/foo", "--ttl", "100", "--", "bar"),
	s2("set", "--swap-with-value", "nope", "/foo", "z"),
	s2("set", "--swap-with-value", "bar", "/foo", "baz"),
	s2("set", "--swap-with-index", "1", "/foo", "z"),
	s2("mk", "/foo", "x"),
	s2("mk", "/new", "x"),
	s2("mk", "--in-order", "/queue", "job1"),
	s2("mk", "--in-order", "/queue", "job2"),
	s2("ls", "--sort", "/queue"),
	s2("mkdir", "/dir"),
	s2("mkdir", "/dir"),
	s2("mkdir", "--ttl", "100", "/tdir"),
	s2("setdir", "/dir"),
	s2("setdir", "/foo"),
	s2("get", "/dir"),
	s2("set", "/dir/a", "1"),
	s2("set", "/dir/sub/b", "2"),
	s2("set", "/dir/a/c", "3"),
	s2("ls", "--sort"),
	s2("ls", "/dir", "--sort", "-p"),
	s2("ls", "-r", "-p", "--sort", "/"),
	s2("ls", "/dir/a"),
	s2("ls", "/nokey"),
	s2("get", "--quorum", "/dir/a"),
	s2("update", "/nokey", "v"),
	s2("update", "/dir/a", "11"),
	s2("update", "/dir", "v"),
	s2("updatedir", "/foo"),
	s2("updatedir", "/dir"),
	s2("updatedir", "/nodir"),
	s2("rmdir", "/dir"),
	s2("rmdir", "/dir/a"),
	s2("rm", "/dir"),
	s2("rm", "--with-value", "nope", "/dir/a"),
	s2("rm", "--with-index", "1", "/dir/a"),
	s2("rm", "--with-value", "11", "/dir/a"),
	s2("rm", "--dir", "/dir/sub"),
	s2("rm", "/dir/sub", "-r"),
	s2("rm", "-r", "/dir"),
	s2("rm", "/nokey"),
	s2("rm"),
	s2("rm", "-r", "/"),
	s2("set", "--ttl", "abc", "/foo", "x"),
	s2("set", "--bogus", "/foo", "x"),
	s2("get", "--sort", "--sort", "/foo"),
}

// v2FormatsScript prints every kind of answer in the extended and json
// formats, and refuses an unknown one as etcdctl does (on stderr, exit 0).
var v2FormatsScript = func() []v2Step {
	var steps []v2Step
	for _, o := range []string{"extended", "json"} {
		steps = append(steps,
			s2("-o", o, "set", "/"+o, "v1"),
			s2("-o", o, "set", "/"+o, "v2"),
			s2("--output", o, "get", "/"+o),
			s2("-o", o, "set", "--ttl", "100", "/"+o+"ttl", "t"),
			s2("-o", o, "get", "/"+o+"ttl"),
			s2("-o", o, "mk", "/"+o+"mk", "m"),
			s2("-o", o, "mk", "--in-order", "/"+o+"q", "m"),
			s2("-o", o, "mkdir", "/"+o+"dir"),
			s2("-o", o, "setdir", "/"+o+"dir"),
			s2("-o", o, "updatedir", "--ttl", "100", "/"+o+"dir"),
			s2("-o", o, "ls", "/"+o+"dir"),
			s2("-o", o, "ls", "-r", "--sort", "/"+o+"q"),
			s2("-o", o, "update", "/"+o, "v3"),
			s2("-o", o, "rm", "/"+o),
			s2("-o", o, "rmdir", "/"+o+"dir"),
			s2("-o", o, "rm", "-r", "/"+o+"q"),
			s2("-o", o, "get", "/nokey"),
			s2("-o", o, "mk", "/"+o+"mk", "again"),
			s2("-o", o, "set", "--swap-with-value", "x", "/"+o+"mk", "y"),
		)
	}
	return append(steps,
		s2("-o", "yaml", "get", "/jsonmk"),
		s2("-o", "a", "--output", "b", "get", "/jsonmk"),
	)
}()

// v2WatchScript watches from history (--after-index) and watches that
// fire: each watch is told the index before the write it waits for, so
// it sees the write however late it starts.
var v2WatchScript = []v2Step{
	{args: []string{"-o", "extended", "set", "/w/a", "1"}, capture: map[string]string{"IDX1": `(?m)^Index: (\d+)$`}},
	s2("set", "/w/b", "2"),
	s2("set", "/w/a", "3"),
	s2("rm", "/w/b"),
	s2("watch", "--after-index", "$IDX1", "/w/a"),
	s2("-o", "extended", "watch", "--after-index", "$IDX1", "/w/a"),
	s2("-o", "json", "watch", "--recursive", "--after-index", "$IDX1", "/w"),
	s2("watch", "-r", "--after-index", "$IDX1", "/w"),
	s2("watch"),
	s2("exec-watch", "/w"),
	{args: []string{"watch", "--forever", "--after-index", "$IDX1", "/w/a"}, background: true, lines: 1},
	{args: []string{"watch", "-f", "-r", "--after-index", "$IDX1", "/w"}, background: true, lines: 6},
	{args: []string{"-o", "extended", "get", "/w/a"}, capture: map[string]string{"IDX2": `(?m)^Index: (\d+)$`}},
	{args: []string{"watch", "--after-index", "$IDX2", "/w/a"}, background: true, then: []v2Step{s2("set", "/w/a", "fired")}},
	{args: []string{"-o", "extended", "get", "/w/a"}, capture: map[string]string{"IDX3": `(?m)^Index: (\d+)$`}},
	{args: []string{"watch", "-r", "--after-index", "$IDX3", "/w"}, background: true, then: []v2Step{s2("mkdir", "/w/d"), s2("set", "/w/d/x", "fired")}},
	{args: []string{"exec-watch", "--after-index", "$IDX1", "sh", "-c", "echo $ETCD_WATCH_ACTION $ETCD_WATCH_KEY $ETCD_WATCH_VALUE ETCD_WATCH_MODIFIED_INDEX=$ETCD_WATCH_MODIFIED_INDEX", "/w/b"}, background: true, lines: 2,
		sortLines: true}, // exec-watch runs each event's command without waiting for the last
	{args: []string{"-o", "extended", "get", "/w/a"}, capture: map[string]string{"IDX4": `(?m)^Index: (\d+)$`}},
	{args: []string{"exec-watch", "-r", "--after-index", "$IDX4", "sh", "-c", "echo $ETCD_WATCH_ACTION $ETCD_WATCH_KEY $ETCD_WATCH_VALUE", "/w"}, background: true, lines: 1,
		then: []v2Step{s2("mkdir", "/w/e"), s2("set", "/w/e/y", "exec")}},
}

// v2MembersScript changes the membership: a second member joins (a real
// process) and is removed again.
var v2MembersScript = []v2Step{
	{args: []string{"member", "list"}, capture: map[string]string{"SELF": `(?m)^([0-9a-f]+): name=e0`}},
	s2("member", "list", "extra"),
	s2("member", "add"),
	s2("member", "add", "m2", "nourl"),
	s2("member", "add", "m2", "http://127.0.0.1"),
	s2("member", "update"),
	s2("member", "update", "$SELF", "$PEER0"),
	s2("member", "update", "abcd", "$PEER0"),
	s2("member", "remove"),
	s2("member", "remove", "nosuch"),
	s2("member", "remove", "e0"),
	s2("member", "bogus"),
	s2("cluster-health"),
	// --forever reports, then waits ten seconds for the next check.
	{args: []string{"cluster-health", "--forever"}, background: true, lines: 4},
	{do: func(t testing.TB, r *v2Run) {
		_, r.vars["PEER1"] = newV2URLs(t)
		r.norm.addLiteral(r.vars["PEER1"], "<PEER1>")
	}},
	// The cluster is listed in the order of the members' (random) IDs.
	{args: []string{"member", "add", "m2", "$PEER1"}, capture: map[string]string{"NEW": `with ID ([0-9a-f]+) `},
		norm: [][2]string{{`"m2=<PEER1>,e0=<PEER0>"`, `"e0=<PEER0>,m2=<PEER1>"`}}},
	{do: func(t testing.TB, r *v2Run) {
		client, _ := newV2URLs(t)
		m := startV2Member(t, r.srv, filepath.Join(r.dir, "m2"), "m2", client, r.vars["PEER1"], "e0="+r.vars["PEER0"]+",m2="+r.vars["PEER1"], "existing")
		r.members = append(r.members, m)
		r.addMember(m, 1)
	}},
	{args: []string{"member", "list"}, sortLines: true},
	{args: []string{"cluster-health"}, sortLines: true},
	{args: []string{"--no-sync", "member", "list"}, sortLines: true},
	{args: []string{"member", "remove", "$NEW"}, retry: true},
	s2("member", "list"),
	s2("cluster-health"),
}

// v2AuthScript turns v2 auth on with a root user and works as root, as a
// user with a role, and as the guest.
var v2AuthScript = []v2Step{
	s2("user", "list"),
	s2("role", "list"),
	s2("role", "get", "root"),
	s2("role", "get", "guest"),
	s2("user", "get", "root"),
	s2("auth", "enable"),
	s2("user", "add"),
	s2("user", "add", "root:rootpw"),
	s2("auth", "enable", "extra"),
	s2("auth", "enable"),
	s2("user", "list"),
	s2("-u", "root:rootpw", "user", "list"),
	s2("-u", "root:wrong", "user", "list"),
	s2("-u", "root:rootpw", "role", "add", "r1"),
	s2("-u", "root:rootpw", "role", "add", "r1"),
	s2("-u", "root:rootpw", "role", "grant", "r1"),
	s2("-u", "root:rootpw", "role", "grant", "--path", "/x/*", "r1"),
	s2("-u", "root:rootpw", "role", "grant", "--path", "/x/../y", "--rw", "r1"),
	s2("-u", "root:rootpw", "role", "grant", "--path", "/x/*", "--read", "--write", "r1"),
	s2("-u", "root:rootpw", "role", "grant", "--path", "/x/*", "--rw", "r1"),
	s2("-u", "root:rootpw", "role", "grant", "--path", "/x/*", "--read", "r1"),
	s2("-u", "root:rootpw", "role", "get", "r1"),
	s2("-u", "root:rootpw", "role", "list"),
	s2("-u", "root:rootpw", "user", "add", "u1:u1pw"),
	s2("-u", "root:rootpw", "user", "grant", "u1"),
	s2("-u", "root:rootpw", "user", "grant", "--roles", "r1", "u1"),
	s2("-u", "root:rootpw", "user", "grant", "--roles", "nosuch", "u1"),
	s2("-u", "root:rootpw", "user", "get", "u1"),
	s2("-u", "u1:u1pw", "set", "/x/a", "1"),
	s2("-u", "u1:u1pw", "set", "/y", "1"),
	s2("-u", "u1:wrong", "get", "/x/a"),
	s2("get", "/x/a"),
	s2("-u", "root:rootpw", "role", "revoke", "--path", "/*", "--rw", "guest"),
	s2("get", "/x/a"),
	{args: []string{"-u", "root", "get", "/x/a"}, stdin: "rootpw\n"},
	{args: []string{"-u", "root:rootpw", "user", "passwd", "u1"}, stdin: "newpw\n"},
	s2("-u", "u1:newpw", "get", "/x/a"),
	{args: []string{"-u", "root:rootpw", "user", "add", "u2"}, stdin: "u2pw\n"},
	s2("-u", "root:rootpw", "user", "revoke", "--roles", "r1", "u1"),
	s2("-u", "root:rootpw", "user", "revoke", "--roles", "r1", "u1"),
	s2("-u", "root:rootpw", "role", "revoke", "--path", "/x/*", "--rw", "r1"),
	s2("-u", "root:rootpw", "role", "remove", "r1"),
	s2("-u", "root:rootpw", "role", "remove", "r1"),
	s2("-u", "root:rootpw", "user", "remove", "u1"),
	s2("-u", "root:rootpw", "user", "remove", "u1"),
	s2("-u", "root:rootpw", "user", "get", "u2"),
	{args: []string{"user", "get", "u2"}, env: []string{"ETCDCTL_ENDPOINTS=$EP", "ETCDCTL_USERNAME=root:rootpw"}},
	{args: []string{"user", "get", "u2"}, env: []string{"ETCDCTL_ENDPOINTS=$EP", "ETCDCTL_USERNAME=root:wrong"}},
	s2("auth", "disable"),
	s2("-u", "root:rootpw", "auth", "disable"),
	s2("auth", "disable"),
	s2("role", "list"),
}

// v2HelpScript is the command line itself: help, usage errors, the
// version, and unreachable endpoints.
var v2HelpScript = []v2Step{
	s2("--help"),
	s2(),
	s2("help"),
	s2("help", "set"),
	s2("h", "nosuch"),
	s2("nosuch"),
	s2("--version"),
	s2("--bogus", "get", "/x"),
	s2("get", "--bogus", "/x"),
	s2("member"),
	s2("member", "--help"),
	s2("member", "help", "add"),
	s2("user", "nosuch"),
	s2("role", "grant", "--help"),
	s2("backup", "--help"),
	s2("--endpoints=http://127.0.0.1:1", "get", "/x"),
	{args: []string{"--no-sync", "--endpoints=http://127.0.0.1:1,http://127.0.0.1:2", "get", "/x"}, anyOrder: true,
		norm: [][2]string{{`127\.0\.0\.1:[12]\b`, `<DOWN>`}}},
	s2("--endpoints=127.0.0.1:1", "get", "/x"),
	s2("--total-timeout", "1ns", "get", "/x"),
	s2("--debug", "get", "/x"),
	s2("--debug", "set", "/x", "1"),
	s2("--debug", "--no-sync", "mkdir", "/d"),
	s2("--debug", "rm", "-r", "/d"),
	// ETCDCTL_* variables: endpoints in their order of precedence.
	{args: []string{"set", "/env", "1"}, env: []string{"ETCDCTL_ENDPOINTS=$EP"}},
	{args: []string{"get", "/env"}, env: []string{"ETCDCTL_ENDPOINT=$EP"}},
	{args: []string{"get", "/env"}, env: []string{"ETCDCTL_PEERS=$EP"}},
	{args: []string{"-C", "$EP", "get", "/env"}, env: []string{"ETCDCTL_ENDPOINT=http://127.0.0.1:1"}},
	{args: []string{"--endpoint", "$EP", "get", "/env"}, env: []string{"ETCDCTL_ENDPOINTS=http://127.0.0.1:1"}},
	{args: []string{"--endpoints", "$EP", "get", "/env"}, env: []string{"ETCDCTL_ENDPOINTS=http://127.0.0.1:1", "ETCDCTL_BOGUS=1"}},
	{args: []string{"get", "/env"}, env: []string{"ETCDCTL_ENDPOINTS=$EP", "ETCDCTL_CA_FILE=/nonexistent"}},
	{args: []string{"user", "list"}, env: []string{"ETCDCTL_ENDPOINTS=$EP", "ETCDCTL_USERNAME=root:x"}},
}

// v2BackupScript backs up the first member's data dir (it is read while
// the member runs; etcdctl does not lock it without --with-v3) and fails
// on a missing one.
var v2BackupScript = []v2Step{
	s2("backup", "--data-dir", "$DIR/nodir", "--backup-dir", "$DIR/bk0"),
	s2("backup"),
}

func TestV2CrossCheck(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script []v2Step
	}{
		{"keys", v2KeysScript},
		{"formats", v2FormatsScript},
		{"watch", v2WatchScript},
		{"members", v2MembersScript},
		{"auth", v2AuthScript},
		{"help", v2HelpScript},
		{"backup", v2BackupScript},
	} {
		t.Run(tc.name, func(t *testing.T) { crossCheckV2(t, debianEtcdV2, tc.script) })
	}
}

// TestV2CrossCheckTLS runs the v2 commands against a member (etcd 3.4,
// basalt) that serves clients over https and asks for a client
// certificate: the CA, the
// certificate and the key from flags and from ETCDCTL_* variables, and
// the errors without them.
func TestV2CrossCheckTLS(t *testing.T) {
	for _, srv := range []v2Server{debianEtcdV2, basaltV2()} {
		t.Run(srv.name, func(t *testing.T) { crossCheckV2TLS(t, srv) })
	}
}

func crossCheckV2TLS(t *testing.T, srv v2Server) {
	certs := e2e.NewCerts(t, t.TempDir())
	srv.name += " (client TLS)"
	srv.extra = append(append([]string(nil), srv.extra...), "--cert-file", certs.Member.CertFile, "--key-file", certs.Member.KeyFile,
		"--trusted-ca-file", certs.CA.CertFile, "--client-cert-auth")
	srv.clientTLS = certs.ClientTLS(t, e2e.MutualTLS, true)
	tlsFlags := []string{"--ca-file", certs.CA.CertFile, "--cert-file", certs.Client.CertFile, "--key-file", certs.Client.KeyFile}
	tlsEnv := []string{"ETCDCTL_ENDPOINTS=$EP", "ETCDCTL_CA_FILE=" + certs.CA.CertFile, "ETCDCTL_CERT_FILE=" + certs.Client.CertFile, "ETCDCTL_KEY_FILE=" + certs.Client.KeyFile}
	// Go since 1.20 says which step of the handshake failed; Debian's
	// etcdctl is built with an older Go.
	goTLS := [][2]string{{`tls: failed to verify certificate: `, ``}}
	crossCheckV2(t, srv, []v2Step{
		{args: append(tlsFlags, "set", "/tls", "1")},
		{args: append(tlsFlags, "-o", "json", "get", "/tls")},
		{args: []string{"get", "/tls"}, env: tlsEnv},
		{args: append(tlsFlags, "member", "list")},
		{args: append(tlsFlags, "cluster-health")},
		{args: []string{"--ca-file", certs.CA.CertFile, "get", "/tls"}},
		{args: []string{"get", "/tls"}, norm: goTLS},
		{args: []string{"--no-sync", "get", "/tls"}, norm: goTLS},
		{args: []string{"--ca-file", "/nonexistent", "get", "/tls"}},
		{args: []string{"--cert-file", certs.Client.CertFile, "get", "/tls"}},
	})
}

// basaltV2 is basalt's own member with the v2 API.
func basaltV2() v2Server {
	return v2Server{name: "basalt", bin: e2e.Binary(), extra: []string{"--enable-v2"}}
}

// TestV2EtcdctlOnBasalt runs Debian's etcdctl 3.4 (ETCDCTL_API=2) against
// etcd 3.4 and against basalt --enable-v2, and basaltctl against basalt:
// each tool on basalt must print what etcdctl prints on etcd.
func TestV2EtcdctlOnBasalt(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script []v2Step
	}{
		{"keys", v2KeysScript},
		{"formats", v2FormatsScript},
		{"watch", v2WatchScript},
		{"members", v2MembersScript},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := os.Stat(debianEtcdV2.bin); err != nil {
				t.Skipf("%s is missing: the v2 cross-check needs %s", debianEtcdV2.bin, debianEtcdV2.name)
			}
			etcdctl, basaltctl := v2Tools(t)
			want := newV2Run(t, "etcdctl", debianEtcdV2)
			onBasalt := newV2Run(t, "etcdctl", basaltV2())
			ours := newV2Run(t, "basaltctl", basaltV2())
			for _, s := range tc.script {
				w := want.runStep(t, etcdctl, s)
				for _, run := range []struct {
					name string
					got  []v2Result
				}{
					{"etcdctl on basalt", onBasalt.runStep(t, etcdctl, s)},
					{"basaltctl on basalt", ours.runStep(t, basaltctl, s)},
				} {
					if len(w) != len(run.got) {
						t.Fatalf("%q: %d results from etcdctl on etcd, %d from %s", s.args, len(w), len(run.got), run.name)
					}
					for i := range w {
						if w[i] != run.got[i] {
							g := run.got[i]
							t.Errorf("%q (result %d):\netcdctl on etcd 3.4: exit %d\nstdout:\n%s\nstderr:\n%s\n%s: exit %d\nstdout:\n%s\nstderr:\n%s",
								s.args, i, w[i].code, w[i].stdout, w[i].stderr, run.name, g.code, g.stdout, g.stderr)
						}
					}
				}
			}
		})
	}
}
