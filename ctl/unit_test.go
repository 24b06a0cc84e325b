package ctl

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/basaltkv/basalt/server"
)

// The expected tables were drawn by olekukonko/tablewriter v1.1.4, configured
// as etcdctl 3.7 configures it, for the same input.
func TestRenderTable(t *testing.T) {
	tests := []struct {
		name string
		hdr  []string
		rows [][]string
		want string
	}{
		{
			name: "rows",
			hdr:  []string{"endpoint", "hash", "hash_revision", "is leader", "Peer Addrs", "error"},
			rows: [][]string{
				{"127.0.0.1:2379", "12345", "5", "true", "http://a:1,http://b:2", ""},
				{"x", "1", "", "false", "héllo 世界", "some longer error text"},
			},
			want: `┌────────────────┬───────┬───────────────┬───────────┬───────────────────────┬────────────────────────┐
│    ENDPOINT    │ HASH  │ HASH REVISION │ IS LEADER │      PEER ADDRS       │         ERROR          │
├────────────────┼───────┼───────────────┼───────────┼───────────────────────┼────────────────────────┤
│ 127.0.0.1:2379 │ 12345 │             5 │      true │ http://a:1,http://b:2 │                        │
│              x │     1 │               │     false │            héllo 世界 │ some longer error text │
└────────────────┴───────┴───────────────┴───────────┴───────────────────────┴────────────────────────┘
`,
		},
		{
			name: "no rows",
			hdr:  []string{"endpoint", "hash"},
			want: `┌──────────┬──────┐
│ ENDPOINT │ HASH │
└──────────┴──────┘
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			renderTable(&b, tt.hdr, tt.rows)
			if b.String() != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", b.String(), tt.want)
			}
		})
	}
}

func TestArgify(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{`put a b`, []string{"put", "a", "b"}},
		{`put key1 "overwrote key1"`, []string{"put", "key1", "overwrote key1"}},
		{`put k 'single "quoted"'`, []string{"put", "k", `single "quoted"`}},
		{`put k "tab\there"`, []string{"put", "k", "tab\there"}},
		{`  get   x  `, []string{"get", "x"}},
		{`put a"b c`, []string{"put", `a"b`, "c"}},
	}
	for _, tt := range tests {
		got, err := argify(tt.in)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("argify(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestParseCompare(t *testing.T) {
	for _, line := range []string{
		`mod("k") > "0"`, `m("k") = "3"`, `create("k") < "9"`, `c("k") != "1"`, `ver("k") = "1"`, `version("k") > "0"`,
		`val("k") = "v"`, `value("k") != "x y"`, `lease("k") = "694d5765fc71500b"`,
	} {
		if _, err := parseCompare(line); err != nil {
			t.Errorf("parseCompare(%q): %v", line, err)
		}
	}
	for line, want := range map[string]string{
		`mod "k" > "0"`:      `malformed comparison: mod "k" > "0"`,
		`size("k") > "0"`:    `malformed comparison: size("k") > "0" (unknown target size)`,
		`ver("k") > "x"`:     `invalid txn compare request: ver("k") > "x"`,
		`lease("k") = "xyz"`: `invalid txn compare request: lease("k") = "xyz"`,
	} {
		if _, err := parseCompare(line); err == nil || err.Error() != want {
			t.Errorf("parseCompare(%q) = %v, want %q", line, err, want)
		}
	}
}

func TestSplitWatchArgs(t *testing.T) {
	tests := []struct {
		args             []string
		dash             int
		envKey, envRange string
		keys, exec       []string
		err              error
	}{
		{args: []string{"foo"}, dash: -1, keys: []string{"foo"}},
		{args: []string{"foo", "bar"}, dash: -1, keys: []string{"foo", "bar"}},
		{args: []string{"foo", "echo", "hi"}, dash: 1, keys: []string{"foo"}, exec: []string{"echo", "hi"}},
		{args: []string{"foo"}, dash: 1, err: errBadArgsNumSeparator},
		{args: nil, dash: -1, err: errBadArgsNum},
		{args: nil, dash: -1, envKey: "k", envRange: "z", keys: []string{"k", "z"}},
		{args: []string{"echo"}, dash: 0, envKey: "k", keys: []string{"k"}, exec: []string{"echo"}},
		{args: []string{"foo"}, dash: -1, envKey: "k", err: errBadArgsNumConflictEnv},
		{args: []string{"foo", "echo"}, dash: 1, envKey: "k", err: errBadArgsNumConflictEnv},
	}
	for _, tt := range tests {
		keys, exec, err := splitWatchArgs(tt.args, tt.dash, tt.envKey, tt.envRange)
		if !errors.Is(err, tt.err) || !reflect.DeepEqual(keys, tt.keys) || !reflect.DeepEqual(exec, tt.exec) {
			t.Errorf("splitWatchArgs(%q, %d, %q, %q) = %q, %q, %v; want %q, %q, %v",
				tt.args, tt.dash, tt.envKey, tt.envRange, keys, exec, err, tt.keys, tt.exec, tt.err)
		}
	}
}

// basaltctl reports the versions the server does.
func TestVersionsMatchServer(t *testing.T) {
	if etcdVersion != server.EtcdVersion || basaltVersion != server.Version {
		t.Errorf("basaltctl reports etcd %s / basalt %s; the server %s / %s", etcdVersion, basaltVersion, server.EtcdVersion, server.Version)
	}
	if !strings.HasPrefix(etcdVersion, apiVersion+".") {
		t.Errorf("API version %s is not etcd %s's", apiVersion, etcdVersion)
	}
}

// Offline commands and argument errors need no server.
func TestMainOffline(t *testing.T) {
	tests := []struct {
		args       []string
		code       int
		stdout     string
		stderrPart string
	}{
		{args: []string{"version"}, stdout: "etcdctl version: 3.7.0\nAPI version: 3.7\nbasaltctl version: 0.1.0-dev\n"},
		{args: []string{"get"}, code: ExitBadArgs, stderrPart: "Error: get command needs one argument as key and an optional argument as range_end\n"},
		{args: []string{"lease", "revoke", "xyz"}, code: ExitBadArgs, stderrPart: "expecting ID in Hex"},
		{args: []string{"nope"}, code: ExitError, stderrPart: `Error: unknown command "nope" for "basaltctl"`},
		{args: []string{"completion", "bash"}, stdout: "# bash completion for basaltctl"},
		{args: []string{"completion", "zsh"}, stdout: "#compdef basaltctl"},
		{args: []string{"completion", "tcsh"}, code: ExitError, stderrPart: `invalid argument "tcsh"`},
		{args: []string{"options"}, stdout: "The following options can be passed to any command:\n\n"},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		code := Main("basaltctl", tt.args, strings.NewReader(""), &out, &errOut)
		if code != tt.code || !strings.HasPrefix(out.String(), tt.stdout) || !strings.Contains(errOut.String(), tt.stderrPart) {
			t.Errorf("basaltctl %q: exit %d, stdout %.200q, stderr %.200q; want exit %d, stdout starting %q, stderr with %q",
				tt.args, code, out.String(), errOut.String(), tt.code, tt.stdout, tt.stderrPart)
		}
	}
}
