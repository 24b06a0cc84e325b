package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/basaltkv/basalt/pkg/testutil"
	"github.com/basaltkv/basalt/storage/mvcc"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// installKeys are the keys TestSnapshotInstallWhileReading writes.
const installKeys = 8

// putHistory is what the leader acknowledged: the value of each write by
// revision (one key per revision).
type putHistory struct {
	mu   sync.Mutex
	puts map[int64][2]string // revision → key, value
}

func (h *putHistory) add(rev int64, key, value string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.puts[rev] = [2]string{key, value}
}

// states renders every key's value at each revision up to last, as the
// history says (fmt.Sprint of the map, which sorts its keys).
func (h *putHistory) states(last int64) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]string, last+1)
	state := map[string]string{}
	for r := int64(0); r <= last; r++ {
		if p, ok := h.puts[r]; ok {
			state[p[0]] = p[1]
		}
		out[r] = fmt.Sprint(state)
	}
	return out
}

// observation is one read of the follower: the revision it was at and
// what it returned.
type observation struct {
	what string
	rev  int64
	kvs  map[string]string
}

// TestSnapshotInstallWhileReading cuts a follower off, lets the leader
// compact its log past it, and heals: the follower installs the leader's
// snapshot. It does so again and again while goroutines read the same
// follower: serializable ranges at the current and at past revisions,
// read-only transactions, a watch, Status, Hash, HashKV, Snapshot,
// defragmentation, and what /health asks (alarms, leader, a linearizable
// read). Run with -race: no reader may touch a closed backend or a
// half-replaced index, and every range must return exactly what the
// history says at its revision.
func TestSnapshotInstallWhileReading(t *testing.T) {
	c := newTestCluster(t, 3, func(cfg *Config) {
		cfg.SnapshotCount = 20
		cfg.SnapshotCatchUpEntries = 5
	})
	c.waitReady()
	lead, f := c.leader(), c.follower()
	// The whole test shares one context: a bound against hanging, not a
	// time limit (it runs for about 20 s, longer on a loaded machine).
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	hist := &putHistory{puts: map[int64][2]string{}}
	var seq int
	put := func(n int) {
		t.Helper()
		for range n {
			seq++
			key, val := fmt.Sprintf("k%d", seq%installKeys), fmt.Sprintf("v%d", seq)
			resp, err := lead.m.Put(ctx, &pb.PutRequest{Key: []byte(key), Value: []byte(val)})
			if err != nil {
				t.Fatal(err)
			}
			hist.add(resp.Header.Revision, key, val)
		}
	}
	put(10)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var obsMu sync.Mutex
	var obs []observation
	errc := make(chan error, 64)
	fail := func(err error) {
		select {
		case errc <- err:
		default:
		}
	}
	record := func(o observation) {
		obsMu.Lock()
		obs = append(obs, o)
		obsMu.Unlock()
	}
	reader := func(name string, read func(rng *rand.Rand) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(len(name)), 7))
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := read(rng); err != nil {
					fail(fmt.Errorf("%s: %w", name, err))
					return
				}
			}
		}()
	}
	kvMap := func(resp *pb.RangeResponse) map[string]string {
		m := map[string]string{}
		for _, kv := range resp.Kvs {
			m[string(kv.Key)] = string(kv.Value)
		}
		return m
	}
	rangeAll := &pb.RangeRequest{Key: []byte("k"), RangeEnd: []byte("l"), Serializable: true}

	reader("range", func(*rand.Rand) error {
		resp, err := f.m.Range(ctx, rangeAll)
		if err != nil {
			return err
		}
		record(observation{what: "range", rev: resp.Header.Revision, kvs: kvMap(resp)})
		return nil
	})
	reader("range at a past revision", func(rng *rand.Rand) error {
		cur := f.m.Store().Rev()
		rev := 1 + rng.Int64N(max(cur, 1))
		resp, err := f.m.Range(ctx, &pb.RangeRequest{Key: rangeAll.Key, RangeEnd: rangeAll.RangeEnd, Serializable: true, Revision: rev})
		if errors.Is(err, mvcc.ErrCompacted) || errors.Is(err, mvcc.ErrFutureRev) {
			return nil // a snapshot moved the follower meanwhile
		}
		if err != nil {
			return err
		}
		record(observation{what: fmt.Sprintf("range at %d", rev), rev: rev, kvs: kvMap(resp)})
		return nil
	})
	reader("read-only txn", func(*rand.Rand) error {
		resp, err := f.m.Txn(ctx, &pb.TxnRequest{Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestRange{RequestRange: rangeAll}}}})
		if err != nil {
			return err
		}
		rr := resp.Responses[0].GetResponseRange()
		record(observation{what: "txn", rev: resp.Header.Revision, kvs: kvMap(rr)})
		return nil
	})
	reader("maintenance", func(rng *rand.Rand) error {
		if _, err := f.m.Status(ctx); err != nil {
			return err
		}
		if _, err := f.m.Hash(ctx); err != nil {
			return err
		}
		if _, err := f.m.HashKV(ctx, 0); err != nil && !errors.Is(err, mvcc.ErrCompacted) {
			return err
		}
		// What /health asks.
		_ = f.m.Alarms()
		_ = f.m.HasLeader()
		hctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		_ = f.m.LinearizableReadNotify(hctx)
		cancel()
		_ = f.m.IsLearner()
		if rng.IntN(4) == 0 {
			s, err := f.m.Snapshot(ctx)
			if err != nil {
				return err
			}
			n, err := s.WriteTo(io.Discard)
			s.Close()
			if err != nil || n == 0 {
				return fmt.Errorf("snapshot stream: %d bytes, %v", n, err)
			}
		}
		if rng.IntN(20) == 0 {
			if err := f.m.Defragment(ctx); err != nil {
				return err
			}
		}
		return nil
	})
	// A watcher sees every put once, in order; told that its history was
	// compacted, it watches again from the compaction revision.
	ws := f.m.Store().NewWatchStream()
	if _, err := ws.Watch(mvcc.AutoWatchID, []byte("k"), []byte("l"), 1); err != nil {
		t.Fatal(err)
	}
	var watched, rewatches int
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer ws.Close()
		next := int64(0) // the revision the next event must have; 0 after a (re)start
		for {
			select {
			case <-stop:
				return
			case resp := <-ws.Chan():
				if resp.CompactRevision != 0 {
					rewatches++
					next = 0
					if _, err := ws.Watch(mvcc.AutoWatchID, []byte("k"), []byte("l"), resp.CompactRevision); err != nil {
						fail(fmt.Errorf("watch again from %d: %w", resp.CompactRevision, err))
						return
					}
					continue
				}
				for _, ev := range resp.Events {
					if next != 0 && ev.Kv.ModRevision != next {
						fail(fmt.Errorf("watch delivered revision %d, want %d", ev.Kv.ModRevision, next))
						return
					}
					next = ev.Kv.ModRevision + 1
					watched++
				}
			}
		}
	}()

	const rounds = 8
	for round := range rounds {
		// Cut the follower off: the leader's messages to it fail.
		f.srv.Close()
		put(30)
		if round%3 == 2 {
			if _, err := lead.m.Compact(ctx, &pb.CompactionRequest{Revision: lead.m.Store().Rev() - 5}); err != nil {
				t.Fatal(err)
			}
		}
		installed := f.m.applier.snapshotInstalled.wait()
		ln, err := net.Listen("tcp", f.ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		f.ln = ln
		f.srv = &http.Server{Handler: f.m.PeerHandler()}
		go f.srv.Serve(ln)
		select {
		case <-installed:
		case err := <-errc:
			t.Fatal(err)
		case <-time.After(30 * time.Second):
			t.Fatalf("round %d: the follower installed no snapshot", round)
		}
	}
	put(5)
	// Every member ends with the same data.
	want, err := lead.m.HashKV(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	testutil.WaitUntil(t, 20*time.Second, "the follower to catch up", func() bool { return f.m.Store().Rev() == want.Header.Revision })
	got, err := f.m.HashKV(ctx, want.Header.Revision)
	if err != nil || got.Hash != want.Hash {
		t.Fatalf("follower HashKV %v (%v), leader %d", got, err, want.Hash)
	}
	close(stop)
	wg.Wait()
	select {
	case err := <-errc:
		t.Fatal(err)
	default:
	}

	// Every read returned exactly the history's state at its revision.
	if len(obs) < 100 {
		t.Fatalf("only %d reads checked", len(obs))
	}
	states := hist.states(want.Header.Revision)
	for _, o := range obs {
		if got := fmt.Sprint(o.kvs); got != states[o.rev] {
			t.Fatalf("%s returned %v at revision %d; the history says %v", o.what, got, o.rev, states[o.rev])
		}
	}
	if watched == 0 {
		t.Fatal("the watcher saw no event")
	}
	t.Logf("%d reads checked, %d watch events (%d watches restarted after compactions), %d snapshots installed", len(obs), watched, rewatches, rounds)
}
