package linearizability

import (
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/basaltkv/basalt/pkg/testutil"
	"github.com/basaltkv/basalt/tests/e2e"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// scenario is a cluster, its flags, its traffic and the faults injected.
type scenario struct {
	name    string
	members int
	clients int
	faults  []fault
	args    []string
	// compact compacts, every second or so, up to what every watcher has
	// seen: with a low --snapshot-count, members then catch up from
	// snapshots of a compacted store.
	compact bool
	// auth turns auth on: every client is root.
	auth bool
	// etcd starts the cluster as etcd 3.7.3 members ($BASALT_ETCD37), for
	// faultSwapBinary to migrate to basalt and back.
	etcd bool
	// v2 serves the v2 API (--enable-v2) and adds the v2 traffic, its
	// watcher and its checks (v2.go).
	v2 bool
}

// scenarioSeed makes scenarios run by one seed differ from one another.
func scenarioSeed(name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return h.Sum64()
}

// run is one execution of a scenario.
type run struct {
	t        *testing.T
	sc       scenario
	seed     uint64
	duration time.Duration

	c        *cluster
	rec      *recorder
	watchers []*watcher
	sched    *schedule
	problems []string
	// finalRev and finalKVs are the final read, after healing.
	finalRev int64
	finalKVs []kvState
	// term is the highest raft term at the end: how many elections the
	// faults caused.
	term uint64
}

func (r *run) problem(format string, args ...any) {
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
}

// runScenario starts the cluster, runs traffic and faults for duration,
// heals everything, checks the history, the watches and durability, and
// on failure keeps the artifacts.
func runScenario(t *testing.T, sc scenario, seed uint64, duration time.Duration) {
	r := &run{t: t, sc: sc, seed: seed ^ scenarioSeed(sc.name), duration: duration}
	t.Logf("scenario %s: seed %d (BASALT_LIN_SEED=%d replays the schedule), %v of traffic", sc.name, seed, seed, duration)
	var info *porcupine.LinearizationInfo
	var ops []porcupine.Operation
	defer func() {
		if len(r.problems) == 0 && !t.Failed() {
			if os.Getenv("BASALT_LIN_KEEP") != "" {
				a := &artifacts{scenario: sc.name, seed: seed, ops: ops, info: info, c: r.c, watchers: r.watchers, faults: r.sched.log()}
				dir, err := a.save()
				t.Logf("BASALT_LIN_KEEP: artifacts of this passing run in %s (%v)", dir, err)
			}
			return
		}
		a := &artifacts{scenario: sc.name, seed: seed, ops: ops, info: info, c: r.c, watchers: r.watchers, problems: r.problems}
		if r.sched != nil {
			a.faults = r.sched.log()
		}
		if ops == nil && r.rec != nil {
			a.ops = r.rec.history()
		}
		dir, err := a.save()
		if err != nil {
			t.Errorf("saving artifacts: %v", err)
		}
		for _, p := range r.problems {
			t.Error(p)
		}
		t.Errorf("scenario %s failed with seed %d; history, logs and seed kept in %s", sc.name, seed, dir)
	}()

	bin := ""
	if sc.etcd {
		bin = e2e.Etcd37Binary(t, "members migrated between etcd 3.7.3 and basalt under traffic")
	}
	args := sc.args
	if sc.v2 {
		args = append(append([]string(nil), args...), "--enable-v2")
	}
	r.c = startCluster(t, sc.members, args, sc.auth, bin)
	r.rec = newRecorder()
	r.traffic()
	ops = r.rec.history()
	events := r.checkWatchers(ops)
	r.checkMembers()
	if events != nil && len(r.problems) == 0 {
		var settled, dropped int
		ops, settled, dropped = resolveUnknown(ops, events)
		t.Logf("watch settled %d writes of unknown outcome and showed %d never took effect", settled, dropped)
	}
	info = r.checkHistory(ops)
}

func (r *run) traffic() {
	t, c := r.t, r.c
	ctx, stop := context.WithTimeout(context.Background(), r.duration)
	defer stop()
	watchCtx, stopWatch := context.WithCancel(context.Background())
	defer stopWatch()
	var wg, wwg sync.WaitGroup

	for i := range 2 {
		w := &watcher{id: i, cli: c.newClient(t, c.Endpoints())}
		r.watchers = append(r.watchers, w)
		wwg.Add(1)
		go func() {
			defer wwg.Done()
			w.run(watchCtx)
		}()
	}
	for i := range r.sc.clients {
		w := &worker{id: i, cli: c.newClient(t, c.Endpoints()), rng: rand.New(rand.NewPCG(r.seed, uint64(i))), rec: r.rec}
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.run(ctx)
		}()
	}
	if r.sc.compact {
		cli := c.newClient(t, c.Endpoints())
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.compactor(ctx, cli)
		}()
	}
	var v2 *v2Traffic
	if r.sc.v2 {
		v2 = startV2Traffic(ctx, r, 2)
	}
	r.sched = newSchedule(c, r.rec, r.seed, r.sc.faults, r.sc.compact)
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.sched.run(ctx)
	}()
	wg.Wait()
	for _, err := range r.sched.errors() {
		r.problem("fault injection: %v", err)
	}

	// Heal: every member running and continued, the network whole.
	c.heal()
	for _, m := range c.Members {
		_ = m.Resume()
		if p := m.Process(); p == nil || p.Exited() {
			if err := m.TryStart(); err != nil {
				r.problem("restart %s after the faults: %v", m.Name, err)
			}
		}
	}

	r.t.Logf("traffic stopped and faults healed at %v", time.Duration(r.rec.now()).Round(time.Millisecond))
	// The final read: every acknowledged write must be in it (or
	// overwritten by a later one), which the model checks.
	fctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cli := c.newClient(t, c.Endpoints())
	// Operations whose outcome is unknown (cut off by the end of traffic or
	// a fault) may still commit: their proposals can sit in a leader's log
	// until the cluster heals. The model lets them take effect at any time,
	// also after the final read, but the checks after it compare members
	// with that read; so read once the revision has stopped moving. There
	// is no event to wait for, hence polling for quiescence.
	if err := waitQuiet(fctx, cli); err != nil {
		r.problem("cluster not quiet after healing: %v", err)
	}
	var final output
	err := testutil.PollContext(fctx, func() error {
		call := r.rec.now()
		resp, err := cli.Get(fctx, keyPrefix, clientv3.WithPrefix())
		if err != nil {
			return err
		}
		final = rangeAllOutput(resp)
		r.rec.add(r.sc.clients, input{Kind: opRangeAll}, call, final, r.rec.now())
		return nil
	})
	if err != nil {
		r.problem("final read after healing: %v", err)
		return
	}
	for _, w := range r.watchers {
		if err := w.waitRev(fctx, final.Rev); err != nil {
			r.problem("%v", err)
		}
	}
	stopWatch()
	wwg.Wait()
	r.finalRev, r.finalKVs = final.Rev, final.KVs
	if v2 != nil {
		v2.finish(fctx)
	}
}

// compactor compacts up to a little before what every watcher has seen,
// so that no watcher needs a compacted revision.
func (r *run) compactor(ctx context.Context, cli *clientv3.Client) {
	var done int64
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
		rev := int64(-1)
		for _, w := range r.watchers {
			if l := w.lastRev.Load(); rev < 0 || l < rev {
				rev = l
			}
		}
		rev -= 10
		if rev <= done {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, opTimeout)
		if _, err := cli.Compact(cctx, rev); err == nil {
			done = rev
		}
		cancel()
	}
}

// checkHistory runs porcupine over the history.
func (r *run) checkHistory(ops []porcupine.Operation) *porcupine.LinearizationInfo {
	unknown := 0
	for _, op := range ops {
		if op.Output.(output).Unknown {
			unknown++
		}
	}
	start := time.Now()
	res, info := porcupine.CheckOperationsVerbose(kvModel, ops, checkTimeout)
	var faults []string
	for _, f := range r.sched.log() {
		faults = append(faults, f.Description)
	}
	r.t.Logf("faults: %s", strings.Join(faults, "; "))
	// Acknowledged operations per second show the outages the faults made.
	var perSec []int
	for _, op := range ops {
		if op.Output.(output).Unknown {
			continue
		}
		sec := int(op.Return / int64(time.Second))
		for len(perSec) <= sec {
			perSec = append(perSec, 0)
		}
		perSec[sec]++
	}
	r.t.Logf("acknowledged operations per second: %v", perSec)
	r.t.Logf("history: %d operations (%d of unknown outcome), final revision %d, raft term %d; porcupine: %v in %v",
		len(ops), unknown, r.finalRev, r.term, res, time.Since(start).Round(time.Millisecond))
	switch res {
	case porcupine.Illegal:
		r.problem("the history is not linearizable (see history.html for the longest linearizable prefix)")
	case porcupine.Unknown:
		r.problem("porcupine did not decide within %v", checkTimeout)
	}
	return &info
}

// checkTimeout bounds porcupine.
const checkTimeout = 2 * time.Minute

// checkWatchers checks every watcher's events; it returns them if they
// are complete and agree.
func (r *run) checkWatchers(ops []porcupine.Operation) []event {
	if r.finalKVs == nil {
		return nil
	}
	ok := true
	var first []event
	for i, w := range r.watchers {
		w.mu.Lock()
		events := slices.Clone(w.events)
		for _, e := range w.errs {
			r.problem("watcher %d: %s", w.id, e)
		}
		w.mu.Unlock()
		s, errs := checkWatch(events, ops, r.finalRev)
		for _, e := range errs {
			r.problem("watcher %d: %s", w.id, e)
			ok = false
		}
		if !slices.Equal(s.KVs[:], r.finalKVs) {
			ok = false
			r.problem("watcher %d: its events replay into %s, the final read is %s", w.id, describeState(s), describeState(stateOf(r.finalRev, r.finalKVs)))
		}
		if i == 0 {
			first = events
		} else if !slices.Equal(events, first) {
			ok = false
			r.problem("watchers 0 and %d saw different events (%d and %d)", w.id, len(first), len(events))
		}
	}
	if !ok {
		return nil
	}
	return first
}

func stateOf(rev int64, kvs []kvState) state {
	s := state{Rev: rev}
	copy(s.KVs[:], kvs)
	return s
}

// checkMembers checks that every member, once caught up, holds the final
// state at the final revision and the same KV hash.
func (r *run) checkMembers() {
	if r.finalKVs == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var hashes []uint32
	for i, cli := range r.c.clients {
		name := r.c.Members[i].Name
		var resp *clientv3.GetResponse
		err := testutil.PollContext(ctx, func() (err error) {
			resp, err = cli.Get(ctx, keyPrefix, clientv3.WithPrefix(), clientv3.WithSerializable())
			if err == nil && resp.Header.Revision < r.finalRev {
				err = fmt.Errorf("at revision %d", resp.Header.Revision)
			}
			return err
		})
		if err != nil {
			r.problem("%s did not catch up to revision %d: %v", name, r.finalRev, err)
			return
		}
		if resp.Header.Revision != r.finalRev {
			r.problem("%s is at revision %d after the final read at %d (no traffic ran meanwhile)", name, resp.Header.Revision, r.finalRev)
		}
		if got := rangeAllOutput(resp); !slices.Equal(got.KVs, r.finalKVs) {
			r.problem("%s holds %s, the final read was %s", name, describeState(stateOf(got.Rev, got.KVs)), describeState(stateOf(r.finalRev, r.finalKVs)))
		}
		h, err := cli.HashKV(ctx, r.c.Members[i].ClientURL(), r.finalRev)
		if err != nil {
			r.problem("%s: HashKV at %d: %v", name, r.finalRev, err)
			continue
		}
		hashes = append(hashes, h.Hash)
		if st, err := cli.Status(ctx, r.c.Members[i].ClientURL()); err == nil {
			r.term = max(r.term, st.RaftTerm)
		}
	}
	sent, applied := 0, 0
	for _, m := range r.c.Members {
		logs := m.Logs()
		sent += strings.Count(logs, "sent database snapshot")
		applied += strings.Count(logs, "applied snapshot")
	}
	r.t.Logf("members: %d database snapshots sent, %d applied", sent, applied)
	for _, h := range hashes {
		if h != hashes[0] {
			r.problem("KV hashes at revision %d differ: %v (members in order)", r.finalRev, hashes)
			break
		}
	}
}

// waitQuiet waits until the store's revision has stayed the same over
// several polls half a second apart.
func waitQuiet(ctx context.Context, cli *clientv3.Client) error {
	const polls = 4
	last, same := int64(-1), 0
	for same < polls {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
		resp, err := cli.Get(ctx, keyPrefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			same = 0
			continue
		}
		if resp.Header.Revision == last {
			same++
		} else {
			last, same = resp.Header.Revision, 0
		}
	}
	return nil
}
