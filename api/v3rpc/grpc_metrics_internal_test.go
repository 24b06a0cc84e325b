package v3rpc

import (
	"context"
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Extensive metrics time every call; a handler's context error is counted
// under the code gRPC sends for it, a status under its own code.
func TestGRPCMetricsExtensiveAndCodes(t *testing.T) {
	m := newGRPCMetrics(true)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(m)
	call := m.unaryInterceptor()
	info := &grpc.UnaryServerInfo{FullMethod: "/etcdserverpb.KV/Put"}
	for _, err := range []error{nil, context.Canceled, context.DeadlineExceeded, status.Error(codes.ResourceExhausted, "x"), errors.New("plain")} {
		_, _ = call(context.Background(), nil, info, func(context.Context, any) (any, error) { return nil, err })
	}
	for code, want := range map[string]float64{"OK": 1, "Canceled": 1, "DeadlineExceeded": 1, "ResourceExhausted": 1, "Unknown": 1, "NotFound": 0} {
		if got := testutil.ToFloat64(m.handled.WithLabelValues(unaryCall, "etcdserverpb.KV", "Put", code)); got != want {
			t.Errorf("handled %s = %v, want %v", code, got, want)
		}
	}
	if n := testutil.CollectAndCount(m.handling, "grpc_server_handling_seconds"); n != 1 {
		t.Errorf("%d handling-time series, want 1", n)
	}
	if got := testutil.ToFloat64(m.started.WithLabelValues(unaryCall, "etcdserverpb.KV", "Put")); got != 5 {
		t.Errorf("started = %v, want 5", got)
	}
	if _, err := reg.Gather(); err != nil {
		t.Fatalf("the registry refuses the metrics: %v", err)
	}
}
