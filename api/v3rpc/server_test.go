package v3rpc_test

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/basaltkv/basalt/api/internal/fakemember"
	"github.com/basaltkv/basalt/api/v3rpc"
	"github.com/basaltkv/basalt/pkg/testutil"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3lock/v3lockpb"
)

func TestMetrics(t *testing.T) {
	c := newCluster(t, v3rpc.Config{})
	if _, err := c.client.Put(ctx(t), "m", "v"); err != nil {
		t.Fatal(err)
	}
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, mf := range mfs {
		have[mf.GetName()] = true
	}
	for _, name := range []string{
		"grpc_server_started_total",
		"grpc_server_handled_total",
		"grpc_server_msg_received_total",
		"grpc_server_msg_sent_total",
		"etcd_network_client_grpc_sent_bytes_total",
		"etcd_network_client_grpc_received_bytes_total",
		"etcd_server_client_requests_total",
	} {
		if !have[name] {
			t.Errorf("metric %s not registered", name)
		}
	}
}

// The byte counters see every client payload: a 4 KiB value is counted
// when it arrives in a Put and again when a Get sends it back.
func TestByteCounters(t *testing.T) {
	c := newCluster(t, v3rpc.Config{})
	val := strings.Repeat("v", 4096)
	recv0, sent0 := counterValue(t, "etcd_network_client_grpc_received_bytes_total"), counterValue(t, "etcd_network_client_grpc_sent_bytes_total")
	if _, err := c.client.Put(ctx(t), "big", val); err != nil {
		t.Fatal(err)
	}
	if got := counterValue(t, "etcd_network_client_grpc_received_bytes_total") - recv0; got < 4096 {
		t.Errorf("received bytes grew by %v after a 4 KiB put", got)
	}
	if _, err := c.client.Get(ctx(t), "big"); err != nil {
		t.Fatal(err)
	}
	if got := counterValue(t, "etcd_network_client_grpc_sent_bytes_total") - sent0; got < 4096 {
		t.Errorf("sent bytes grew by %v after a 4 KiB get", got)
	}
}

func counterValue(t *testing.T, name string) float64 {
	t.Helper()
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

// GracefulStop must not wait forever for a Lock that waits for a lock.
func TestGracefulStopWithWaitingLock(t *testing.T) {
	m := fakemember.New(t)
	srv, err := v3rpc.NewServer(m, v3rpc.Config{Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.GRPCServer().Serve(l)
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{l.Addr().String()}, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	lc := v3lockpb.NewLockClient(cli.ActiveConnection())
	if _, err := lc.Lock(ctx(t), &v3lockpb.LockRequest{Name: []byte("l")}); err != nil {
		t.Fatal(err)
	}
	waiting := make(chan error, 1)
	go func() {
		_, err := lc.Lock(ctx(t), &v3lockpb.LockRequest{Name: []byte("l")})
		waiting <- err
	}()
	// Let the second Lock reach the server and wait there.
	testutil.WaitUntil(t, 10*time.Second, "the second lock to wait", func() bool {
		gr, err := cli.Get(ctx(t), "l/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		return err == nil && gr.Count == 2
	})
	stopped := make(chan struct{})
	go func() {
		srv.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("GracefulStop waited for a waiting Lock")
	}
	if err := <-waiting; err == nil {
		t.Fatal("waiting Lock succeeded after stop")
	}
}
