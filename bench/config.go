// Package bench holds the workloads of basalt-bench, the load generator
// that mirrors etcd's benchmark tool: put, range, txn-put, txn-mixed,
// watch, watch-get, watch-latency, lease-keepalive and stm against a
// cluster through clientv3, and mvcc put/range directly on basalt's
// storage. Every workload prints its summary in the format of package
// bench/report to Config.Out.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/basaltkv/basalt/bench/report"
)

// Config is what every workload shares: the global flags.
type Config struct {
	Endpoints []string
	// Conns is the number of gRPC connections; Clients the number of
	// concurrent clients spread over them.
	Conns, Clients int
	// Precise and Sample shape the printed summaries (report.Options).
	Precise, Sample bool
	DialTimeout     time.Duration
	// User is "name[:password]"; without a password AskPassword is asked
	// once.
	User        string
	AskPassword func() (string, error)
	// TargetLeader sends every connection to the leader's client URLs.
	TargetLeader     bool
	AutoSyncInterval time.Duration
	TLS              transport.TLSInfo

	// Out receives the summaries. Progress, if set, shows a progress bar.
	Out      io.Writer
	Progress io.Writer
	// Logger is clientv3's; nil discards its logs.
	Logger *zap.Logger

	mu         sync.Mutex
	dialed     int
	leaderEps  []string
	user, pass string
}

func (c *Config) reportOptions() report.Options {
	return report.Options{Precise: c.Precise, Sample: c.Sample}
}

func (c *Config) newReport() *report.Report { return report.New(c.reportOptions()) }

func (c *Config) out() io.Writer {
	if c.Out == nil {
		return io.Discard
	}
	return c.Out
}

func (c *Config) check() error {
	if len(c.Endpoints) == 0 {
		return errors.New("no endpoints")
	}
	if c.Conns <= 0 {
		return fmt.Errorf("expected positive --conns, got (%d)", c.Conns)
	}
	if c.Clients <= 0 {
		return fmt.Errorf("expected positive --clients, got (%d)", c.Clients)
	}
	return nil
}

// credentialsLocked resolves --user once, asking for a missing password.
func (c *Config) credentialsLocked() (string, string, error) {
	if c.User == "" || c.user != "" {
		return c.user, c.pass, nil
	}
	name, pass, ok := strings.Cut(c.User, ":")
	if !ok {
		if c.AskPassword == nil {
			return "", "", fmt.Errorf("bad user information: %s: no password", c.User)
		}
		p, err := c.AskPassword()
		if err != nil {
			return "", "", fmt.Errorf("bad user information: %s %w", c.User, err)
		}
		pass = p
	}
	c.user, c.pass = name, pass
	return name, pass, nil
}

// dial opens one connection: to the leader with TargetLeader, otherwise
// to the endpoints in turn, one endpoint per connection.
func (c *Config) dial(ctx context.Context) (*clientv3.Client, error) {
	c.mu.Lock()
	eps := c.leaderEps
	if len(eps) == 0 {
		eps = []string{c.Endpoints[c.dialed%len(c.Endpoints)]}
		c.dialed++
	}
	name, pass, err := c.credentialsLocked()
	c.mu.Unlock()
	if err != nil {
		return nil, err
	}
	cfg := clientv3.Config{
		Endpoints:        eps,
		DialTimeout:      c.DialTimeout,
		AutoSyncInterval: c.AutoSyncInterval,
		Username:         name,
		Password:         pass,
		Logger:           c.Logger,
		Context:          ctx,
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if !c.TLS.Empty() || c.TLS.TrustedCAFile != "" {
		tc, err := c.TLS.ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("bad tls config: %w", err)
		}
		cfg.TLS = tc
	}
	cli, err := clientv3.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("dial error: %w", err)
	}
	if !c.TargetLeader {
		return cli, nil
	}
	c.mu.Lock()
	found := len(c.leaderEps) > 0
	c.mu.Unlock()
	if found {
		return cli, nil
	}
	leader, err := leaderEndpoints(ctx, cli)
	cli.Close()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.leaderEps = leader
	c.mu.Unlock()
	return c.dial(ctx)
}

// leaderEndpoints asks the first endpoint that answers a Status who leads
// and returns that member's client URLs.
func leaderEndpoints(ctx context.Context, cli *clientv3.Client) ([]string, error) {
	members, err := cli.MemberList(ctx)
	if err != nil {
		return nil, fmt.Errorf("failed to get a member list: %w", err)
	}
	var leader uint64
	for _, ep := range cli.Endpoints() {
		if st, err := cli.Status(ctx, ep); err == nil {
			leader = st.Leader
			break
		}
	}
	for _, m := range members.Members {
		if m.ID == leader && leader != 0 {
			return m.ClientURLs, nil
		}
	}
	return nil, errors.New("failed to find a leader endpoint")
}

// clientSet is a benchmark's connections and its clients spread over them
// (client i uses connection i mod conns).
type clientSet struct {
	conns   []*clientv3.Client
	clients []*clientv3.Client
}

func (c *Config) newClients(ctx context.Context, clients, conns int) (*clientSet, error) {
	s := &clientSet{}
	for range conns {
		cli, err := c.dial(ctx)
		if err != nil {
			s.Close()
			return nil, err
		}
		s.conns = append(s.conns, cli)
	}
	for i := range clients {
		s.clients = append(s.clients, s.conns[i%conns])
	}
	return s, nil
}

func (s *clientSet) Close() {
	for _, c := range s.conns {
		c.Close()
	}
}

// randBytes is n random bytes (benchmark payloads, not secrets).
func randBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rand.Uint32())
	}
	return b
}
