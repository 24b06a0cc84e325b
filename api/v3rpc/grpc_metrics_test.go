package v3rpc_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/basaltkv/basalt/api/v3rpc"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// series returns the value of every series of the grpc_server_* metrics,
// keyed "name{label=value,...}" with labels in name order.
func grpcSeries(t *testing.T) map[string]float64 {
	t.Helper()
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "grpc_server_") {
			continue
		}
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			key := mf.GetName() + "{" + strings.Join(ls, ",") + "}"
			switch {
			case m.GetCounter() != nil:
				out[key] = m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				out[key] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

// The grpc_server_* metrics count as go-grpc-prometheus does: a unary
// call is started, receives and sends one message and is handled with
// its status code, failed or not; a stream counts each message; every
// method's series exist from the start.
func TestGRPCMetricsCounting(t *testing.T) {
	c := newCluster(t, v3rpc.Config{})
	before := grpcSeries(t)
	for _, code := range []string{"OK", "Unavailable", "OutOfRange"} {
		k := "grpc_server_handled_total{grpc_code=" + code + ",grpc_method=Defragment,grpc_service=etcdserverpb.Maintenance,grpc_type=unary}"
		if _, ok := before[k]; !ok {
			t.Errorf("series %s missing before any call", k)
		}
	}
	if _, err := c.client.Put(ctx(t), "k", "v"); err != nil {
		t.Fatal(err)
	}
	// A compacted revision: the call fails with OutOfRange.
	if _, err := c.client.Get(ctx(t), "k", clientv3.WithRev(1000)); err == nil {
		t.Fatal("get at a future revision succeeded")
	}
	wctx, cancel := context.WithCancel(ctx(t))
	wch := c.client.Watch(wctx, "w", clientv3.WithCreatedNotify())
	<-wch // created
	if _, err := c.client.Put(ctx(t), "w", "1"); err != nil {
		t.Fatal(err)
	}
	<-wch // event
	after := grpcSeries(t)
	cancel()

	kv := func(name, method, extra string) string {
		return fmt.Sprintf("grpc_server_%s{%sgrpc_method=%s,grpc_service=etcdserverpb.KV,grpc_type=unary}", name, extra, method)
	}
	watch := func(name string) string {
		return "grpc_server_" + name + "{grpc_method=Watch,grpc_service=etcdserverpb.Watch,grpc_type=bidi_stream}"
	}
	for _, tc := range []struct {
		key  string
		want float64
	}{
		{kv("started_total", "Put", ""), 2},
		{kv("msg_received_total", "Put", ""), 2},
		{kv("msg_sent_total", "Put", ""), 2},
		{kv("handled_total", "Put", "grpc_code=OK,"), 2},
		{kv("started_total", "Range", ""), 1},
		{kv("msg_sent_total", "Range", ""), 1},
		{kv("handled_total", "Range", "grpc_code=OK,"), 0},
		{kv("handled_total", "Range", "grpc_code=OutOfRange,"), 1},
		{watch("started_total"), 1},
		{watch("msg_received_total"), 1}, // the create request
		{watch("msg_sent_total"), 2},     // created, then the event
	} {
		if got := after[tc.key] - before[tc.key]; got != tc.want {
			t.Errorf("%s grew by %v, want %v", tc.key, got, tc.want)
		}
	}
}
