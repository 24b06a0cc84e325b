package linearizability

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/basaltkv/basalt/pkg/testutil"
	"github.com/basaltkv/basalt/tests/e2e"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// cluster is an e2e cluster with a fault-injecting proxy in front of each
// member's peer listener.
type cluster struct {
	*e2e.Cluster
	proxies []*peerProxy // by member index
	ids     []uint64     // member IDs by index
	// clients talk to one member each (status, move-leader, checks).
	clients []*clientv3.Client
	// user and password, when auth is on, are root's: every client of
	// the test authenticates.
	user, password string
	// bin is the server the members started as ("": basalt).
	bin string
}

// startCluster starts size members of bin ("": basalt) with args;
// withAuth then turns auth on, with a root user every client of the test
// logs in as.
func startCluster(t *testing.T, size int, args []string, withAuth bool, bin string) *cluster {
	t.Helper()
	var mu sync.Mutex
	byName := map[string]*peerProxy{}
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range byName {
			p.close()
		}
	})
	ec := e2e.NewCluster(t, size, &e2e.Options{
		Binary: bin,
		Args:   args,
		// Crash points armed over HTTP, and WAL segments small enough to
		// be cut (and purged) under traffic.
		Env:          []string{e2e.FailpointsEnv, "BASALT_TEST_WAL_SEGMENT_SIZE=262144"},
		ReadyTimeout: 30 * time.Second,
		StopTimeout:  10 * time.Second,
		AdvertisePeerURL: func(name, listen string) (string, error) {
			mu.Lock()
			defer mu.Unlock()
			if old := byName[name]; old != nil {
				old.close()
			}
			p, err := newPeerProxy(name, listen)
			if err != nil {
				return "", err
			}
			byName[name] = p
			return p.URL(), nil
		},
	})
	c := &cluster{Cluster: ec, bin: bin}
	mu.Lock()
	for _, m := range ec.Members {
		c.proxies = append(c.proxies, byName[m.Name])
	}
	mu.Unlock()
	if withAuth {
		c.enableAuth(t)
	}
	for _, m := range ec.Members {
		c.clients = append(c.clients, c.newClient(t, []string{m.ClientURL()}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.clients[0].MemberList(ctx)
	if err != nil {
		t.Fatalf("member list: %v", err)
	}
	c.ids = make([]uint64, size)
	for i, m := range ec.Members {
		for _, pm := range resp.Members {
			if pm.Name == m.Name {
				c.ids[i] = pm.ID
			}
		}
		if c.ids[i] == 0 {
			t.Fatalf("member %s not in the member list %v", m.Name, resp.Members)
		}
	}
	return c
}

// enableAuth adds root and turns auth on.
func (c *cluster) enableAuth(t *testing.T) {
	t.Helper()
	cli := c.newClient(t, c.Endpoints())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, step := range []func() error{
		func() error { _, err := cli.UserAdd(ctx, "root", "rootpw"); return err },
		func() error { _, err := cli.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := cli.AuthEnable(ctx); return err },
	} {
		if err := step(); err != nil {
			t.Fatalf("enable auth: %v", err)
		}
	}
	c.user, c.password = "root", "rootpw"
}

// newClient is a clientv3 client of endpoints (as root when auth is on),
// closed when t ends.
func (c *cluster) newClient(t testing.TB, endpoints []string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:            endpoints,
		DialTimeout:          2 * time.Second,
		DialKeepAliveTime:    time.Second,
		DialKeepAliveTimeout: time.Second,
		Username:             c.user,
		Password:             c.password,
		Logger:               zap.NewNop(),
	})
	if err != nil {
		t.Fatalf("client of %v: %v", endpoints, err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

func (c *cluster) size() int { return len(c.Members) }

// indexOf is m's index.
func (c *cluster) indexOf(m *e2e.Member) int {
	for i, cm := range c.Members {
		if cm == m {
			return i
		}
	}
	return -1
}

func (c *cluster) index(id uint64) int {
	for i, mid := range c.ids {
		if mid == id {
			return i
		}
	}
	return -1
}

// leader asks the members in turn who leads; -1 if none answers.
func (c *cluster) leader(ctx context.Context) (int, error) {
	var errs []error
	for i, cli := range c.clients {
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		resp, err := cli.Status(sctx, c.Members[i].ClientURL())
		cancel()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if l := c.index(resp.Leader); l >= 0 {
			return l, nil
		}
	}
	return -1, fmt.Errorf("no leader known: %w", errors.Join(errs...))
}

// waitLeader polls until some member names a leader.
func (c *cluster) waitLeader(ctx context.Context) (int, error) {
	l := -1
	err := testutil.PollContext(ctx, func() (err error) {
		l, err = c.leader(ctx)
		return err
	})
	return l, err
}

// isolate cuts member i's peer traffic: in (others → i), out (i →
// others) or both.
func (c *cluster) isolate(i int, in, out bool) {
	if in {
		c.proxies[i].block(true)
	}
	if out {
		for j, p := range c.proxies {
			if j != i {
				p.block(false, c.ids[i])
			}
		}
	}
}

// heal lifts every network fault.
func (c *cluster) heal() {
	for _, p := range c.proxies {
		p.heal()
	}
}
