package ctl_test

import (
	"os/exec"
	"testing"
	"time"
)

// TestCrossCheckEtcdctl runs the same commands with etcdctl and basaltctl,
// each against its own fresh basalt server (so that writes leave both in
// the same state), and compares stdout, the "Error:" line and the exit
// status, with the servers' IDs and addresses normalised. The commands are those whose output etcdctl has not changed
// between 3.4 (Debian's) and 3.7 (the one basaltctl follows): 3.5+ added
// endpoint status/hashkv columns and fields, changed the table style and
// txn's JSON, --hex in fields output, and hid a header's zero revision.
func TestCrossCheckEtcdctl(t *testing.T) {
	etcdctl, err := exec.LookPath("etcdctl")
	if err != nil {
		t.Skip("etcdctl is not on PATH: install Debian's etcd-client to cross-check basaltctl against it")
	}
	_, etcdctlEp, etcdctlNorm := newCluster(t, 1, nil)
	_, basaltctlEp, basaltctlNorm := newCluster(t, 1, nil)
	steps := []struct {
		args  []string
		stdin string
	}{
		{a("put", "foo", "bar"), ""},
		{a("put", "foo", "baz", "--prev-kv"), ""},
		{a("put", "foo1", "v1"), ""},
		{a("put", "stdin"), "from stdin"},
		{a("get", "foo"), ""},
		{a("get", "foo", "--prefix", "-w", "json"), ""},
		{a("get", "foo", "--prefix", "-w", "fields"), ""},
		// (protobuf output carries the IDs in binary: compared by the
		// golden tests instead.)
		{a("get", "foo", "--prefix", "--keys-only", "--order", "DESCEND"), ""},
		{a("get", "", "--from-key", "--limit", "1", "--print-value-only"), ""},
		{a("get", "foo", "--hex"), ""},
		{a("get", "foo", "--rev", "2"), ""},
		{a("get", "foo", "--rev", "100"), ""},
		{a("get"), ""},
		{a("get", "foo", "--prefix", "--from-key"), ""},
		{a("get", "foo", "-w", "table"), ""},
		{a("get", "foo", "-w", "yaml"), ""},
		{a("put"), ""},
		{a("put", "k", "v", "--lease", "zz"), ""},
		{a("del", "foo1", "--prev-kv"), ""},
		{a("del", "nokey", "-w", "json"), ""},
		{a("txn"), "mod(\"foo\") > \"0\"\n\nput foo new\nget foo\n\nput foo else\n\n"},
		{a("txn", "-i"), "val(\"foo\") = \"x\"\n\nput a b\n\nget foo\n\n"},
		{a("txn", "-w", "fields"), "\nput t 1\n\n\n"},
		{a("txn"), "bad(\"foo\") > \"0\"\n\n\n\n"},
		{a("member", "list"), ""},
		{a("member", "list", "-w", "json"), ""},
		// (member list -w fields: etcdctl 3.4 prints the header's
		// revision, 0 as etcd's member list sets none; 3.7 hides it.)
		{a("alarm", "list"), ""},
		{a("lease", "list"), ""},
		{a("lease", "revoke", "xyz"), ""},
		{a("lease", "timetolive", "1234"), ""},
		{a("compaction", "2"), ""},
		{a("compaction", "1000"), ""},
		{a("watch"), ""},
		{a("move-leader", "xyz"), ""},
	}
	for _, s := range steps {
		want := runCtl(t, etcdctl, append([]string{"--endpoints=" + etcdctlEp}, s.args...), s.stdin, []string{"ETCDCTL_API=3"}, 60*time.Second)
		want.stdout, want.stderr = etcdctlNorm.apply(want.stdout), etcdctlNorm.apply(want.stderr)
		got := runCtl(t, ctlPath(), append([]string{"--endpoints=" + basaltctlEp}, s.args...), s.stdin, nil, 60*time.Second)
		got.stdout, got.stderr = basaltctlNorm.apply(got.stdout), basaltctlNorm.apply(got.stderr)
		if got.stdout != want.stdout || got.code != want.code || errorLine(got.stderr) != errorLine(want.stderr) {
			t.Errorf("%q:\netcdctl:   exit %d, stdout %q, error %q\nbasaltctl: exit %d, stdout %q, error %q",
				s.args, want.code, want.stdout, errorLine(want.stderr), got.code, got.stdout, errorLine(got.stderr))
		}
	}
}

// errorLine is the "Error: ..." line of stderr, if any.
func errorLine(stderr string) string {
	for _, l := range splitLines(stderr) {
		if len(l) > 7 && l[:7] == "Error: " {
			return l
		}
	}
	return ""
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}
