package e2e

import (
	"context"
	"errors"
	"fmt"
	"slices"
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

// TestLearnerCatchesUpBySnapshotAndIsPromoted: a learner added to a
// cluster whose log was compacted catches up by the leader's snapshot
// (the leader's last periodic snapshot predates the learner: it must not
// be the one sent, raft refuses a snapshot that does not name it),
// serves serializable reads but refuses what etcd's learners refuse, is
// refused promotion before it has caught up, and is promoted after; a
// second learner is refused past --max-learners.
func TestLearnerCatchesUpBySnapshotAndIsPromoted(t *testing.T) {
	c := NewCluster(t, 1, &Options{Args: []string{"--snapshot-count=100", "--snapshot-catchup-entries=5"}})
	cli := c.Client(t)
	for i := range 150 {
		if _, err := cli.Put(testCtx(t), fmt.Sprintf("k/%03d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	m := c.PrepareMember(t, "l1")
	resp, err := cli.MemberAddAsLearner(testCtx(t), []string{m.PeerURL()})
	if err != nil {
		t.Fatal(err)
	}
	if !resp.Member.IsLearner || len(resp.Members) != 2 {
		t.Fatalf("MemberAddAsLearner: %v", resp)
	}
	id := resp.Member.ID
	if _, err := cli.MemberPromote(testCtx(t), id); !errors.Is(err, rpctypes.ErrMemberLearnerNotReady) {
		t.Fatalf("promote before the learner started: got %v, want %v", err, rpctypes.ErrMemberLearnerNotReady)
	}
	other := c.PrepareMember(t, "l2")
	if _, err := cli.MemberAddAsLearner(testCtx(t), []string{other.PeerURL()}); !errors.Is(err, rpctypes.ErrTooManyLearners) {
		t.Fatalf("a second learner with --max-learners=1: got %v, want %v", err, rpctypes.ErrTooManyLearners)
	}
	if err := c.Join(m); err != nil {
		t.Fatalf("join the learner: %v\n%s", err, m.Logs())
	}
	lc := NewClient(t, []string{m.ClientURL()}, nil)
	testutil.WaitUntil(t, 30*time.Second, "the learner to catch up", func() bool {
		r, err := lc.Get(testCtx(t), "k/", clientv3.WithPrefix(), clientv3.WithSerializable(), clientv3.WithCountOnly())
		return err == nil && r.Count == 150
	})
	if !strings.Contains(m.Logs(), "applied snapshot") {
		t.Errorf("the learner caught up without the leader's snapshot:\n%s", m.Logs())
	}
	if _, err := lc.Get(testCtx(t), "k/000"); !errors.Is(err, rpctypes.ErrGRPCNotSupportedForLearner) && (err == nil || !strings.Contains(err.Error(), "rpc not supported for learner")) {
		t.Errorf("linearizable read on a learner: got %v", err)
	}
	if _, err := lc.Put(testCtx(t), "k/x", "v"); err == nil || !strings.Contains(err.Error(), "rpc not supported for learner") {
		t.Errorf("put on a learner: got %v", err)
	}
	st, err := lc.Status(testCtx(t), m.ClientURL())
	if err != nil || !st.IsLearner {
		t.Errorf("Status of the learner: %v, %v", st, err)
	}
	// The learner has caught up: the leader promotes it (asked through
	// the learner, which forwards to the leader).
	pc := NewClient(t, []string{m.ClientURL(), c.Members[0].ClientURL()}, nil)
	testutil.WaitUntil(t, 30*time.Second, "the promotion", func() bool {
		_, err := pc.MemberPromote(testCtx(t), id)
		return err == nil
	})
	list, err := cli.MemberList(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, mem := range list.Members {
		if mem.IsLearner {
			t.Errorf("still a learner after promotion: %v", mem)
		}
	}
	if _, err := cli.MemberPromote(testCtx(t), id); !errors.Is(err, rpctypes.ErrMemberNotLearner) {
		t.Errorf("promote a voter: got %v, want %v", err, rpctypes.ErrMemberNotLearner)
	}
	putGet(t, NewClient(t, []string{m.ClientURL()}, nil), "k/after", "promoted")
	hashKVs(t, c, cli, 0)
}

// TestRemovedMemberStaysOut: a removed member that is started again with
// its data stops by itself (its peers answer that it was removed) and the
// cluster goes on serving; its ID can never be added back.
func TestRemovedMemberStaysOut(t *testing.T) {
	c := NewCluster(t, 3, nil)
	cli := c.Client(t)
	victim := c.Members[2]
	id := memberID(t, cli, victim)
	cli.SetEndpoints(c.Members[0].ClientURL(), c.Members[1].ClientURL())
	// Asked through itself: the answer is the removal's, even if the
	// member stops because its peers tell it was removed before it
	// applies the change.
	removeMember(t, c, NewClient(t, []string{victim.ClientURL()}, nil), victim)
	// Start it again, with its data: it must stop again, with status 0.
	c.Members = append(c.Members, victim)
	if err := victim.start(); err != nil {
		t.Fatal(err)
	}
	p := victim.Process()
	if code, err := p.Wait(60 * time.Second); err != nil || code != 0 || !strings.Contains(p.Output(), "the member has been permanently removed from the cluster") {
		t.Errorf("restarted removed member: status %d, %v; output:\n%s", code, err, p.Output())
	}
	c.Drop(victim)
	putGet(t, cli, "after", "removal")
	if _, err := cli.MemberRemove(testCtx(t), id); !errors.Is(err, rpctypes.ErrMemberNotFound) {
		t.Errorf("remove the removed member again: got %v, want %v", err, rpctypes.ErrMemberNotFound)
	}
}

// TestReplaceWipedMember: a member whose data dir is lost cannot start
// again as a new cluster's member; it is removed and added back with the
// same name and a new data dir, and catches up.
func TestReplaceWipedMember(t *testing.T) {
	c := NewCluster(t, 3, nil)
	cli := c.Client(t)
	w := startWriter(t, c)
	w.waitMore(t, 50)
	lost := c.Members[2]
	id := memberID(t, cli, lost)
	lost.Kill()
	if err := lost.WipeData(); err != nil {
		t.Fatal(err)
	}
	// Bootstrapping again as "new" would fork the cluster: refused.
	if err := lost.start(); err != nil {
		t.Fatal(err)
	}
	p := lost.Process()
	if code, err := p.Wait(30 * time.Second); err != nil || code == 0 || !strings.Contains(p.Output(), "has already been bootstrapped") {
		t.Errorf("a wiped member restarted as new: status %d, %v; output:\n%s", code, err, p.Output())
	}
	c.Drop(lost)
	cli.SetEndpoints(c.Endpoints()...)
	w.cli.SetEndpoints(c.Endpoints()...)
	if _, err := cli.MemberRemove(testCtx(t), id); err != nil {
		t.Fatal(err)
	}
	w.waitMore(t, 50)
	addMember(t, c, cli, lost.Name, false)
	cli.SetEndpoints(c.Endpoints()...)
	w.waitMore(t, 50)
	w.verify(t, c)
}

// TestStrictReconfigCheck: with --strict-reconfig-check (the default) a
// change that would leave the cluster without a quorum of started,
// connected voters is refused with etcd's errors; without it, it is made.
func TestStrictReconfigCheck(t *testing.T) {
	for _, strict := range []bool{true, false} {
		t.Run(fmt.Sprintf("strict=%v", strict), func(t *testing.T) {
			c := NewCluster(t, 3, &Options{Args: []string{fmt.Sprintf("--strict-reconfig-check=%v", strict)}})
			cli := NewClient(t, []string{c.Members[0].ClientURL()}, nil)
			// Two voters that never start still leave three of five.
			for i := range 2 {
				m := c.PrepareMember(t, fmt.Sprintf("x%d", i))
				retryUnhealthy(t, "add "+m.Name, func(ctx context.Context) (*clientv3.MemberAddResponse, error) {
					return cli.MemberAdd(ctx, []string{m.PeerURL()})
				})
			}
			m := c.PrepareMember(t, "x2")
			_, err := cli.MemberAdd(testCtx(t), []string{m.PeerURL()})
			if strict && (err == nil || err.Error() != rpctypes.ErrMemberNotEnoughStarted.Error()) {
				t.Errorf("a sixth voter with three started: got %v, want %v", err, rpctypes.ErrMemberNotEnoughStarted)
			}
			if !strict && err != nil {
				t.Errorf("a sixth voter without the strict check: %v", err)
			}
		})
	}
	// A voter is not removed while the member asked is cut off from the
	// others.
	c := NewCluster(t, 3, nil)
	cli := NewClient(t, []string{c.Members[0].ClientURL()}, nil)
	id := memberID(t, cli, c.Members[0])
	c.Members[1].Kill()
	c.Members[2].Kill()
	if _, err := cli.MemberRemove(testCtx(t), id); !errors.Is(err, rpctypes.ErrUnhealthy) {
		t.Errorf("remove with the other voters down: got %v, want %v", err, rpctypes.ErrUnhealthy)
	}
}

// TestForceNewClusterThenGrow: after losing a majority, a survivor
// restarted with --force-new-cluster serves alone with its data, and the
// cluster is grown back to three members by adding new ones.
func TestForceNewClusterThenGrow(t *testing.T) {
	c := NewCluster(t, 3, nil)
	w := startWriter(t, c)
	w.waitMore(t, 100)
	w.finish()
	survivor := c.Members[0]
	// The survivor must hold what was acknowledged: wait for it, then lose
	// the other two.
	sc := NewClient(t, []string{survivor.ClientURL()}, nil)
	last := w.acked[len(w.acked)-1]
	testutil.WaitUntil(t, 30*time.Second, "the survivor to catch up", func() bool {
		r, err := sc.Get(testCtx(t), last, clientv3.WithSerializable())
		return err == nil && len(r.Kvs) == 1
	})
	c.Drop(c.Members[2])
	c.Drop(c.Members[1])
	survivor.Kill()
	args := survivor.args
	survivor.args = append(slices.Clone(args), "--force-new-cluster")
	survivor.Start(t)
	survivor.args = args
	survivor.Restart(t)
	list, err := sc.MemberList(testCtx(t))
	if err != nil || len(list.Members) != 1 {
		t.Fatalf("member list after --force-new-cluster: %v, %v", list, err)
	}
	w = &ackedWriter{acked: w.acked, tried: w.tried, stop: func() {}, done: make(chan struct{})}
	close(w.done)
	for _, name := range []string{"n1", "n2"} {
		addMember(t, c, sc, name, false)
	}
	putGet(t, c.Client(t), "after", "grown back")
	w.verify(t, c)
}

// TestJoinKilledBeforeItsLog: a joining member killed at its first write
// of raft state, before its log holds anything (no members, no entries),
// learns the members from its peers again when restarted, and joins.
func TestJoinKilledBeforeItsLog(t *testing.T) {
	c := NewCluster(t, 1, nil)
	cli := c.Client(t)
	putGet(t, cli, "before", "join")
	m := c.PrepareMember(t, "l1")
	if _, err := cli.MemberAddAsLearner(testCtx(t), []string{m.PeerURL()}); err != nil {
		t.Fatal(err)
	}
	c.Members = append(c.Members, m)
	m.args = c.memberArgs(m, c.InitialCluster(), "existing")
	m.Env = []string{ArmEnv("raftBeforeSave", "kill")}
	if err := m.StartNoWait(); err != nil {
		t.Fatal(err)
	}
	testutil.WaitUntil(t, 30*time.Second, "the joining member to be killed at raftBeforeSave", func() bool { return m.KilledAt("raftBeforeSave") })
	m.Env = nil
	m.Start(t)
	lc := NewClient(t, []string{m.ClientURL()}, nil)
	testutil.WaitUntil(t, 30*time.Second, "the learner to catch up", func() bool {
		r, err := lc.Get(testCtx(t), "before", clientv3.WithSerializable())
		return err == nil && len(r.Kvs) == 1
	})
}

// TestRefusedChangeReplayed: a conf change refused when applied (a new
// voter at a peer URL already taken) is refused again when a restart
// replays the log, although the membership it was judged against is gone
// by then: replayed as accepted, it would add a voter that does not exist
// and the lone member would never again have a quorum.
func TestRefusedChangeReplayed(t *testing.T) {
	c := NewCluster(t, 1, nil)
	cli := c.Client(t)
	m := c.Members[0]
	if _, err := cli.MemberAdd(testCtx(t), []string{m.PeerURL()}); !errors.Is(err, rpctypes.ErrPeerURLExist) {
		t.Fatalf("add a voter at a taken peer URL: got %v, want %v", err, rpctypes.ErrPeerURLExist)
	}
	putGet(t, cli, "before", "restart")
	m.Restart(t)
	putGet(t, cli, "after", "restart")
	list, err := cli.MemberList(testCtx(t))
	if err != nil || len(list.Members) != 1 {
		t.Fatalf("member list after the restart: %v, %v", list, err)
	}
}
