package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/basaltkv/basalt/pkg/testutil"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// roles finds the leader of c (polling until the running members agree)
// and the IDs of every member by name.
func roles(t *testing.T, c *Cluster, cli *clientv3.Client) (leader *Member, followers []*Member, ids map[string]uint64) {
	t.Helper()
	ctx := testCtx(t)
	ml, err := cli.MemberList(ctx)
	if err != nil {
		t.Fatalf("member list: %v", err)
	}
	ids = map[string]uint64{}
	for _, m := range ml.Members {
		ids[m.Name] = m.ID
	}
	id, err := waitLeader(t, c, cli, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range c.Members {
		if ids[m.Name] == id {
			leader = m
		} else {
			followers = append(followers, m)
		}
	}
	if leader == nil {
		t.Fatalf("leader %x is no member", id)
	}
	return leader, followers, ids
}

// waitCaughtUp polls m's serializable (local) read of prefix until its
// revision reaches rev, and returns what it holds under prefix then.
func waitCaughtUp(t *testing.T, m *Member, prefix string, rev int64, timeout time.Duration) map[string]string {
	t.Helper()
	cli := m.Client(t)
	var kvs map[string]string
	err := testutil.Poll(timeout, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithSerializable())
		cancel()
		if err != nil {
			return err
		}
		if resp.Header.Revision < rev {
			return fmt.Errorf("local revision %d, want %d", resp.Header.Revision, rev)
		}
		kvs = map[string]string{}
		for _, kv := range resp.Kvs {
			kvs[string(kv.Key)] = string(kv.Value)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%s: %v", m.Name, err)
	}
	return kvs
}

// sameKVs fails t unless got holds exactly want.
func sameKVs(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d keys, want %d", what, len(got), len(want))
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Fatalf("%s: %s = %q (present %v), want %q", what, k, g, ok, v)
		}
	}
}

// TestLeaderKillDuringWrites SIGKILLs the leader while several clients
// write: the others elect a leader, the clients fail over, every
// acknowledged put survives, and the old leader catches up on restart.
func TestLeaderKillDuringWrites(t *testing.T) {
	c := NewCluster(t, 3, nil)
	cli := c.Client(t)
	leader, followers, ids := roles(t, c, cli)

	const writers = 4
	var (
		mu    sync.Mutex
		acked = map[string]string{}
		// afterKill counts puts acknowledged after the kill.
		afterKill atomic.Int64
		killed    atomic.Bool
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each writer has its own client of every member, as separate
			// processes would.
			wcli, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), DialTimeout: 5 * time.Second, Logger: cli.GetLogger()})
			if err != nil {
				t.Error(err)
				return
			}
			defer wcli.Close()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key, val := fmt.Sprintf("/kill/w%d/%05d", w, i), fmt.Sprintf("v%d-%d", w, i)
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				_, err := wcli.Put(ctx, key, val)
				cancel()
				if err != nil {
					// Unknown outcome: not acknowledged, so not checked.
					continue
				}
				mu.Lock()
				acked[key] = val
				mu.Unlock()
				if killed.Load() {
					afterKill.Add(1)
				}
			}
		}()
	}
	ackedCount := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	// waitPuts waits for count to reach 100. It stops the writers before
	// failing t: they must not outlive the test.
	waitPuts := func(what string, count func() int) {
		t.Helper()
		err := testutil.Poll(30*time.Second, func() error {
			if n := count(); n < 100 {
				return fmt.Errorf("%d puts %s, want 100", n, what)
			}
			return nil
		})
		if err != nil {
			close(stop)
			wg.Wait()
			t.Fatal(err)
		}
	}
	waitPuts("before the kill", ackedCount)
	leader.Kill()
	killed.Store(true)
	start := time.Now()
	waitPuts("after the kill", func() int { return int(afterKill.Load()) })
	t.Logf("writes resumed %v after the kill", time.Since(start))
	close(stop)
	wg.Wait()

	newLeader, err := waitLeader(t, c, cli, ids[leader.Name])
	if err != nil {
		t.Fatal(err)
	}
	if newLeader == ids[leader.Name] {
		t.Fatalf("killed member %s still leads", leader.Name)
	}

	// Every acknowledged put is there, through each survivor.
	ctx := testCtx(t)
	var rev int64
	for _, m := range followers {
		resp, err := m.Client(t).Get(ctx, "/kill/", clientv3.WithPrefix())
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, kv := range resp.Kvs {
			got[string(kv.Key)] = string(kv.Value)
		}
		for k, v := range acked {
			if got[k] != v {
				t.Fatalf("%s: acknowledged %s=%s reads %q", m.Name, k, v, got[k])
			}
		}
		// Puts whose outcome was unknown may be there too, nothing else.
		for k, v := range got {
			var w, i int
			if _, err := fmt.Sscanf(k, "/kill/w%d/%05d", &w, &i); err != nil || v != fmt.Sprintf("v%d-%d", w, i) {
				t.Fatalf("%s: unexpected %s=%s", m.Name, k, v)
			}
		}
		rev = max(rev, resp.Header.Revision)
	}
	t.Logf("%d puts acknowledged, %d after the kill", len(acked), afterKill.Load())

	// The old leader restarts as a follower and catches up.
	leader.Start(t)
	all, err := followers[0].Client(t).Get(ctx, "/kill/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, kv := range all.Kvs {
		want[string(kv.Key)] = string(kv.Value)
	}
	sameKVs(t, "restarted old leader", waitCaughtUp(t, leader, "/kill/", rev, 30*time.Second), want)
	putGet(t, leader.Client(t), "/kill/after", "restart")
}

// TestFollowerCatchUp stops a follower, writes, and restarts it: it must
// catch up, from the leader's log when the leader still holds the
// entries it missed, from a snapshot of the leader's database when the
// leader has compacted its log past them.
func TestFollowerCatchUp(t *testing.T) {
	tests := []struct {
		name string
		args []string
		// writes are made while the follower is down.
		writes int
		// bySnapshot: the leader must send a database snapshot.
		bySnapshot bool
		// kill stops the follower with SIGKILL rather than SIGTERM.
		kill bool
	}{
		{name: "by log", writes: 200},
		{
			name: "by snapshot",
			kill: true,
			// A snapshot every 50 entries that keeps only 10 of them for
			// followers behind: 300 writes put a stopped follower out of
			// the log's reach. (--snapshot-catchup-entries is etcd's flag
			// for SnapshotCatchUpEntries, 5000 by default.)
			args:       []string{"--snapshot-count", "50", "--snapshot-catchup-entries", "10"},
			writes:     300,
			bySnapshot: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewCluster(t, 3, &Options{Args: tt.args})
			cli := c.Client(t)
			leader, followers, ids := roles(t, c, cli)
			lagger := followers[0]
			ctx := testCtx(t)
			if _, err := cli.Put(ctx, "/catch/before", "stop"); err != nil {
				t.Fatal(err)
			}
			// A lease known before the gap, one granted during it: the
			// follower must know both, with their keys, once caught up.
			oldLease, err := cli.Grant(ctx, 600)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := cli.Put(ctx, "/catch/leased-old", "x", clientv3.WithLease(oldLease.ID)); err != nil {
				t.Fatal(err)
			}
			if tt.kill {
				lagger.Kill()
			} else if code := lagger.Stop(t); code != 0 {
				t.Fatalf("%s exited with status %d", lagger.Name, code)
			}
			want := map[string]string{"/catch/before": "stop", "/catch/leased-old": "x", "/catch/leased-new": "y"}
			newLease, err := cli.Grant(ctx, 600)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := cli.Put(ctx, "/catch/leased-new", "y", clientv3.WithLease(newLease.ID)); err != nil {
				t.Fatal(err)
			}
			writer := leader.Client(t)
			var rev int64
			for i := range tt.writes {
				k, v := fmt.Sprintf("/catch/%04d", i), fmt.Sprint(i)
				resp, err := writer.Put(ctx, k, v)
				if err != nil {
					t.Fatal(err)
				}
				want[k] = v
				rev = resp.Header.Revision
				if i == tt.writes/2 {
					// Deletes and a compaction in the history missed.
					if _, err := writer.Delete(ctx, "/catch/0000"); err != nil {
						t.Fatal(err)
					}
					delete(want, "/catch/0000")
					if _, err := writer.Compact(ctx, resp.Header.Revision); err != nil {
						t.Fatal(err)
					}
				}
			}
			lagger.Start(t)
			sameKVs(t, lagger.Name, waitCaughtUp(t, lagger, "/catch/", rev, 30*time.Second), want)

			// Its own endpoint serves linearizable reads and writes too.
			lc := lagger.Client(t)
			mustGet(t, lc, "/catch/0001", "1")
			putGet(t, lc, "/catch/after", "restart")
			// The compaction reached it, through the log or the snapshot.
			_, err = lc.Get(ctx, "/catch/0001", clientv3.WithRev(2), clientv3.WithSerializable())
			wantErr(t, "read below the compaction on the restarted follower", err, "etcdserver: mvcc: required revision has been compacted")

			sent := LogContains(leader.Process().Output(), "sent database snapshot")
			applied := LogContains(lagger.Process().Output(), "applied snapshot")
			if tt.bySnapshot && (!sent || !applied) {
				t.Fatalf("no snapshot: leader logged %q %v, follower logged %q %v", "sent database snapshot", sent, "applied snapshot", applied)
			}
			if !tt.bySnapshot && (sent || applied) {
				t.Fatalf("a snapshot was sent (%v) or applied (%v) though the leader had the entries", sent, applied)
			}
			// Every member holds the same data at the same revision.
			last, err := cli.Put(ctx, "/catch/last", "x")
			if err != nil {
				t.Fatal(err)
			}
			var hashes []uint32
			for _, m := range c.Members {
				waitCaughtUp(t, m, "/catch/last", last.Header.Revision, 10*time.Second)
				h, err := cli.HashKV(ctx, m.ClientURL(), last.Header.Revision)
				if err != nil {
					t.Fatal(err)
				}
				hashes = append(hashes, h.Hash)
			}
			if hashes[0] != hashes[1] || hashes[1] != hashes[2] {
				t.Fatalf("HashKV differs between members: %v", hashes)
			}

			// Restarted once more, it starts from what it saved while
			// catching up.
			lagger.Kill()
			lagger.Start(t)
			want["/catch/after"], want["/catch/last"] = "restart", "x"
			sameKVs(t, lagger.Name+" restarted again", waitCaughtUp(t, lagger, "/catch/", last.Header.Revision, 30*time.Second), want)

			// Leading, it knows the leases: their keys and their expiry.
			if _, err := leader.Client(t).MoveLeader(ctx, ids[lagger.Name]); err != nil {
				t.Fatalf("move leader to %s: %v", lagger.Name, err)
			}
			if _, err := waitLeader(t, c, cli, ids[leader.Name]); err != nil {
				t.Fatal(err)
			}
			for l, key := range map[clientv3.LeaseID]string{oldLease.ID: "/catch/leased-old", newLease.ID: "/catch/leased-new"} {
				ttl, err := lc.TimeToLive(ctx, l, clientv3.WithAttachedKeys())
				if err != nil || ttl.TTL <= 0 || len(ttl.Keys) != 1 || string(ttl.Keys[0]) != key {
					t.Fatalf("lease %x on the caught-up leader: %+v, %v; want key %s", l, ttl, err, key)
				}
			}
			if _, err := lc.Revoke(ctx, newLease.ID); err != nil {
				t.Fatal(err)
			}
			if g, err := lc.Get(ctx, "/catch/leased-new"); err != nil || len(g.Kvs) != 0 {
				t.Fatalf("key of a revoked lease: %v, %v", g, err)
			}
		})
	}
}

// TestAutoCompaction checks that each --auto-compaction-mode compacts
// old revisions by itself.
func TestAutoCompaction(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  []string
	}{
		{
			name: "revision",
			args: []string{"--auto-compaction-mode", "revision", "--auto-compaction-retention", "10"},
			// etcd's revision compactor looks every five minutes; the
			// test-only variable makes it look every 100ms.
			env: []string{"BASALT_TEST_REVISION_COMPACTION_INTERVAL=100ms"},
		},
		{name: "periodic", args: []string{"--auto-compaction-mode", "periodic", "--auto-compaction-retention", "1s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewCluster(t, 3, &Options{Args: tt.args, Env: tt.env})
			cli := c.Client(t)
			ctx := testCtx(t)
			first, err := cli.Put(ctx, "/auto/k", "0")
			if err != nil {
				t.Fatal(err)
			}
			for i := 1; i <= 30; i++ {
				if _, err := cli.Put(ctx, "/auto/k", fmt.Sprint(i)); err != nil {
					t.Fatal(err)
				}
			}
			deadline := time.Now().Add(20 * time.Second)
			for {
				_, err := cli.Get(ctx, "/auto/k", clientv3.WithRev(first.Header.Revision))
				if err != nil {
					wantErr(t, "read of an auto-compacted revision", err, "etcdserver: mvcc: required revision has been compacted")
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("revision %d not compacted within 20s", first.Header.Revision)
				}
				// Periodic compaction needs writes over time to compact.
				if _, err := cli.Put(ctx, "/auto/tick", "x"); err != nil {
					t.Fatal(err)
				}
				time.Sleep(100 * time.Millisecond) // poll interval
			}
			// What the retention covers is kept: the last 10 revisions, or
			// the last second.
			r, err := cli.Put(ctx, "/auto/k", "newest")
			if err != nil {
				t.Fatal(err)
			}
			kept := r.Header.Revision
			if tt.name == "revision" {
				kept -= 10
			}
			if _, err := cli.Get(ctx, "/auto/k", clientv3.WithRev(kept)); err != nil {
				t.Fatalf("get at %d (newest %d): %v", kept, r.Header.Revision, err)
			}
			var logged bool
			for _, m := range c.Members {
				logged = logged || LogContains(m.Process().Output(), "completed auto "+tt.name+" compaction")
			}
			if !logged {
				t.Errorf("no member logged %q", "completed auto "+tt.name+" compaction")
			}
		})
	}
}

// TestQuota fills a small --quota-backend-bytes: puts fail with
// NOSPACE, the alarm is raised and reported by /health, reads go on; a
// compaction, defragmentation and disarm make room again.
func TestQuota(t *testing.T) {
	const quota = 4 * 1024 * 1024
	c := NewCluster(t, 3, &Options{Args: []string{"--quota-backend-bytes", fmt.Sprint(quota)}})
	cli := c.Client(t)
	ctx := testCtx(t)
	val := strings.Repeat("q", 256*1024)
	var lastRev int64
	var full error
	for i := 0; i < 100; i++ {
		r, err := cli.Put(ctx, "/quota/k", val)
		if err != nil {
			full = err
			break
		}
		lastRev = r.Header.Revision
	}
	if full == nil {
		t.Fatalf("100 puts of 256KiB fit in a quota of %d bytes", quota)
	}
	wantErr(t, "put beyond the quota", full, "etcdserver: mvcc: database space exceeded")

	alarms, err := cli.AlarmList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(alarms.Alarms) == 0 {
		t.Fatal("no alarm after NOSPACE")
	}
	for _, a := range alarms.Alarms {
		if a.Alarm != pb.AlarmType_NOSPACE {
			t.Fatalf("alarm %v, want NOSPACE", a)
		}
	}
	// Every member refuses writes and says why, on /health and in Status.
	for _, m := range c.Members {
		mc := m.Client(t)
		_, err := mc.Put(ctx, "/quota/small", "x")
		wantErr(t, m.Name+": small put under the alarm", err, "etcdserver: mvcc: database space exceeded")
		code, body := httpGet(t, m.ClientURL()+"/health", nil)
		if code != http.StatusServiceUnavailable || strings.TrimSpace(body) != `{"health":"false","reason":"ALARM NOSPACE"}` {
			t.Errorf("%s /health = %d %s", m.Name, code, body)
		}
		code, body = httpGet(t, m.ClientURL()+"/health?exclude=NOSPACE", nil)
		if code != http.StatusOK {
			t.Errorf("%s /health?exclude=NOSPACE = %d %s", m.Name, code, body)
		}
		st, err := mc.Status(ctx, m.ClientURL())
		if err != nil || len(st.Errors) == 0 || !strings.Contains(strings.Join(st.Errors, ","), "NOSPACE") {
			t.Errorf("%s: status errors %v (%v)", m.Name, st, err)
		}
		// Reads and deletes go on.
		if g, err := mc.Get(ctx, "/quota/k"); err != nil || len(g.Kvs) != 1 {
			t.Errorf("%s: read under the alarm: %v", m.Name, err)
		}
	}
	// A lease grant is a write too.
	_, err = cli.Grant(ctx, 60)
	wantErr(t, "grant under the alarm", err, "etcdserver: mvcc: database space exceeded")

	// Make room: compact the history away, defragment every member, disarm.
	if _, err := cli.Compact(ctx, lastRev, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	for _, m := range c.Members {
		if _, err := cli.Defragment(ctx, m.ClientURL()); err != nil {
			t.Fatalf("defragment %s: %v", m.Name, err)
		}
		st, err := cli.Status(ctx, m.ClientURL())
		if err != nil || st.DbSize >= quota {
			t.Fatalf("%s: database %v after defragment (%v)", m.Name, st, err)
		}
	}
	// Each member raised its own alarm; an empty AlarmMember disarms every
	// one, as etcdctl alarm disarm does.
	if _, err := cli.AlarmDisarm(ctx, &clientv3.AlarmMember{}); err != nil {
		t.Fatal(err)
	}
	if a, err := cli.AlarmList(ctx); err != nil || len(a.Alarms) != 0 {
		t.Fatalf("alarms after disarm: %v, %v", a, err)
	}
	for _, m := range c.Members {
		putGet(t, m.Client(t), "/quota/again-"+m.Name, "ok")
		if code, body := httpGet(t, m.ClientURL()+"/health", nil); code != http.StatusOK {
			t.Errorf("%s /health after disarm = %d %s", m.Name, code, body)
		}
	}
}

// TestGracefulStopTransfersLeadership stops the leader with SIGTERM: it
// hands leadership over first, so the cluster has a leader again well
// within an election timeout.
func TestGracefulStopTransfersLeadership(t *testing.T) {
	const electionTimeout = 5 * time.Second
	c := NewCluster(t, 3, &Options{Args: []string{"--election-timeout", fmt.Sprint(electionTimeout.Milliseconds())}})
	cli := c.Client(t)
	leader, followers, ids := roles(t, c, cli)
	ctx := testCtx(t)
	before, err := cli.Status(ctx, followers[0].ClientURL())
	if err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	if code := leader.Stop(t); code != 0 {
		t.Fatalf("leader exited with status %d", code)
	}
	if !LogContains(leader.Process().Output(), "leadership transfer") {
		t.Errorf("leader did not log a leadership transfer")
	}
	fc := NewClient(t, []string{followers[0].ClientURL(), followers[1].ClientURL()}, nil)
	deadline := start.Add(electionTimeout / 2)
	for {
		pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		_, err := fc.Put(pctx, "/graceful", "ok")
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no put within %v of SIGTERM to the leader (election timeout %v): %v", time.Since(start), electionTimeout, err)
		}
		if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, rpctypes.ErrNoLeader) && !errors.Is(err, rpctypes.ErrLeaderChanged) {
			t.Logf("put: %v", err)
		}
	}
	took := time.Since(start)
	newLeader, err := waitLeader(t, c, fc, ids[leader.Name])
	if err != nil {
		t.Fatal(err)
	}
	after, err := fc.Status(ctx, followers[0].ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	if after.RaftTerm <= before.RaftTerm || newLeader == ids[leader.Name] {
		t.Fatalf("leader %x term %d after stop; leader %x term %d before", newLeader, after.RaftTerm, ids[leader.Name], before.RaftTerm)
	}
	t.Logf("a put succeeded %v after SIGTERM to the leader (election timeout %v)", took, electionTimeout)
	// The old leader rejoins as a follower.
	leader.Start(t)
	mustGet(t, leader.Client(t), "/graceful", "ok")

	// With a follower down, the leader hands over to the one still up.
	current, rest, _ := roles(t, c, fc)
	down, up := rest[0], rest[1]
	if code := down.Stop(t); code != 0 {
		t.Fatalf("%s exited with status %d", down.Name, code)
	}
	if code := current.Stop(t); code != 0 {
		t.Fatalf("%s exited with status %d", current.Name, code)
	}
	to, ok := logField(current.Process().Output(), "leadership transfer finished", "new-leader-member-id")
	if want := fmt.Sprintf("%x", ids[up.Name]); !ok || to != want {
		t.Fatalf("leader with %s down: transfer finished to %q (logged %v), want %s (%s)", down.Name, to, ok, want, up.Name)
	}
}

// logField finds the last JSON log line with message msg and returns its
// field.
func logField(out, msg, field string) (string, bool) {
	lines := strings.Split(out, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		var entry map[string]any
		if json.Unmarshal([]byte(lines[i]), &entry) != nil || entry["msg"] != msg {
			continue
		}
		v, ok := entry[field].(string)
		return v, ok
	}
	return "", false
}

// TestQuorumLoss leaves one member of three running: it must refuse
// writes and linearizable reads, serve serializable reads, report the
// lost leader on /health and end require-leader watches; once the others
// are back, the cluster serves again.
func TestQuorumLoss(t *testing.T) {
	for _, keepLeader := range []bool{true, false} {
		name := "follower left"
		if keepLeader {
			name = "leader left"
		}
		t.Run(name, func(t *testing.T) {
			c := NewCluster(t, 3, nil)
			cli := c.Client(t)
			leader, followers, _ := roles(t, c, cli)
			alone, gone := followers[0], []*Member{leader, followers[1]}
			if keepLeader {
				alone, gone = leader, followers
			}
			ctx := testCtx(t)
			ac := alone.Client(t)
			putGet(t, ac, "/quorum/k", "v")
			wctx, wcancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
			defer wcancel()
			wch := ac.Watch(wctx, "/quorum/", clientv3.WithPrefix(), clientv3.WithCreatedNotify())
			waitCreated(t, "require-leader watch", wch)

			t0 := time.Now()
			for _, m := range gone {
				m.Kill()
			}

			// The watch ends with "no leader" once the member notices.
			select {
			case wr, ok := <-wch:
				if ok {
					wantErr(t, "require-leader watch without a leader", wr.Err(), "etcdserver: no leader")
				}
			case <-time.After(opTimeout):
				t.Fatal("require-leader watch still open without a leader")
			}
			t.Logf("watch ended %v after the kill", time.Since(t0))
			var body string
			err := testutil.Poll(opTimeout, func() error {
				var code int
				code, body = httpGet(t, alone.ClientURL()+"/health", nil)
				if code != http.StatusServiceUnavailable {
					return fmt.Errorf("/health = %d %s without a quorum", code, body)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if strings.TrimSpace(body) != `{"health":"false","reason":"RAFT NO LEADER"}` {
				t.Errorf("/health without a leader = %s", body)
			}
			if code, body := httpGet(t, alone.ClientURL()+"/health?serializable=true", nil); code != http.StatusOK {
				t.Errorf("/health?serializable=true = %d %s", code, body)
			}
			st, err := ac.Status(ctx, alone.ClientURL())
			if err != nil || st.Leader != 0 {
				t.Errorf("status without a quorum: %+v, %v", st, err)
			}

			t.Logf("/health false %v after the kill", time.Since(t0))
			short, cancel := context.WithTimeout(ctx, time.Second)
			_, err = ac.Put(short, "/quorum/lost", "x")
			cancel()
			if err == nil {
				t.Fatal("put acknowledged by one member of three")
			}
			short, cancel = context.WithTimeout(ctx, time.Second)
			_, err = ac.Get(short, "/quorum/k")
			cancel()
			if err == nil {
				t.Fatal("linearizable read served by one member of three")
			}
			if g, err := ac.Get(ctx, "/quorum/k", clientv3.WithSerializable()); err != nil || len(g.Kvs) != 1 {
				t.Fatalf("serializable read without a quorum: %v, %v", g, err)
			}

			t0 = time.Now()
			for _, m := range gone {
				m.Start(t)
			}
			t.Logf("restarted in %v", time.Since(t0))
			putEventually(t, ac, "/quorum/back", "yes", 30*time.Second)
			t.Logf("put %v after restarting", time.Since(t0))
			for _, m := range c.Members {
				mustGet(t, m.Client(t), "/quorum/back", "yes")
			}
		})
	}
}
