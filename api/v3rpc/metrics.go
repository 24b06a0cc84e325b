package v3rpc

import (
	"errors"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
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

	// The watch send loop's work per response taken from the store (from
	// taking it to having sent it), per control response (created,
	// canceled), and per progress tick.
	watchSendLoopWatchStreamSec = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "etcd_debugging",
		Subsystem: "server",
		Name:      "watch_send_loop_watch_stream_duration_seconds",
		Help:      "The total duration in seconds of running through the send loop watch stream response all events.",
		// 1 ms to 8.192 s.
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
	})
	// watchSendLoopWatchStreamPerEventSec is the same divided by the
	// response's events; a response without events (progress) is left
	// out, where etcd observes +Inf.
	watchSendLoopWatchStreamPerEventSec = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "etcd_debugging",
		Subsystem: "server",
		Name:      "watch_send_loop_watch_stream_duration_per_event_seconds",
		Help:      "The average duration in seconds of running through the send loop watch stream response, per event.",
		Buckets:   prometheus.ExponentialBuckets(0.001, 2, 14),
	})
	watchSendLoopControlStreamSec = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "etcd_debugging",
		Subsystem: "server",
		Name:      "watch_send_loop_control_stream_duration_seconds",
		Help:      "The total duration in seconds of running through the send loop control stream response.",
		Buckets:   prometheus.ExponentialBuckets(0.001, 2, 14),
	})
	watchSendLoopProgressSec = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "etcd_debugging",
		Subsystem: "server",
		Name:      "watch_send_loop_progress_duration_seconds",
		Help:      "The total duration in seconds of running through the progress loop control stream response.",
		Buckets:   prometheus.ExponentialBuckets(0.001, 2, 14),
	})
)

var (
	metricsOnce sync.Once
	// processGRPCMetrics is process-wide, as the default registry is:
	// every server of the process shares it, configured by the first.
	processGRPCMetrics *grpcMetrics
)

// serverMetrics registers the client-API metrics with the default
// registry, once, and returns the grpc_server_* interceptors' metrics.
// extensive adds grpc_server_handling_seconds (etcd's --metrics=extensive).
func serverMetrics(extensive bool, lg *zap.Logger) *grpcMetrics {
	metricsOnce.Do(func() {
		processGRPCMetrics = newGRPCMetrics(extensive)
		for _, c := range []prometheus.Collector{processGRPCMetrics, sentBytes, receivedBytes, streamFailures, clientRequests,
			watchSendLoopWatchStreamSec, watchSendLoopWatchStreamPerEventSec, watchSendLoopControlStreamSec, watchSendLoopProgressSec} {
			if err := prometheus.Register(c); err != nil {
				var already prometheus.AlreadyRegisteredError
				if !errors.As(err, &already) {
					lg.Warn("failed to register grpc metrics", zap.Error(err))
				}
			}
		}
	})
	return processGRPCMetrics
}

// serverCodec is protobuf, plus watch responses already in wire form
// (encodedResponse). The public server's also counts the payload bytes of
// client RPCs as it encodes and decodes them (etcd counts in its codec
// too). A stats handler would count at a cost on every RPC: gRPC copies
// the incoming metadata and builds an event for each header, payload and
// trailer it reports.
type serverCodec struct {
	encoding.CodecV2
	count bool
}

func newServerCodec(count bool) serverCodec {
	return serverCodec{CodecV2: encoding.GetCodecV2(grpcproto.Name), count: count}
}

func (c serverCodec) Marshal(v any) (mem.BufferSlice, error) {
	var out mem.BufferSlice
	if e, ok := v.(*encodedResponse); ok {
		out = mem.BufferSlice{mem.SliceBuffer(e.head), mem.SliceBuffer(e.events)}
	} else {
		var err error
		if out, err = c.CodecV2.Marshal(v); err != nil {
			return nil, err
		}
	}
	if c.count {
		sentBytes.Add(float64(out.Len()))
	}
	return out, nil
}

func (c serverCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if c.count {
		receivedBytes.Add(float64(data.Len()))
	}
	return c.CodecV2.Unmarshal(data, v)
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
