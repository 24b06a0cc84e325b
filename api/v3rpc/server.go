// Package v3rpc serves etcd's v3 gRPC API (KV, Watch, Lease, Cluster,
// Maintenance, Auth, and the v3lock and v3election recipes) over a
// Member. It validates requests, fills response headers and maps the
// member's errors to etcd's rpctypes errors; it holds no state of its own
// beyond the streams it serves.
package v3rpc

import (
	"crypto/tls"
	"fmt"
	"math"
	"sync"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/stats"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3election/v3electionpb"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3lock/v3lockpb"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// etcd's defaults, applied to zero Config fields.
const (
	DefaultMaxRequestBytes             = 1536 * 1024
	DefaultMaxTxnOps                   = 128
	DefaultWarningUnaryRequestDuration = 300 * time.Millisecond
	defaultElectionTimeout             = time.Second
)

// grpcOverheadBytes is the room gRPC's receive limit leaves above
// MaxRequestBytes, so that a request just over the limit reaches the
// member's size check (and its clear error) instead of failing in gRPC.
const grpcOverheadBytes = 512 * 1024

// Config configures the client gRPC server. Zero fields take etcd's
// defaults, except where said.
type Config struct {
	// MaxRequestBytes bounds a write request (--max-request-bytes).
	MaxRequestBytes uint
	// MaxTxnOps bounds each of a txn's compare, success and failure lists
	// (--max-txn-ops).
	MaxTxnOps uint
	// MaxConcurrentStreams bounds the streams of one client connection
	// (--max-concurrent-streams); zero is unlimited.
	MaxConcurrentStreams uint32

	// KeepaliveMinTime is the shortest interval at which a client may
	// ping (--grpc-keepalive-min-time); zero leaves gRPC's policy.
	KeepaliveMinTime time.Duration
	// KeepaliveInterval and KeepaliveTimeout make the server ping idle
	// connections and drop those that do not answer
	// (--grpc-keepalive-interval, --grpc-keepalive-timeout); both must be
	// set for either to apply.
	KeepaliveInterval time.Duration
	KeepaliveTimeout  time.Duration

	// TLS secures the gRPC server when it serves a listener itself; nil
	// is plain. (Behind httpapi.Serve, TLS is terminated there.)
	TLS *tls.Config
	// StatsHandler, if set, sees the public server's requests
	// (distributed tracing).
	StatsHandler stats.Handler
	// ClientCertAuth (--client-cert-auth): while auth is on, a request
	// without a token is from the user its verified client certificate's
	// common name names.
	ClientCertAuth bool

	// ElectionTimeout paces the check that ends streams whose client
	// required a leader once the member has had none for three timeouts.
	ElectionTimeout time.Duration
	// WatchProgressNotifyInterval is how often idle watchers that asked
	// for it get a progress notification (10 minutes by default; at least
	// 100ms).
	WatchProgressNotifyInterval time.Duration
	// WarningUnaryRequestDuration: slower requests are logged.
	WarningUnaryRequestDuration time.Duration
	// ExtensiveMetrics adds the gRPC handling-time histograms
	// (--metrics=extensive).
	ExtensiveMetrics bool
	// StopGRPCServiceOnDefrag reports NOT_SERVING on the gRPC health
	// service while defragmenting (etcd's feature gate of that name).
	StopGRPCServiceOnDefrag bool

	Logger *zap.Logger
}

func (c *Config) applyDefaults() {
	if c.MaxRequestBytes == 0 {
		c.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if c.MaxTxnOps == 0 {
		c.MaxTxnOps = DefaultMaxTxnOps
	}
	if c.MaxConcurrentStreams == 0 {
		c.MaxConcurrentStreams = math.MaxUint32
	}
	if c.ElectionTimeout <= 0 {
		c.ElectionTimeout = defaultElectionTimeout
	}
	if c.WatchProgressNotifyInterval <= 0 {
		c.WatchProgressNotifyInterval = DefaultWatchProgressNotifyInterval
	}
	if c.WarningUnaryRequestDuration <= 0 {
		c.WarningUnaryRequestDuration = DefaultWarningUnaryRequestDuration
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
}

// Server is a member's client gRPC server. Serve its GRPCServer on the
// client listeners (httpapi.Serve shares one with HTTP); ClientConn is a
// connection to the same services that never leaves the process, for the
// JSON gateway.
type Server struct {
	grpc *grpc.Server
	// internal serves the same services as grpc over an in-process
	// listener, to the lock and election recipes' client and to the
	// gateway (see inprocess.go).
	internal *inProcess
	client   *clientv3.Client

	stopc    chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

// streamWorkers is the number of goroutines that serve the public
// server's requests one after another; requests beyond it get a goroutine
// of their own, as without workers.
const streamWorkers = 64

// NewServer builds the client gRPC server over m.
func NewServer(m Member, cfg Config) (*Server, error) {
	cfg.applyDefaults()
	lg := cfg.Logger
	if cfg.WatchProgressNotifyInterval < minWatchProgressNotifyInterval {
		lg.Warn("adjusting watch progress notify interval to minimum period",
			zap.Duration("min-watch-progress-notify-interval", minWatchProgressNotifyInterval))
		cfg.WatchProgressNotifyInterval = minWatchProgressNotifyInterval
	}
	s := &Server{stopc: make(chan struct{})}
	streams := &leaderStreams{streams: map[*cancellableContext]struct{}{}}

	common := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(int(cfg.MaxRequestBytes + grpcOverheadBytes)),
		grpc.MaxSendMsgSize(math.MaxInt32),
		grpc.MaxConcurrentStreams(cfg.MaxConcurrentStreams),
		// Stop returns only once every handler has: the member may be
		// closed right after, and handlers read its store.
		grpc.WaitForHandlers(true),
	}

	// Who a request is from: the public server reads tokens (and
	// certificates); the in-process server also the handles with which
	// the recipes pass their callers on.
	recipeCallers := newCallers()
	publicAuth := authOptions{clientCertAuth: cfg.ClientCertAuth, callers: recipeCallers}
	internalAuth := authOptions{internal: true, callers: recipeCallers}

	// The public server: metrics, request logging, keepalive policy, TLS.
	metrics := serverMetrics(cfg.ExtensiveMetrics, lg)
	opts := append([]grpc.ServerOption{}, common...)
	opts = append(opts,
		grpc.ChainUnaryInterceptor(logUnaryInterceptor(lg, cfg.WarningUnaryRequestDuration), metrics.unaryInterceptor(), unaryInterceptor(m, publicAuth)),
		grpc.ChainStreamInterceptor(metrics.streamInterceptor(), streamInterceptor(m, streams, publicAuth)),
		grpc.ForceServerCodecV2(newServerCodec(true)),
		// Requests are served by long-lived goroutines while enough are
		// idle: a new goroutine per request grows its stack (copying it)
		// on every request, about a twentieth of a put's CPU.
		grpc.NumStreamWorkers(streamWorkers),
	)
	if cfg.TLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(cfg.TLS)))
	}
	if cfg.StatsHandler != nil {
		opts = append(opts, grpc.StatsHandler(cfg.StatsHandler))
	}
	if cfg.KeepaliveMinTime > 0 {
		opts = append(opts, grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: cfg.KeepaliveMinTime}))
	}
	if cfg.KeepaliveInterval > 0 && cfg.KeepaliveTimeout > 0 {
		opts = append(opts, grpc.KeepaliveParams(keepalive.ServerParameters{Time: cfg.KeepaliveInterval, Timeout: cfg.KeepaliveTimeout}))
	}
	s.grpc = grpc.NewServer(opts...)

	// The in-process server: the member's own requests are neither
	// counted nor logged as client traffic, as in etcd where they bypass
	// gRPC altogether; the checks still apply.
	internalOpts := append([]grpc.ServerOption{}, common...)
	internalOpts = append(internalOpts,
		grpc.ChainUnaryInterceptor(unaryInterceptor(m, internalAuth)),
		grpc.ChainStreamInterceptor(streamInterceptor(m, streams, internalAuth)),
		grpc.ForceServerCodecV2(newServerCodec(false)),
	)
	s.internal = newInProcess(grpc.NewServer(internalOpts...))

	client, err := s.internal.newClient(lg.Named("v3client"))
	if err != nil {
		return nil, fmt.Errorf("v3rpc: in-process client: %w", err)
	}
	s.client = client

	hdr := header{m: m}
	healthSrv := health.NewServer()
	svcs := services{
		kv:          &kvServer{m: m, hdr: hdr, maxTxnOps: int(cfg.MaxTxnOps), maxRequestBytes: cfg.MaxRequestBytes},
		watch:       &watchServer{m: m, hdr: hdr, lg: lg, fragmentBytes: int(cfg.MaxRequestBytes + grpcOverheadBytes), progressInterval: cfg.WatchProgressNotifyInterval},
		lease:       &leaseServer{m: m, hdr: hdr, lg: lg, maxRequestBytes: cfg.MaxRequestBytes},
		cluster:     &clusterServer{m: m, hdr: hdr},
		maintenance: &maintenanceServer{m: m, hdr: hdr, lg: lg, health: healthSrv, stopOnDefrag: cfg.StopGRPCServiceOnDefrag},
		auth:        &authServer{m: m, hdr: hdr},
		lock:        &lockServer{c: client},
		election:    &electionServer{c: client},
	}
	svcs.register(s.grpc)
	svcs.register(s.internal.srv)
	healthpb.RegisterHealthServer(s.grpc, healthSrv)
	healthSrv.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	metrics.initialize(s.grpc)

	s.internal.serve(lg)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		monitorLeader(m, streams, cfg.ElectionTimeout, s.stopc)
	}()
	return s, nil
}

// services are the handlers, shared by the public and in-process servers.
type services struct {
	kv          pb.KVServer
	watch       pb.WatchServer
	lease       pb.LeaseServer
	cluster     pb.ClusterServer
	maintenance pb.MaintenanceServer
	auth        pb.AuthServer
	lock        v3lockpb.LockServer
	election    v3electionpb.ElectionServer
}

func (sv services) register(gs *grpc.Server) {
	pb.RegisterKVServer(gs, sv.kv)
	pb.RegisterWatchServer(gs, sv.watch)
	pb.RegisterLeaseServer(gs, sv.lease)
	pb.RegisterClusterServer(gs, sv.cluster)
	pb.RegisterMaintenanceServer(gs, sv.maintenance)
	pb.RegisterAuthServer(gs, sv.auth)
	v3lockpb.RegisterLockServer(gs, sv.lock)
	v3electionpb.RegisterElectionServer(gs, sv.election)
}

// GRPCServer is the server to serve on client listeners.
func (s *Server) GRPCServer() *grpc.Server { return s.grpc }

// ClientConn is an in-process connection to the same services, for the
// JSON gateway. It is closed by Stop.
func (s *Server) ClientConn() *grpc.ClientConn { return s.internal.conn }

// Stop ends every RPC and connection at once.
func (s *Server) Stop() {
	s.stop(func() { s.grpc.Stop() })
}

// GracefulStop stops accepting RPCs and waits for those in flight. Lock
// and Campaign calls still waiting fail first: they could wait forever.
func (s *Server) GracefulStop() {
	s.stop(func() { s.grpc.GracefulStop() })
}

func (s *Server) stop(stopPublic func()) {
	s.stopOnce.Do(func() {
		close(s.stopc)
		// The recipes' client first, so that waiting recipes return.
		if err := s.client.Close(); err != nil {
			s.internalLogger().Debug("closing in-process client", zap.Error(err))
		}
		stopPublic()
		s.internal.stop()
		s.wg.Wait()
	})
}

func (s *Server) internalLogger() *zap.Logger { return s.internal.lg }
