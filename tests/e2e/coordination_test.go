package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// TestConcurrencyRecipes runs clientv3/concurrency's Mutex, Election and
// STM (every isolation level) against a 3-member cluster of real
// processes, clients spread over the members.
func TestConcurrencyRecipes(t *testing.T) {
	c := NewCluster(t, 3, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	t.Run("mutex", func(t *testing.T) {
		var mu sync.Mutex
		holders, maxHolders := 0, 0
		var wg sync.WaitGroup
		for i, m := range c.Members {
			wg.Add(1)
			go func(i int, cli *clientv3.Client) {
				defer wg.Done()
				s, err := concurrency.NewSession(cli, concurrency.WithTTL(10))
				if err != nil {
					t.Error(err)
					return
				}
				defer s.Close()
				lock := concurrency.NewMutex(s, "/lock")
				for j := 0; j < 5; j++ {
					if err := lock.Lock(ctx); err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					holders++
					maxHolders = max(maxHolders, holders)
					mu.Unlock()
					// A read-modify-write that loses updates unless the
					// lock excludes the other holders.
					resp, err := cli.Get(ctx, "/locked-counter")
					if err != nil {
						t.Error(err)
						return
					}
					n := 0
					if len(resp.Kvs) > 0 {
						fmt.Sscan(string(resp.Kvs[0].Value), &n)
					}
					if _, err := cli.Put(ctx, "/locked-counter", fmt.Sprint(n+1)); err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					holders--
					mu.Unlock()
					if err := lock.Unlock(ctx); err != nil {
						t.Error(err)
						return
					}
				}
			}(i, m.Client(t))
		}
		wg.Wait()
		if maxHolders != 1 {
			t.Fatalf("%d holders at once", maxHolders)
		}
		resp, err := c.Client(t).Get(ctx, "/locked-counter")
		if err != nil || string(resp.Kvs[0].Value) != fmt.Sprint(5*len(c.Members)) {
			t.Fatalf("counter under lock: %v %v", resp, err)
		}
	})

	t.Run("election", func(t *testing.T) {
		cli := c.Members[0].Client(t)
		s1, err := concurrency.NewSession(cli, concurrency.WithTTL(10))
		if err != nil {
			t.Fatal(err)
		}
		defer s1.Close()
		e1 := concurrency.NewElection(s1, "/election")
		if err := e1.Campaign(ctx, "one"); err != nil {
			t.Fatal(err)
		}
		s2, err := concurrency.NewSession(c.Members[1].Client(t), concurrency.WithTTL(10))
		if err != nil {
			t.Fatal(err)
		}
		defer s2.Close()
		e2 := concurrency.NewElection(s2, "/election")
		won := make(chan error, 1)
		go func() { won <- e2.Campaign(ctx, "two") }()
		resp, err := e2.Leader(ctx)
		if err != nil || string(resp.Kvs[0].Value) != "one" {
			t.Fatalf("leader %v %v", resp, err)
		}
		if err := e1.Resign(ctx); err != nil {
			t.Fatal(err)
		}
		if err := <-won; err != nil {
			t.Fatal(err)
		}
		resp, err = e1.Leader(ctx)
		if err != nil || string(resp.Kvs[0].Value) != "two" {
			t.Fatalf("leader after resign %v %v", resp, err)
		}
	})

	for _, iso := range []concurrency.Isolation{concurrency.SerializableSnapshot, concurrency.Serializable, concurrency.RepeatableReads, concurrency.ReadCommitted} {
		t.Run(fmt.Sprintf("stm-%d", iso), func(t *testing.T) {
			key := fmt.Sprintf("/counter-%d", iso)
			const workers, incs = 3, 10
			var wg sync.WaitGroup
			for i := 0; i < workers; i++ {
				wg.Add(1)
				go func(cli *clientv3.Client) {
					defer wg.Done()
					for j := 0; j < incs; j++ {
						_, err := concurrency.NewSTM(cli, func(s concurrency.STM) error {
							n := 0
							if v := s.Get(key); v != "" {
								fmt.Sscan(v, &n)
							}
							s.Put(key, fmt.Sprint(n+1))
							return nil
						}, concurrency.WithIsolation(iso), concurrency.WithAbortContext(ctx))
						if err != nil {
							t.Error(err)
							return
						}
					}
				}(c.Members[i].Client(t))
			}
			wg.Wait()
			resp, err := c.Client(t).Get(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprint(workers * incs)
			if iso == concurrency.ReadCommitted {
				// ReadCommitted does not detect conflicts: increments may be
				// lost, but the value must be a count that was written.
				return
			}
			if got := string(resp.Kvs[0].Value); got != want {
				t.Fatalf("counter %s, want %s", got, want)
			}
		})
	}
}

// TestWatchOnFollowerAcrossLeaderKill watches through a follower while
// the leader is killed with SIGKILL: every acknowledged write is seen
// exactly once, in order, and survives.
func TestWatchOnFollowerAcrossLeaderKill(t *testing.T) {
	c := NewCluster(t, 3, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cli := c.Client(t)
	st, err := cli.Status(ctx, c.Members[0].ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	var leader *Member
	var followers []*Member
	for _, m := range c.Members {
		s, err := cli.Status(ctx, m.ClientURL())
		if err != nil {
			t.Fatal(err)
		}
		if s.Header.MemberId == st.Leader {
			leader = m
		} else {
			followers = append(followers, m)
		}
	}
	if leader == nil {
		t.Fatal("no leader found")
	}
	watchCli := followers[0].Client(t)
	wch := watchCli.Watch(clientv3.WithRequireLeader(ctx), "/w/", clientv3.WithPrefix(), clientv3.WithRev(1))
	writer := followers[1].Client(t)
	var acked []int64
	put := func(i int) {
		for {
			resp, err := writer.Put(ctx, fmt.Sprintf("/w/%03d", i), "v")
			if err == nil {
				acked = append(acked, resp.Header.Revision)
				return
			}
			if ctx.Err() != nil {
				t.Fatalf("put %d: %v", i, err)
			}
		}
	}
	for i := 0; i < 20; i++ {
		put(i)
	}
	leader.Kill()
	for i := 20; i < 40; i++ {
		put(i)
	}
	seen := map[int64]int{}
	var last int64
	for len(seen) < len(acked) {
		select {
		case wr, ok := <-wch:
			if !ok {
				// A leader change may end a require-leader watch: resume.
				wch = watchCli.Watch(ctx, "/w/", clientv3.WithPrefix(), clientv3.WithRev(last+1))
				continue
			}
			for _, ev := range wr.Events {
				rev := ev.Kv.ModRevision
				if rev <= last {
					t.Fatalf("event at %d after %d: out of order or duplicated", rev, last)
				}
				last = rev
				seen[rev]++
			}
		case <-ctx.Done():
			t.Fatalf("saw %d of %d events", len(seen), len(acked))
		}
	}
	for _, rev := range acked {
		if seen[rev] != 1 {
			t.Fatalf("acknowledged write at %d seen %d times", rev, seen[rev])
		}
	}
	resp, err := writer.Get(ctx, "/w/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil || resp.Count != 40 {
		t.Fatalf("after failover: %v %v", resp, err)
	}
	leader.Restart(t)
	resp, err = leader.Client(t).Get(ctx, "/w/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil || resp.Count != 40 {
		t.Fatalf("restarted old leader: %v %v", resp, err)
	}
}
