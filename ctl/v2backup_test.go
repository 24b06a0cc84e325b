package ctl_test

import (
	"context"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/basaltkv/basalt/tests/e2e"
)

// TestV2BackupBasaltDataDir backs up a stopped basalt member's data dir
// with `ETCDCTL_API=2 basaltctl backup --with-v3`: the copy starts with
// --force-new-cluster and serves the same keys.
func TestV2BackupBasaltDataDir(t *testing.T) {
	c := e2e.NewCluster(t, 1, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Client(t).Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	c.Stop(t)
	dst := filepath.Join(t.TempDir(), "backup")
	r := runCtl(t, ctlPath(), []string{"backup", "--data-dir", c.Members[0].DataDir, "--backup-dir", dst, "--with-v3"}, "", []string{"ETCDCTL_API=2"}, 60*time.Second)
	if r.code != 0 || r.stdout != "" {
		t.Fatalf("backup: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	// What it logs is etcdctl 3.4's log layout.
	logLine := regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} I \| ignoring `)
	for _, l := range splitLines(r.stderr) {
		if !logLine.MatchString(l) {
			t.Errorf("backup log line %q is not etcdctl 3.4's", l)
		}
	}
	client, peer := newV2URLs(t)
	basalt := v2Server{name: "basalt", bin: e2e.Binary(), extra: []string{"--force-new-cluster"}}
	m := startV2Member(t, basalt, dst, "restored", client, peer, "", "new")
	resp, err := e2e.NewClient(t, []string{m.clientURL}, nil).Get(ctx, "k")
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v" {
		t.Fatalf("get k from the backup: %v (%v), want v", resp, err)
	}
}
