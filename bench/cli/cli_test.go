package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestFlagsAndDefaults pins the flags and defaults taken from etcd's
// benchmark tool: scripts written for it must run unchanged.
func TestFlagsAndDefaults(t *testing.T) {
	root := NewRoot(context.Background(), strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})
	tests := []struct {
		cmd   []string
		flags map[string]string
	}{
		{nil, map[string]string{
			"endpoints": "[127.0.0.1:2379]", "conns": "1", "clients": "1", "precise": "false", "sample": "false",
			"cert": "", "key": "", "cacert": "", "insecure-skip-tls-verify": "false", "user": "",
			"dial-timeout": "0s", "target-leader": "false", "auto-sync-interval": "0s",
		}},
		{[]string{"put"}, map[string]string{
			"key-size": "8", "val-size": "8", "rate": "0", "total": "10000", "key-space-size": "1",
			"sequential-keys": "false", "compact-interval": "0s", "compact-index-delta": "1000", "check-hashkv": "false",
		}},
		{[]string{"range"}, map[string]string{"rate": "0", "total": "10000", "consistency": "l", "limit": "0", "count-only": "false"}},
		{[]string{"txn-put"}, map[string]string{"key-size": "8", "val-size": "8", "txn-ops": "1", "rate": "0", "total": "10000", "key-space-size": "1"}},
		{[]string{"txn-mixed"}, map[string]string{
			"key-size": "8", "val-size": "8", "rate": "0", "total": "10000", "end-key": "", "limit": "1000",
			"key-space-size": "1", "consistency": "l", "rw-ratio": "1",
		}},
		{[]string{"watch"}, map[string]string{
			"streams": "10", "watch-per-stream": "100", "watched-key-total": "1", "put-rate": "0", "put-total": "1000",
			"key-size": "32", "key-space-size": "1", "sequential-keys": "false",
		}},
		{[]string{"watch-get"}, map[string]string{"watchers": "10000", "streams": "1", "events": "8"}},
		{[]string{"watch-latency"}, map[string]string{
			"streams": "10", "watchers-per-stream": "10", "prevkv": "false", "put-total": "1000", "put-rate": "100",
			"key-size": "32", "val-size": "32",
		}},
		{[]string{"lease-keepalive"}, map[string]string{"total": "10000"}},
		{[]string{"stm"}, map[string]string{
			"isolation": "r", "keys": "1", "total": "10000", "keys-per-txn": "1", "txn-wr-percent": "50",
			"stm-locker": "stm", "val-size": "8", "rate": "0",
		}},
		{[]string{"mvcc"}, map[string]string{"batch-interval": "100", "batch-limit": "10000"}},
		{[]string{"mvcc", "put"}, map[string]string{
			"total": "100", "key-size": "64", "value-size": "64", "txn": "false", "txn-ops": "1", "cpuprofile": "", "memprofile": "",
		}},
		{[]string{"mvcc", "range"}, map[string]string{"total": "10000", "keys": "10000", "range-size": "1", "key-size": "64", "value-size": "64"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(append([]string{"basalt-bench"}, tt.cmd...), " "), func(t *testing.T) {
			cmd, _, err := root.Find(tt.cmd)
			if err != nil {
				t.Fatal(err)
			}
			for name, def := range tt.flags {
				f := cmd.Flags().Lookup(name)
				if f == nil {
					f = cmd.PersistentFlags().Lookup(name)
				}
				if f == nil {
					f = cmd.InheritedFlags().Lookup(name)
				}
				if f == nil {
					t.Errorf("no --%s", name)
					continue
				}
				if f.DefValue != def {
					t.Errorf("--%s defaults to %q, want %q", name, f.DefValue, def)
				}
			}
		})
	}
}

func TestBadInvocations(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"range"}, "accepts between 1 and 2 arg(s)"},
		{[]string{"put", "extra"}, "takes no arguments"},
		{[]string{"range", "foo", "--consistency", "x"}, `unknown consistency "x"`},
		{[]string{"put", "--key-space-size", "0"}, "expected positive --key-space-size"},
		{[]string{"stm", "--isolation", "q"}, `unknown isolation "q"`},
		{[]string{"mvcc", "range", "--keys", "10", "--range-size", "11"}, "range-size"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := Main(context.Background(), tt.args, strings.NewReader(""), &stdout, &stderr); code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tt.want)
			}
		})
	}
}
