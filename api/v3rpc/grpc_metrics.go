package v3rpc

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// grpcMetrics are the grpc_server_* metrics etcd exports through
// go-grpc-prometheus, under the same names, help, labels and counting
// rules (a unary call counts one message each way, even when it fails; a
// stream counts every SendMsg and RecvMsg). Each method's counters are
// looked up once, not by their label values on every call and message:
// with many watchers that lookup was a twentieth of the server's CPU.
type grpcMetrics struct {
	started, handled, received, sent *prometheus.CounterVec
	// handling is nil unless the metrics are extensive.
	handling *prometheus.HistogramVec

	mu      sync.RWMutex
	methods map[string]*methodMetrics
}

// methodMetrics are one method's series.
type methodMetrics struct {
	started, received, sent prometheus.Counter
	handling                prometheus.Observer
	// handled is indexed by status code; codes beyond it are looked up.
	handled [codes.Unauthenticated + 1]prometheus.Counter
	labels  [3]string
}

// gRPC call types, as go-grpc-prometheus names them.
const (
	unaryCall        = "unary"
	clientStreamCall = "client_stream"
	serverStreamCall = "server_stream"
	bidiStreamCall   = "bidi_stream"
)

func newGRPCMetrics(extensive bool) *grpcMetrics {
	labels := []string{"grpc_type", "grpc_service", "grpc_method"}
	counter := func(name, help string, labels []string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	m := &grpcMetrics{
		started: counter("grpc_server_started_total", "Total number of RPCs started on the server.", labels),
		handled: counter("grpc_server_handled_total", "Total number of RPCs completed on the server, regardless of success or failure.",
			append(labels[:3:3], "grpc_code")),
		received: counter("grpc_server_msg_received_total", "Total number of RPC stream messages received on the server.", labels),
		sent:     counter("grpc_server_msg_sent_total", "Total number of gRPC stream messages sent by the server.", labels),
		methods:  map[string]*methodMetrics{},
	}
	if extensive {
		m.handling = prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "grpc_server_handling_seconds",
			Help:    "Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.",
			Buckets: prometheus.DefBuckets,
		}, labels)
	}
	return m
}

// Describe and Collect make the metrics one prometheus.Collector.
func (m *grpcMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.collectors() {
		c.Describe(ch)
	}
}

func (m *grpcMetrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.collectors() {
		c.Collect(ch)
	}
}

func (m *grpcMetrics) collectors() []prometheus.Collector {
	cs := []prometheus.Collector{m.started, m.handled, m.received, m.sent}
	if m.handling != nil {
		cs = append(cs, m.handling)
	}
	return cs
}

// initialize creates every series of every method srv serves, at zero,
// as go-grpc-prometheus's InitializeMetrics does.
func (m *grpcMetrics) initialize(srv *grpc.Server) {
	for service, info := range srv.GetServiceInfo() {
		for _, mi := range info.Methods {
			m.method("/"+service+"/"+mi.Name, callType(mi.IsClientStream, mi.IsServerStream))
		}
	}
}

// callType names a method's type: unary when neither side streams (a
// streaming method's StreamServerInfo always has one side set).
func callType(clientStream, serverStream bool) string {
	switch {
	case !clientStream && !serverStream:
		return unaryCall
	case clientStream && !serverStream:
		return clientStreamCall
	case !clientStream && serverStream:
		return serverStreamCall
	}
	return bidiStreamCall
}

// method returns fullMethod's series, creating them (at zero) the first
// time. A method has one type, so its full name is the key.
func (m *grpcMetrics) method(fullMethod, typ string) *methodMetrics {
	m.mu.RLock()
	mm := m.methods[fullMethod]
	m.mu.RUnlock()
	if mm != nil {
		return mm
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if mm = m.methods[fullMethod]; mm != nil {
		return mm
	}
	service, method := splitMethod(fullMethod)
	mm = &methodMetrics{labels: [3]string{typ, service, method}}
	lv := mm.labels[:]
	mm.started = m.started.WithLabelValues(lv...)
	mm.received = m.received.WithLabelValues(lv...)
	mm.sent = m.sent.WithLabelValues(lv...)
	if m.handling != nil {
		mm.handling = m.handling.WithLabelValues(lv...)
	}
	for c := range mm.handled {
		mm.handled[c] = m.handled.WithLabelValues(typ, service, method, codes.Code(c).String())
	}
	m.methods[fullMethod] = mm
	return mm
}

// splitMethod splits "/service/method"; a name without both parts is
// reported as service "unknown", as go-grpc-prometheus does.
func splitMethod(fullMethod string) (service, method string) {
	fullMethod = strings.TrimPrefix(fullMethod, "/")
	if i := strings.Index(fullMethod, "/"); i >= 0 {
		return fullMethod[:i], fullMethod[i+1:]
	}
	return "unknown", "unknown"
}

// done counts a finished call.
func (m *grpcMetrics) done(mm *methodMetrics, err error, start time.Time) {
	code := callCode(err)
	if int(code) < len(mm.handled) {
		mm.handled[code].Inc()
	} else {
		m.handled.WithLabelValues(mm.labels[0], mm.labels[1], mm.labels[2], code.String()).Inc()
	}
	if mm.handling != nil {
		mm.handling.Observe(time.Since(start).Seconds())
	}
}

// callCode is the status code gRPC sends for err: context errors become
// Canceled or DeadlineExceeded, as the server itself converts them.
func callCode(err error) codes.Code {
	if err == nil {
		return codes.OK
	}
	if s, ok := status.FromError(err); ok {
		return s.Code()
	}
	return status.FromContextError(err).Code()
}

func (m *grpcMetrics) unaryInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := time.Now()
		mm := m.method(info.FullMethod, unaryCall)
		mm.started.Inc()
		mm.received.Inc()
		resp, err := handler(ctx, req)
		mm.sent.Inc()
		m.done(mm, err, start)
		return resp, err
	}
}

func (m *grpcMetrics) streamInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		start := time.Now()
		mm := m.method(info.FullMethod, callType(info.IsClientStream, info.IsServerStream))
		mm.started.Inc()
		err := handler(srv, &countedStream{ServerStream: ss, mm: mm})
		m.done(mm, err, start)
		return err
	}
}

// countedStream counts a stream's messages, sent and received, whether
// or not they went through.
type countedStream struct {
	grpc.ServerStream
	mm *methodMetrics
}

func (s *countedStream) SendMsg(msg any) error {
	err := s.ServerStream.SendMsg(msg)
	s.mm.sent.Inc()
	return err
}

func (s *countedStream) RecvMsg(msg any) error {
	err := s.ServerStream.RecvMsg(msg)
	s.mm.received.Inc()
	return err
}
