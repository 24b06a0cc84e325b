package embed

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// etcdConfigKeys reads, from etcd 3.7's own source (the module go.mod
// requires), the json keys of the named structs of its embed/config.go:
// the keys its config file accepts.
func etcdConfigKeys(t *testing.T, structs ...string) map[string]bool {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "go.etcd.io/etcd/server/v3").Output()
	if err != nil {
		t.Fatalf("locate etcd's source: %v", err)
	}
	file := filepath.Join(strings.TrimSpace(string(out)), "embed", "config.go")
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatalf("parse %s: %v", file, err)
	}
	want := map[string]bool{}
	for _, s := range structs {
		want[s] = true
	}
	keys := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		ts, ok := n.(*ast.TypeSpec)
		if !ok || !want[ts.Name.Name] {
			return true
		}
		for _, field := range ts.Type.(*ast.StructType).Fields.List {
			if field.Tag == nil {
				continue
			}
			tag, _ := strconv.Unquote(field.Tag.Value)
			name, _, _ := strings.Cut(reflect.StructTag(tag).Get("json"), ",")
			if name != "" && name != "-" {
				keys[name] = true
			}
		}
		return false
	})
	if len(keys) == 0 {
		t.Fatalf("no keys of %v in %s", structs, file)
	}
	return keys
}

// TestConfigFileKeysAreEtcds: every key of etcd 3.7's config file, top
// level and in the transport security sections, is one basalt reads.
func TestConfigFileKeysAreEtcds(t *testing.T) {
	for _, tc := range []struct {
		what string
		etcd []string
		ours map[string]bool
	}{
		{"top-level keys", []string{"Config", "configJSON"}, knownFileKeys()},
		{"transport security keys", []string{"securityConfig"}, jsonKeys(reflect.TypeOf(securityConfig{}))},
	} {
		for k := range etcdConfigKeys(t, tc.etcd...) {
			if !tc.ours[k] {
				t.Errorf("%s: etcd's %q is not read by basalt", tc.what, k)
			}
		}
	}
}
