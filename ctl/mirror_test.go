package ctl_test

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/basaltkv/basalt/pkg/testutil"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestMakeMirror runs make-mirror between two basalt clusters: the keys
// under the prefix already on the source are copied, then the puts and
// deletes made while it runs follow, renamed to the destination prefix.
func TestMakeMirror(t *testing.T) {
	_, srcEp, _ := newCluster(t, 1, nil)
	_, destEp, _ := newCluster(t, 1, nil)
	src, dest := client(t, srcEp), client(t, destEp)
	ctx := context.Background()
	for _, kv := range [][2]string{{"app/a", "1"}, {"app/b", "2"}, {"gone", "x"}, {"other", "no"}} {
		if _, err := src.Put(ctx, kv[0], kv[1]); err != nil {
			t.Fatal(err)
		}
	}

	var out, errOut bytes.Buffer
	var exited chan error
	start := func(args ...string) (stop func()) {
		out.Reset()
		errOut.Reset()
		cmd := exec.Command(ctlPath(), append(a("--endpoints", srcEp, "make-mirror", destEp), args...)...)
		cmd.Env = cleanEnv(nil)
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited = make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		done := exited
		return sync.OnceFunc(func() {
			cmd.Process.Kill()
			<-done
		})
	}
	stop := start("--prefix", "app/", "--dest-prefix", "copy/", "--max-txn-ops", "2")
	defer func() { stop() }()

	// dump is the destination's key space.
	dump := func() map[string]string {
		resp, err := dest.Get(ctx, "", clientv3.WithPrefix())
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for _, kv := range resp.Kvs {
			m[string(kv.Key)] = string(kv.Value)
		}
		return m
	}
	waitMirror := func(what string, want map[string]string) {
		t.Helper()
		err := testutil.Poll(20*time.Second, func() error {
			got := dump()
			if equalMaps(got, want) {
				return nil
			}
			select {
			case err := <-exited:
				exited <- err // for stop
				t.Fatalf("make-mirror exited (%v) before %s\nstdout:\n%s\nstderr:\n%s", err, what, out.String(), errOut.String())
			default:
			}
			return fmt.Errorf("destination holds %v, want %v", got, want)
		})
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	waitMirror("the initial copy", map[string]string{"copy/a": "1", "copy/b": "2"})

	putC, err := src.Put(ctx, "app/c", "3")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Put(ctx, "other2", "no"); err != nil {
		t.Fatal(err)
	}
	// A transaction of three puts is applied in two (--max-txn-ops 2).
	if _, err := src.Txn(ctx).Then(clientv3.OpPut("app/d", "4"), clientv3.OpPut("app/e", "5"), clientv3.OpPut("app/a", "1b")).Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Delete(ctx, "app/b"); err != nil {
		t.Fatal(err)
	}
	mirrored := map[string]string{"copy/a": "1b", "copy/c": "3", "copy/d": "4", "copy/e": "5"}
	waitMirror("the changes made while mirroring", mirrored)
	stop()

	// --rev replays the changes from a revision on, without the initial
	// copy; --no-dest-prefix strips the prefix.
	stop = start("--prefix", "app/", "--no-dest-prefix", "--rev", strconv.FormatInt(putC.Header.Revision, 10))
	for k, v := range map[string]string{"a": "1b", "c": "3", "d": "4", "e": "5"} {
		mirrored[k] = v
	}
	waitMirror("the changes from --rev", mirrored)
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestMakeMirrorArgs: make-mirror's argument errors are etcdctl's.
func TestMakeMirrorArgs(t *testing.T) {
	_, ep, _ := newCluster(t, 1, nil)
	for _, tc := range []struct {
		args []string
		code int
		err  string
	}{
		{a("make-mirror"), 128, "Error: make-mirror takes one destination argument"},
		{a("make-mirror", ep, "--dest-prefix", "x", "--no-dest-prefix"), 128,
			"Error: `--dest-prefix` and `--no-dest-prefix` cannot be set at the same time, choose one"},
	} {
		r := runCtl(t, ctlPath(), append(a("--endpoints", ep), tc.args...), "", nil, 30*time.Second)
		if r.code != tc.code || errorLine(r.stderr) != tc.err {
			t.Errorf("%q: got %+v, want exit %d and %q", tc.args, r, tc.code, tc.err)
		}
	}
}
