package embed

import (
	"context"
	"fmt"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	tracesdk "go.opentelemetry.io/otel/sdk/trace"
	"go.uber.org/zap"
	"google.golang.org/grpc/stats"
)

// Distributed tracing's defaults (etcd's).
const (
	DefaultDistributedTracingAddress     = "localhost:4317"
	DefaultDistributedTracingServiceName = "etcd"
	maxSamplingRatePerMillion            = 1000000
)

// validateTracing checks --distributed-tracing-sampling-rate as etcd does.
func validateTracing(samplingRate int) error {
	if samplingRate < 0 {
		return fmt.Errorf("tracing sampling rate must be positive")
	}
	if samplingRate > maxSamplingRatePerMillion {
		return fmt.Errorf("tracing sampling rate must be less than %d", maxSamplingRatePerMillion)
	}
	return nil
}

// Tracing exports OpenTelemetry spans of the client gRPC requests over
// OTLP (--enable-distributed-tracing), as etcd does: to
// --distributed-tracing-address (insecure gRPC), as the service
// --distributed-tracing-service-name (and instance ID, if given), sampling
// --distributed-tracing-sampling-rate requests per million (parent-based:
// a request whose caller traces it is traced).
type Tracing struct {
	exporter *otlptrace.Exporter
	provider *tracesdk.TracerProvider
}

// NewTracing starts the exporter; the connection to the collector is made
// lazily, as etcd's.
func (cfg *Config) NewTracing(ctx context.Context, lg *zap.Logger) (*Tracing, error) {
	exporter, err := otlptracegrpc.New(ctx, otlptracegrpc.WithInsecure(), otlptracegrpc.WithEndpoint(cfg.DistributedTracingAddress))
	if err != nil {
		return nil, err
	}
	attrs := []attribute.KeyValue{attribute.String("service.name", cfg.DistributedTracingServiceName)}
	if cfg.DistributedTracingServiceInstanceID != "" {
		attrs = append(attrs, attribute.String("service.instance.id", cfg.DistributedTracingServiceInstanceID))
	}
	sampler := tracesdk.NeverSample()
	if rate := cfg.DistributedTracingSamplingRatePerMillion; rate > 0 {
		sampler = tracesdk.TraceIDRatioBased(float64(rate) / maxSamplingRatePerMillion)
	}
	provider := tracesdk.NewTracerProvider(
		tracesdk.WithBatcher(exporter),
		tracesdk.WithResource(resource.NewSchemaless(attrs...)),
		tracesdk.WithSampler(tracesdk.ParentBased(sampler)),
	)
	lg.Info("distributed tracing enabled", zap.String("address", cfg.DistributedTracingAddress),
		zap.String("service-name", cfg.DistributedTracingServiceName),
		zap.String("service-instance-id", cfg.DistributedTracingServiceInstanceID),
		zap.Int("sampling-rate", cfg.DistributedTracingSamplingRatePerMillion))
	return &Tracing{exporter: exporter, provider: provider}, nil
}

// StatsHandler traces the gRPC server's requests.
func (t *Tracing) StatsHandler() stats.Handler {
	return otelgrpc.NewServerHandler(
		otelgrpc.WithPropagators(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})),
		otelgrpc.WithTracerProvider(t.provider))
}

// Close flushes the spans not exported yet and stops.
func (t *Tracing) Close(ctx context.Context) {
	_ = t.provider.Shutdown(ctx)
	_ = t.exporter.Shutdown(ctx)
}
