package e2e

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/basaltkv/basalt/pkg/testutil"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestFailingAndSlowDisk runs a member whose fsyncs start failing (the
// BASALT_TEST_FSYNC_FAIL_AFTER hook) next to one whose fsyncs are slow
// (BASALT_TEST_FSYNC_DELAY): the failing member stops rather than go on
// without durability, the others keep serving, every acknowledged write
// survives, and the member restarted on a sound disk catches up.
func TestFailingAndSlowDisk(t *testing.T) {
	c := NewCluster(t, 3, nil)
	failing, slow, healthy := c.Members[0], c.Members[1], c.Members[2]
	for _, tc := range []struct {
		m   *Member
		env string
	}{
		{failing, "BASALT_TEST_FSYNC_FAIL_AFTER=40"},
		{slow, "BASALT_TEST_FSYNC_DELAY=20ms"},
	} {
		if code := tc.m.Stop(t); code != 0 {
			t.Fatalf("%s: exit status %d", tc.m.Name, code)
		}
		tc.m.Env = []string{tc.env}
		tc.m.Start(t)
	}
	cli := NewClient(t, []string{healthy.ClientURL()}, nil)
	var acked []string
	deadline := time.Now().Add(60 * time.Second)
	for !failing.Process().Exited() {
		if time.Now().After(deadline) {
			t.Fatalf("the member with a failing disk still runs after %d writes", len(acked))
		}
		key := fmt.Sprintf("disk-%04d", len(acked))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := cli.Put(ctx, key, key)
		cancel()
		if err != nil {
			// Only a put in flight when the failing member dies may fail:
			// if that member led, the proposal died with it (as in etcd).
			// It is not acknowledged, and not checked below.
			dead := testutil.Poll(10*time.Second, func() error {
				if !failing.Process().Exited() {
					return errors.New("still running")
				}
				return nil
			})
			if dead != nil {
				t.Fatalf("put %s with one member's disk failing: %v", key, err)
			}
			t.Logf("put %s failed as the member with a failing disk stopped: %v", key, err)
			break
		}
		acked = append(acked, key)
	}
	if code := failing.Process().ExitCode(); code == 0 {
		t.Error("the member with a failing disk exited with status 0")
	}
	if out := failing.Process().Output(); !LogContains(out, "injected fsync failure") {
		t.Errorf("its log does not say why it stopped:\n%s", out)
	}
	// Writes go on with two members, one of them slow.
	for i := range 20 {
		key := fmt.Sprintf("after-%02d", i)
		putGet(t, cli, key, key)
		acked = append(acked, key)
	}

	failing.Env = nil
	failing.Start(t)
	for _, m := range c.Members {
		mc := m.Client(t)
		testutil.WaitUntil(t, 30*time.Second, fmt.Sprintf("%s to hold every acknowledged write", m.Name), func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			resp, err := mc.Get(ctx, "", clientv3.WithPrefix(), clientv3.WithSerializable(), clientv3.WithKeysOnly())
			if err != nil {
				return false
			}
			have := map[string]bool{}
			for _, kv := range resp.Kvs {
				have[string(kv.Key)] = true
			}
			for _, k := range acked {
				if !have[k] {
					return false
				}
			}
			return true
		})
	}
}
