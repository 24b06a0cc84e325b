package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/basaltkv/basalt/pkg/testutil"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// ackedWriter puts keys one after another until stopped and remembers
// those acknowledged: a membership change must lose none of them.
type ackedWriter struct {
	cli  *clientv3.Client
	stop context.CancelFunc
	done chan struct{}

	mu    sync.Mutex
	acked []string
	tried int
}

func startWriter(t *testing.T, c *Cluster) *ackedWriter {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &ackedWriter{cli: c.Client(t), stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for i := 0; ctx.Err() == nil; i++ {
			key := fmt.Sprintf("w/%06d", i)
			octx, ocancel := context.WithTimeout(ctx, 5*time.Second)
			_, err := w.cli.Put(octx, key, key)
			ocancel()
			w.mu.Lock()
			w.tried++
			if err == nil {
				w.acked = append(w.acked, key)
			}
			w.mu.Unlock()
			if err != nil {
				select {
				case <-ctx.Done():
				case <-time.After(50 * time.Millisecond):
				}
			}
		}
	}()
	t.Cleanup(w.finish)
	return w
}

func (w *ackedWriter) finish() {
	w.stop()
	<-w.done
}

// count is the number of acknowledged writes so far.
func (w *ackedWriter) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked)
}

// waitMore waits until n more writes are acknowledged: the cluster serves.
func (w *ackedWriter) waitMore(t *testing.T, n int) {
	t.Helper()
	want := w.count() + n
	testutil.WaitUntil(t, 30*time.Second, fmt.Sprintf("%d acknowledged writes", want), func() bool { return w.count() >= want })
}

// verify stops the writer and checks that every member of c holds every
// acknowledged write, at one revision with one HashKV.
func (w *ackedWriter) verify(t *testing.T, c *Cluster) {
	t.Helper()
	w.finish()
	cli := c.Client(t)
	resp, err := cli.Get(testCtx(t), "w/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	rev := resp.Header.Revision
	for _, m := range c.Members {
		mc := NewClient(t, []string{m.ClientURL()}, c.ClientTLS(t))
		var got *clientv3.GetResponse
		testutil.WaitUntil(t, 30*time.Second, m.Name+" to catch up", func() bool {
			got, err = mc.Get(testCtx(t), "w/", clientv3.WithPrefix(), clientv3.WithSerializable(), clientv3.WithRev(rev))
			return err == nil
		})
		have := make(map[string]bool, len(got.Kvs))
		for _, kv := range got.Kvs {
			have[string(kv.Key)] = true
		}
		w.mu.Lock()
		for _, k := range w.acked {
			if !have[k] {
				t.Errorf("%s lost the acknowledged write %s", m.Name, k)
			}
		}
		w.mu.Unlock()
	}
	hashKVs(t, c, cli, rev)
	t.Logf("%d writes tried, %d acknowledged, all on every member", w.tried, len(w.acked))
}

// retryUnhealthy repeats a membership change the strict check refuses
// while the member asked has not been connected to its peers for long
// enough (etcd's ErrUnhealthy), as an operator would.
func retryUnhealthy[T any](t *testing.T, what string, f func(ctx context.Context) (T, error)) T {
	t.Helper()
	var out T
	err := testutil.Poll(30*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		var err error
		out, err = f(ctx)
		if errors.Is(err, rpctypes.ErrUnhealthy) {
			return err
		}
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return out
}

// addMember adds a new member named name and starts it, joining.
func addMember(t *testing.T, c *Cluster, cli *clientv3.Client, name string, learner bool) (*Member, uint64) {
	t.Helper()
	m := c.PrepareMember(t, name)
	resp := retryUnhealthy(t, "add "+name, func(ctx context.Context) (*clientv3.MemberAddResponse, error) {
		if learner {
			return cli.MemberAddAsLearner(ctx, []string{m.PeerURL()})
		}
		return cli.MemberAdd(ctx, []string{m.PeerURL()})
	})
	if err := c.Join(m); err != nil {
		t.Fatalf("join %s: %v\n%s", name, err, m.Logs())
	}
	return m, resp.Member.ID
}

// memberID is the ID of member m, from the member list.
func memberID(t *testing.T, cli *clientv3.Client, m *Member) uint64 {
	t.Helper()
	resp, err := cli.MemberList(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, mem := range resp.Members {
		if len(mem.PeerURLs) == 1 && mem.PeerURLs[0] == m.PeerURL() {
			return mem.ID
		}
	}
	t.Fatalf("%s is not in the member list %v", m.Name, resp.Members)
	return 0
}

// removeMember removes m and waits until its process stops by itself, as
// a removed member must, with etcd's message and status 0.
func removeMember(t *testing.T, c *Cluster, cli *clientv3.Client, m *Member) {
	t.Helper()
	id := memberID(t, cli, m)
	retryUnhealthy(t, "remove "+m.Name, func(ctx context.Context) (*clientv3.MemberRemoveResponse, error) {
		return cli.MemberRemove(ctx, id)
	})
	p := m.Process()
	testutil.WaitUntil(t, 30*time.Second, m.Name+" to stop once removed", p.Exited)
	if code := p.ExitCode(); code != 0 || !strings.Contains(p.Output(), "the member has been permanently removed from the cluster") {
		t.Errorf("removed %s exited with status %d; output:\n%s", m.Name, code, p.Output())
	}
	c.Drop(m)
}

// TestGrowAndShrink grows a cluster 1 → 3 → 5 and shrinks it back to one
// member (the first member, which led, among those removed) while a
// client writes: every acknowledged write is on every member after each
// step, and every removed member stops by itself.
func TestGrowAndShrink(t *testing.T) {
	c := NewCluster(t, 1, nil)
	cli := c.Client(t)
	w := startWriter(t, c)
	w.waitMore(t, 20)
	for _, name := range []string{"m1", "m2", "m3", "m4"} {
		addMember(t, c, cli, name, false)
		cli.SetEndpoints(c.Endpoints()...)
		w.cli.SetEndpoints(c.Endpoints()...)
		w.waitMore(t, 20)
		if n := len(c.Members); n == 3 || n == 5 {
			list, err := cli.MemberList(testCtx(t))
			if err != nil {
				t.Fatal(err)
			}
			if len(list.Members) != n {
				t.Fatalf("member list after growing to %d: %v", n, list.Members)
			}
			for _, mem := range list.Members {
				if mem.Name == "" || len(mem.ClientURLs) == 0 || mem.IsLearner {
					t.Errorf("member %x has not started as a voter: %v", mem.ID, mem)
				}
			}
		}
	}
	w.verify(t, c)
	w = startWriter(t, c)
	for _, name := range []string{"m0", "m3", "m1", "m4"} {
		var m *Member
		for _, x := range c.Members {
			if x.Name == name {
				m = x
			}
		}
		removeMember(t, c, cli, m)
		cli.SetEndpoints(c.Endpoints()...)
		w.cli.SetEndpoints(c.Endpoints()...)
		w.waitMore(t, 20)
	}
	if len(c.Members) != 1 || c.Members[0].Name != "m2" {
		t.Fatalf("left with %v", c.Endpoints())
	}
	w.verify(t, c)
}
