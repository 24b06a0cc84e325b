package e2e

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/basaltkv/basalt/pkg/testutil"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
)

// collector is an OTLP trace collector stand-in: it keeps the names of
// the spans it receives and the service names they come from.
type collector struct {
	coltracepb.UnimplementedTraceServiceServer
	mu    sync.Mutex
	spans []string // "service/span"
}

func (c *collector) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range req.ResourceSpans {
		service := ""
		for _, a := range rs.Resource.GetAttributes() {
			if a.Key == "service.name" {
				service = a.Value.GetStringValue()
			}
		}
		for _, ss := range rs.ScopeSpans {
			for _, sp := range ss.Spans {
				c.spans = append(c.spans, service+"/"+sp.Name)
			}
		}
	}
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

func (c *collector) has(span string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.spans {
		if s == span {
			return true
		}
	}
	return false
}

// TestDistributedTracing runs a member with etcd's tracing flags against
// a collector inside the test: the spans of its gRPC requests arrive over
// OTLP under the service name given.
func TestDistributedTracing(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	col := &collector{}
	gs := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(gs, col)
	go gs.Serve(lis)
	defer gs.Stop()

	p, client := StartLoneMember(t, t.TempDir(),
		"--enable-distributed-tracing", "--distributed-tracing-address", lis.Addr().String(),
		"--distributed-tracing-service-name", "basalt-test", "--distributed-tracing-instance-id", "m",
		"--distributed-tracing-sampling-rate", "1000000")
	if err := p.WaitOutput(ReadyLine, time.Minute); err != nil {
		t.Fatalf("not ready: %v\n%s", err, p.Output())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := NewClient(t, []string{client}, nil).Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	// Spans are exported in batches, every few seconds.
	testutil.WaitUntil(t, 30*time.Second, "the put's span at the collector", func() bool {
		return col.has("basalt-test/etcdserverpb.KV/Put")
	})
	if !strings.Contains(p.Output(), "distributed tracing enabled") {
		t.Error("the member did not log that tracing is on")
	}
}
