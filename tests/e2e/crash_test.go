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
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Crash tests: a member is killed (SIGKILL, by the crash point itself) at
// each named point between the steps of persisting and installing state,
// restarted, and must come back: it starts, catches up, holds every write
// acknowledged before and during the crash, and every member has the same
// data and HashKV at the same revision.

// onLeader are the points armed on the leader of a 3-member cluster (the
// others on a follower): every kind of step is crashed on both.
var onLeader = map[string]bool{
	"raftBeforeLeaderSend": true, "raftBeforeSave": true, "raftBeforeAdvance": true, "afterCommit": true,
	"walAfterCutRename": true, "snapshotBeforeWALSaveSnapshot": true, "compactBeforeCommitBatch": true,
	"defragAfterRename": true,
}

// crashArgs make snapshots, log compaction, segment cuts and purges
// frequent.
var crashArgs = []string{"--snapshot-count=20", "--snapshot-catchup-entries=5", "--max-wals=1", "--max-snapshots=1"}

func TestCrashAtFailpoints(t *testing.T) {
	if testing.Short() {
		t.Skip("kills real processes at every crash point")
	}
	for _, size := range []int{1, 3} {
		t.Run(fmt.Sprintf("%dmember", size), func(t *testing.T) {
			c := NewCluster(t, size, &Options{
				Env:  []string{FailpointsEnv, "BASALT_TEST_WAL_SEGMENT_SIZE=65536"},
				Args: crashArgs,
			})
			h := &crashHarness{c: c, writes: map[string]*keyWrites{}}
			h.checkCoverage(t)
			for _, cp := range CrashPoints {
				if cp.Trigger == TriggerInstall && size == 1 {
					continue // needs a leader sending a snapshot
				}
				if !t.Run(cp.Name, func(t *testing.T) { h.run(t, cp) }) {
					return // the cluster may be left broken: stop here
				}
			}
		})
	}
}

// crashHarness runs the cases of one cluster in turn, keeping every
// acknowledged write.
type crashHarness struct {
	c  *Cluster
	mu sync.Mutex
	// writes holds, by key, every put tried and which was acknowledged.
	writes map[string]*keyWrites
	seq    int
}

// checkCoverage fails t unless CrashPoints lists exactly the points the
// member declares.
func (h *crashHarness) checkCoverage(t *testing.T) {
	t.Helper()
	points, err := h.c.Members[0].Failpoints()
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, cp := range CrashPoints {
		listed = append(listed, cp.Name)
		if _, ok := points[cp.Name]; !ok {
			t.Errorf("CrashPoints lists %s, which the member does not declare", cp.Name)
		}
	}
	for p := range points {
		if !slices.Contains(listed, p) {
			t.Errorf("crash point %s is missing from CrashPoints", p)
		}
	}
}

// keyWrites are the values a key was given, in order, and the index of
// the last one acknowledged (-1: none). A value tried after it may have
// taken effect (its outcome unknown), an earlier one may not.
type keyWrites struct {
	values []string
	acked  int
}

// tried records that key is about to be given value, and returns a
// function that records the acknowledgement.
func (h *crashHarness) tried(key, value string) (ack func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	kw := h.writes[key]
	if kw == nil {
		kw = &keyWrites{acked: -1}
		h.writes[key] = kw
	}
	kw.values = append(kw.values, value)
	i := len(kw.values) - 1
	return func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		kw.acked = max(kw.acked, i)
	}
}

// holdsAcked reports whether value is what key may hold: the last
// acknowledged value or one tried after it.
func (kw *keyWrites) holdsAcked(value string, present bool) bool {
	if kw.acked < 0 {
		return true
	}
	return present && slices.Contains(kw.values[kw.acked:], value)
}

// target is the member a case arms: the leader, or a follower.
func (h *crashHarness) target(t *testing.T, onLeader bool) *Member {
	t.Helper()
	if len(h.c.Members) == 1 {
		return h.c.Members[0]
	}
	leader, followers, _ := roles(t, h.c, h.c.Client(t))
	if onLeader {
		return leader
	}
	return followers[h.seq%len(followers)]
}

// others is a client of every member but m (of m alone in a one-member
// cluster): it keeps working while m is down.
func (h *crashHarness) others(t *testing.T, m *Member) *clientv3.Client {
	var eps []string
	for _, o := range h.c.Members {
		if o != m {
			eps = append(eps, o.ClientURL())
		}
	}
	if len(eps) == 0 {
		eps = []string{m.ClientURL()}
	}
	return NewClient(t, eps, nil)
}

func (h *crashHarness) run(t *testing.T, cp CrashPoint) {
	h.seq++
	m := h.target(t, onLeader[cp.Name])
	cli := h.others(t, m)
	prefix := fmt.Sprintf("crash/%03d-%s/", h.seq, cp.Name)
	t.Logf("arming %s on %s (%s)", cp.Name, m.Name, cp.Trigger)

	switch cp.Trigger {
	case TriggerRestart:
		if code := m.Stop(t); code != 0 {
			t.Fatalf("%s exited with %d on SIGTERM", m.Name, code)
		}
		h.startArmed(t, m, cp.Name)
	case TriggerInstall:
		m.Kill()
		// Past what the leader keeps: --snapshot-count=20 with 5 entries
		// kept behind its snapshot.
		h.putN(t, cli, prefix+"missed/", 50, 64)
		h.startArmed(t, m, cp.Name)
	default:
		if err := m.SetFailpoint(cp.Name, "kill"); err != nil {
			t.Fatal(err)
		}
	}

	// Drive the trigger until the member dies at the point.
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		h.drive(ctx, cli, m, cp.Trigger, prefix)
	}()
	testutil.WaitUntil(t, 60*time.Second, cp.Name+" to be reached on "+m.Name, func() bool { return m.KilledAt(cp.Name) })
	cancel()
	wg.Wait()

	// Back without the point armed.
	m.Env = nil
	m.Start(t)
	h.verify(t, prefix)
}

// startArmed starts m with the point armed from its first instruction.
func (h *crashHarness) startArmed(t *testing.T, m *Member, point string) {
	t.Helper()
	m.Env = []string{ArmEnv(point, "kill")}
	if err := m.StartNoWait(); err != nil {
		t.Fatal(err)
	}
}

// drive performs the trigger until ctx ends. Its requests may fail (the
// member they reach died); only acknowledged puts are recorded.
func (h *crashHarness) drive(ctx context.Context, cli *clientv3.Client, m *Member, trig CrashTrigger, prefix string) {
	for i := 0; ctx.Err() == nil; i++ {
		switch trig {
		case TriggerWrite, TriggerSnapshot, TriggerInstall, TriggerRestart:
			// 2 KiB values: a 64 KiB segment is cut every ~30 puts.
			h.put(ctx, cli, fmt.Sprintf("%sp%05d", prefix, i), 2048)
		case TriggerCompact:
			// Two batches of revisions to delete (1,000 a batch): 12
			// transactions of 110 puts over the same 110 keys.
			for round := 0; round < 12 && ctx.Err() == nil; round++ {
				h.txnPut(ctx, cli, fmt.Sprintf("%sc%d/", prefix, i), 110, round)
			}
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			if resp, err := cli.Get(rctx, "crash/", clientv3.WithPrefix(), clientv3.WithCountOnly()); err == nil {
				_, _ = cli.Compact(rctx, resp.Header.Revision)
			}
			cancel()
		case TriggerDefrag:
			h.put(ctx, cli, fmt.Sprintf("%sp%05d", prefix, i), 2048)
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_, _ = cli.Defragment(rctx, m.ClientURL())
			cancel()
			time.Sleep(100 * time.Millisecond) // pace: a defragmentation copies the whole file
		}
	}
}

// put writes key once, recording it if acknowledged.
func (h *crashHarness) put(ctx context.Context, cli *clientv3.Client, key string, size int) bool {
	val := key + "=" + strings.Repeat("v", size)
	ack := h.tried(key, val)
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if _, err := cli.Put(pctx, key, val); err != nil {
		return false
	}
	ack()
	return true
}

// putN writes n keys under prefix, each acknowledged (retried through
// a leader change).
func (h *crashHarness) putN(t *testing.T, cli *clientv3.Client, prefix string, n, size int) {
	t.Helper()
	for i := range n {
		key := fmt.Sprintf("%s%04d", prefix, i)
		testutil.WaitUntil(t, 30*time.Second, "a put of "+key, func() bool { return h.put(context.Background(), cli, key, size) })
	}
}

// txnPut writes n keys under prefix in one transaction, all with values
// of this round.
func (h *crashHarness) txnPut(ctx context.Context, cli *clientv3.Client, prefix string, n, round int) {
	ops := make([]clientv3.Op, n)
	acks := make([]func(), n)
	for k := range n {
		key, val := fmt.Sprintf("%sk%03d", prefix, k), fmt.Sprintf("round %d", round)
		acks[k] = h.tried(key, val)
		ops[k] = clientv3.OpPut(key, val)
	}
	tctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if _, err := cli.Txn(tctx).Then(ops...).Commit(); err != nil {
		return
	}
	for _, ack := range acks {
		ack()
	}
}

// verify checks that the cluster serves writes, and that every member,
// caught up to one revision, holds every acknowledged write (under the
// case's prefix and all earlier ones) with the same data and HashKV.
func (h *crashHarness) verify(t *testing.T, prefix string) {
	t.Helper()
	cli := h.c.Client(t)
	h.putN(t, cli, prefix+"after/", 1, 8)
	ctx := testCtx(t)
	resp, err := cli.Get(ctx, "crash/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	rev := resp.Header.Revision

	h.mu.Lock()
	writes := make(map[string]keyWrites, len(h.writes))
	for k, kw := range h.writes {
		writes[k] = keyWrites{values: slices.Clone(kw.values), acked: kw.acked}
	}
	h.mu.Unlock()

	var first map[string]string
	var firstHash uint32
	for i, m := range h.c.Members {
		kvs := waitCaughtUp(t, m, "crash/", rev, 60*time.Second)
		for k, kw := range writes {
			if got, ok := kvs[k]; !kw.holdsAcked(got, ok) {
				t.Fatalf("%s lost an acknowledged write: %s = %.40q (present %v), want %.40q or a value tried after it", m.Name, k, got, ok, kw.values[kw.acked])
			}
		}
		hk, err := cli.HashKV(ctx, m.ClientURL(), rev)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("HashKV of %s: %v", m.Name, err)
			}
			t.Fatalf("HashKV of %s at %d: %v", m.Name, rev, err)
		}
		if i == 0 {
			first, firstHash = kvs, hk.Hash
			continue
		}
		sameKVs(t, m.Name+" vs "+h.c.Members[0].Name, kvs, first)
		if hk.Hash != firstHash {
			t.Fatalf("HashKV at %d: %s has %d, %s has %d", rev, m.Name, hk.Hash, h.c.Members[0].Name, firstHash)
		}
	}
}
