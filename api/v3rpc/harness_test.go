package v3rpc_test

import (
	"context"
	"net"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/basaltkv/basalt/api/internal/fakemember"
	"github.com/basaltkv/basalt/api/v3rpc"
	clientv3 "go.etcd.io/etcd/client/v3"
)

var _ v3rpc.Member = (*fakemember.Member)(nil)

// cluster is one fake member served by a real gRPC server on a loopback
// port the OS chose, and a clientv3 client of it.
type cluster struct {
	m      *fakemember.Member
	srv    *v3rpc.Server
	addr   string
	client *clientv3.Client
}

func newCluster(t *testing.T, cfg v3rpc.Config) *cluster {
	t.Helper()
	m := fakemember.New(t)
	if cfg.Logger == nil {
		// Not zaptest: goroutines may log after the test returns.
		cfg.Logger = zap.NewNop()
	}
	srv, err := v3rpc.NewServer(m, cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.GRPCServer().Serve(l)
	}()
	c := &cluster{m: m, srv: srv, addr: l.Addr().String()}
	c.client = c.newClient(t)
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return c
}

func (c *cluster) newClient(t *testing.T, opts ...func(*clientv3.Config)) *clientv3.Client {
	t.Helper()
	cfg := clientv3.Config{
		Endpoints:   []string{c.addr},
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	}
	for _, o := range opts {
		o(&cfg)
	}
	cli, err := clientv3.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// ctx is a test's deadline for one step.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}
