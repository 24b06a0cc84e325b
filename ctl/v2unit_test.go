package ctl

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

// ETCDCTL_API=2 selects the v2 command line; unset or 3, the v3 one.
func TestAPISelection(t *testing.T) {
	tests := []struct {
		api, arg, stdout string
	}{
		{"", "version", "etcdctl version: " + etcdVersion + "\nAPI version: " + apiVersion + "\n"},
		{"3", "version", "etcdctl version: " + etcdVersion + "\nAPI version: " + apiVersion + "\n"},
		{"2", "--version", "etcdctl version: " + etcdVersion + "\nAPI version: 2\n"},
	}
	for _, tt := range tests {
		t.Setenv("ETCDCTL_API", tt.api)
		var out, errOut bytes.Buffer
		code := Main("basaltctl", []string{tt.arg}, strings.NewReader(""), &out, &errOut)
		if code != 0 || !strings.HasPrefix(out.String(), tt.stdout) {
			t.Errorf("ETCDCTL_API=%q %s: exit %d, stdout %q, stderr %q; want stdout starting %q", tt.api, tt.arg, code, out.String(), errOut.String(), tt.stdout)
		}
	}
}

// The v2 command flags may follow the arguments; "--" ends them, unless
// it is a flag's value.
func TestReorderV2Args(t *testing.T) {
	flags := []v2Flag{{names: "ttl", kind: "int"}, {names: "recursive, r", kind: "bool"}}
	tests := []struct{ in, want []string }{
		{[]string{"/k", "v"}, []string{"/k", "v"}},
		{[]string{"/k", "v", "--ttl", "5"}, []string{"--ttl", "5", "/k", "v"}},
		{[]string{"/k", "--ttl=5", "v"}, []string{"--ttl=5", "/k", "v"}},
		{[]string{"/k", "-r", "v"}, []string{"-r", "v", "/k"}},
		{[]string{"/k", "--", "-v"}, []string{"--", "/k", "-v"}},
		{[]string{"--ttl", "--", "/k"}, []string{"--ttl", "--", "/k"}},
		{[]string{"/k", "--bogus", "v"}, []string{"/k", "--bogus", "v"}},
		{[]string{"-", "/k"}, []string{"-", "/k"}},
	}
	for _, tt := range tests {
		if got := reorderV2Args(flags, tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("reorder %q = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// Flags are listed as urfave/cli lists them.
func TestV2FlagHelpLine(t *testing.T) {
	tests := []struct {
		f    v2Flag
		want string
	}{
		{v2Flag{names: "sort", usage: "sorted", kind: "bool"}, "--sort\tsorted"},
		{v2Flag{names: "quorum, q", usage: "quorum", kind: "bool"}, "--quorum, -q\tquorum"},
		{v2Flag{names: "ttl", usage: "ttl", kind: "int", def: "0"}, "--ttl value\tttl (default: 0)"},
		{v2Flag{names: "timeout", usage: "t", kind: "duration", def: "2s"}, "--timeout value\tt (default: 2s)"},
		{v2Flag{names: "output, o", usage: "format (`simple`, `extended`)", kind: "string", def: "simple"}, "--output simple, -o simple\tformat (simple, `extended`) (default: \"simple\")"},
		{v2Flag{names: "path", usage: "p", kind: "string"}, "--path value\tp"},
	}
	for _, tt := range tests {
		if got := tt.f.helpLine(); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.f.names, got, tt.want)
		}
	}
}
