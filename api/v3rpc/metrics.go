package v3rpc

import (
	"context"
	"errors"
	"strings"
	"sync"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
)

// etcd's client-API metrics, under etcd's names: dashboards and alerts
// written for etcd work unchanged.
var (
	sentBytes = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "etcd",
		Subsystem: "network",
		Name:      "client_grpc_sent_bytes_total",
		Help:      "The total number of bytes sent to grpc clients.",
	})
	receivedBytes = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "etcd",
		Subsystem: "network",
		Name:      "client_grpc_received_bytes_total",
		Help:      "The total number of bytes received from grpc clients.",
	})
	streamFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "etcd",
		Subsystem: "network",
		Name:      "server_stream_failures_total",
		Help:      "The total number of stream failures from the local server.",
	}, []string{"Type", "API"})
	clientRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "etcd",
		Subsystem: "server",
		Name:      "client_requests_total",
		Help:      "The total number of client requests per client version.",
	}, []string{"type", "client_api_version"})
)

var (
	metricsOnce sync.Once
	// grpcMetrics is process-wide, as the default registry is: every
	// server of the process shares it, configured by the first.
	grpcMetrics *grpcprom.ServerMetrics
)

// serverMetrics registers the client-API metrics with the default
// registry, once, and returns the grpc_server_* interceptors' metrics.
// extensive adds grpc_server_handling_seconds (etcd's --metrics=extensive).
func serverMetrics(extensive bool, lg *zap.Logger) *grpcprom.ServerMetrics {
	metricsOnce.Do(func() {
		var opts []grpcprom.ServerMetricsOption
		if extensive {
			opts = append(opts, grpcprom.WithServerHandlingTimeHistogram())
		}
		grpcMetrics = grpcprom.NewServerMetrics(opts...)
		for _, c := range []prometheus.Collector{grpcMetrics, sentBytes, receivedBytes, streamFailures, clientRequests} {
			if err := prometheus.Register(c); err != nil {
				var already prometheus.AlreadyRegisteredError
				if !errors.As(err, &already) {
					lg.Warn("failed to register grpc metrics", zap.Error(err))
				}
			}
		}
	})
	return grpcMetrics
}

// byteCounter counts the payload bytes of client RPCs.
type byteCounter struct{}

func (byteCounter) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (byteCounter) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}
func (byteCounter) HandleConn(context.Context, stats.ConnStats) {}

func (byteCounter) HandleRPC(_ context.Context, s stats.RPCStats) {
	switch p := s.(type) {
	case *stats.InPayload:
		receivedBytes.Add(float64(p.Length))
	case *stats.OutPayload:
		sentBytes.Add(float64(p.Length))
	}
}

// isClientCtxErr tells a stream error caused by the client going away
// (worth a debug line) from a real failure (worth a warning and a count).
func isClientCtxErr(ctxErr, err error) bool {
	if ctxErr != nil {
		return true
	}
	st, ok := status.FromError(err)
	if !ok {
		return false
	}
	switch st.Code() {
	case codes.Canceled, codes.DeadlineExceeded:
		return true
	case codes.Unavailable:
		msg := st.Message()
		return msg == "client disconnected" ||
			(strings.HasPrefix(msg, "stream error: ") && strings.HasSuffix(msg, "; CANCEL"))
	}
	return false
}
