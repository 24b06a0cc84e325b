package httpapi

import (
	"crypto/tls"
	"errors"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/basaltkv/basalt/pkg/tlsutil"
	"github.com/soheilhy/cmux"
	"go.uber.org/zap"
	"google.golang.org/grpc"
)

// Server serves gRPC and HTTP/1.1 on one client listener, as etcd does:
//
//   - plain: connections are told apart by their first bytes (cmux): the
//     HTTP/2 preface goes to the gRPC server, HTTP/1.x to the HTTP
//     handler;
//   - TLS: every connection is an HTTPS connection (HTTP/2 negotiated by
//     ALPN, or HTTP/1.1), and requests with a gRPC content type over
//     HTTP/2 are handed to the gRPC server, the others to the handler;
//   - both (AlsoPlain, the same address listed as http:// and https://):
//     plain HTTP/1.x and HTTP/2 connections are served as plain ones, and
//     every other connection is taken to be a TLS handshake.
type Server struct {
	l      net.Listener
	grpc   *grpc.Server
	http   *http.Server
	tlsCfg *tls.Config
	// Logger, if set before Serve, receives etcd's serving messages.
	Logger *zap.Logger
	// AlsoPlain, set before Serve on a TLS server, serves plain
	// connections too.
	AlsoPlain bool
	// OnTLSHandshakeFailure, if set before Serve, is told of every TLS
	// connection refused in its handshake.
	OnTLSHandshakeFailure func(*tls.Conn, error)

	mu     sync.Mutex
	closed bool
}

// NewServer prepares to serve grpcSrv and handler on l; tlsCfg nil serves
// plain connections. Either of grpcSrv and handler may be nil.
func NewServer(l net.Listener, grpcSrv *grpc.Server, handler http.Handler, tlsCfg *tls.Config) *Server {
	s := &Server{l: l, grpc: grpcSrv, Logger: zap.NewNop()}
	if handler == nil {
		handler = http.NotFoundHandler()
	}
	if tlsCfg != nil && grpcSrv != nil {
		// Plain HTTP/1.x requests (AlsoPlain) pass through to handler.
		handler = grpcHandler(grpcSrv, handler)
	}
	s.http = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Minute,
		// Client mistakes are not the server's to log.
		ErrorLog: log.New(io.Discard, "", 0),
		// Unlimited streams per connection, as etcd's default
		// --max-concurrent-streams.
		HTTP2: &http.HTTP2Config{MaxConcurrentStreams: math.MaxInt32},
	}
	if tlsCfg != nil {
		cfg := tlsCfg.Clone()
		// HTTP/2 must be offered for gRPC; HTTP/1.1 for everything else.
		for _, p := range []string{"h2", "http/1.1"} {
			if !slices.Contains(cfg.NextProtos, p) {
				cfg.NextProtos = append(cfg.NextProtos, p)
			}
		}
		s.tlsCfg = cfg
		s.http.TLSConfig = cfg
	}
	return s
}

// Serve serves l until Close (then it returns nil) or until l fails.
// The gRPC server is its owner's to stop.
func Serve(l net.Listener, grpcSrv *grpc.Server, handler http.Handler, tlsCfg *tls.Config) error {
	return NewServer(l, grpcSrv, handler, tlsCfg).Serve()
}

// Serve serves until Close or a listener error.
func (s *Server) Serve() error {
	s.Logger.Info("ready to serve client requests")
	var err error
	switch {
	case s.tlsCfg == nil:
		err = s.serveMux(false)
	case s.AlsoPlain:
		err = s.serveMux(true)
	default:
		err = s.serveTLS(s.l)
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil
	}
	return err
}

// serveMux serves plain connections, told apart by their first bytes,
// and, withTLS, everything else as TLS.
func (s *Server) serveMux(withTLS bool) error {
	s.Logger.Info("serving client traffic insecurely; this is strongly discouraged!", zap.String("address", s.l.Addr().String()))
	m := cmux.New(s.l)
	var wg sync.WaitGroup
	serve := func(f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = f()
		}()
	}
	httpl := m.Match(cmux.HTTP1())
	serve(func() error { return s.http.Serve(httpl) })
	if s.grpc != nil {
		grpcl := m.Match(cmux.HTTP2())
		serve(func() error { return s.grpc.Serve(grpcl) })
	}
	if withTLS {
		tlsl := m.Match(cmux.Any())
		serve(func() error { return s.serveTLS(tlsl) })
	}
	err := m.Serve()
	// The matched listeners end with the root one.
	wg.Wait()
	return err
}

// serveTLS serves l's connections as TLS ones, completing handshakes in
// their own goroutines and reporting refused ones.
func (s *Server) serveTLS(l net.Listener) error {
	s.Logger.Info("serving client traffic securely", zap.String("address", s.l.Addr().String()))
	return s.http.Serve(tlsutil.Listen(l, s.tlsCfg, tlsutil.ListenOptions{OnHandshakeFailure: s.OnTLSHandshakeFailure}))
}

// Close stops accepting connections and closes the HTTP connections.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	err := s.http.Close()
	if cerr := s.l.Close(); err == nil && !errors.Is(cerr, net.ErrClosed) {
		err = cerr
	}
	return err
}

// grpcHandler hands gRPC requests (HTTP/2 with a gRPC content type) to
// the gRPC server and others to next.
func grpcHandler(gs *grpc.Server, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor == 2 && strings.Contains(r.Header.Get("Content-Type"), "application/grpc") {
			gs.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}
