package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync"
	"time"

	"github.com/basaltkv/basalt/api/httpapi"
	"github.com/basaltkv/basalt/api/v2http"
	"github.com/basaltkv/basalt/api/v3rpc"
	"github.com/basaltkv/basalt/pkg/failpoint"
	"github.com/basaltkv/basalt/pkg/flags"
	"github.com/basaltkv/basalt/server"
	"github.com/basaltkv/basalt/server/embed"
	"go.uber.org/zap"
)

// node is a running member with its listeners: peer traffic, the client
// API (gRPC and HTTP on each client URL) and the metrics URLs.
type node struct {
	cfg    *embed.Config
	lg     *zap.Logger
	member *server.Member
	rpc    *v3rpc.Server
	// tracing exports spans (--enable-distributed-tracing), or is nil.
	tracing *embed.Tracing

	peerLns   []embed.Listener
	clientLns []embed.Listener
	metricLns []embed.Listener

	peerSrvs   []*http.Server
	metricSrvs []*http.Server

	// mu guards clientSrvs, which the goroutine waiting for the member to
	// be ready fills, and closing, set once close begins.
	mu         sync.Mutex
	clientSrvs []*httpapi.Server
	closing    bool

	// errc carries the first listener failure; stopc stops the serving
	// goroutines from reporting more.
	errc      chan error
	stopc     chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// start opens the listeners, creates and starts the member, serves peer
// traffic at once and client traffic once the member is ready, as etcd
// does.
func start(cfg *embed.Config, lg *zap.Logger) (_ *node, err error) {
	n := &node{cfg: cfg, lg: lg, errc: make(chan error, 1), stopc: make(chan struct{})}
	defer func() {
		if err != nil {
			n.closeListeners()
		}
	}()
	initialized, err := cfg.CheckDataDir(lg)
	if err != nil {
		return nil, err
	}
	if initialized {
		lg.Info("server has already been initialized", zap.String("data-dir", cfg.Dir), zap.String("dir-type", "member"))
	} else {
		lg.Info("Initialize and start etcd server", zap.String("data-dir", cfg.Dir), zap.String("dir-type", "empty"))
		if err := cfg.ResolveInitialCluster(lg); err != nil {
			return nil, err
		}
		if cfg.IsNewCluster() {
			if err := cfg.VerifyBootstrap(); err != nil {
				return nil, err
			}
		} else if cfg.ShouldDiscover() {
			return nil, errors.New("discovery URL should not be set when joining existing initial cluster")
		}
	}
	if err := cfg.ResolveTLS(lg); err != nil {
		return nil, err
	}
	lg.Info("configuring peer listeners", zap.String("listen-peer-urls", flags.URLsString(cfg.ListenPeerUrls)))
	if n.peerLns, err = cfg.ListenPeers(lg); err != nil {
		return nil, err
	}
	lg.Info("configuring client listeners", zap.String("listen-client-urls", flags.URLsString(cfg.ListenClientUrls)))
	if n.clientLns, err = cfg.ListenClients(lg); err != nil {
		return nil, err
	}
	if n.metricLns, err = cfg.ListenMetrics(lg); err != nil {
		return nil, err
	}
	clientTLS, err := cfg.ClientServerTLS()
	if err != nil {
		return nil, err
	}
	scfg, err := cfg.ServerConfig(lg)
	if err != nil {
		return nil, err
	}
	lg.Info("starting an etcd server",
		zap.String("etcd-version", server.EtcdVersion), zap.String("basalt-version", server.Version),
		zap.Bool("member-initialized", initialized), zap.String("name", cfg.Name), zap.String("data-dir", cfg.Dir),
		zap.String("wal-dir", cfg.WalDir), zap.String("member-dir", cfg.MemberDir()),
		zap.String("heartbeat-interval", (time.Duration(cfg.TickMs)*time.Millisecond).String()),
		zap.String("election-timeout", (time.Duration(cfg.ElectionMs)*time.Millisecond).String()),
		zap.Uint64("snapshot-count", cfg.SnapshotCount), zap.Uint("max-wals", cfg.MaxWalFiles), zap.Uint("max-snapshots", cfg.MaxSnapFiles),
		zap.String("initial-advertise-peer-urls", flags.URLsString(cfg.AdvertisePeerUrls)),
		zap.String("listen-peer-urls", flags.URLsString(cfg.ListenPeerUrls)),
		zap.String("advertise-client-urls", flags.URLsString(cfg.AdvertiseClientUrls)),
		zap.String("listen-client-urls", flags.URLsString(cfg.ListenClientUrls)),
		zap.String("listen-metrics-urls", flags.URLsString(cfg.ListenMetricsUrls)),
		zap.String("initial-cluster", cfg.InitialCluster), zap.String("initial-cluster-state", cfg.ClusterState),
		zap.String("initial-cluster-token", cfg.InitialClusterToken), zap.Int64("quota-backend-bytes", cfg.QuotaBackendBytes),
		zap.Uint("max-request-bytes", cfg.MaxRequestBytes), zap.Bool("pre-vote", cfg.PreVote),
		zap.String("auto-compaction-mode", cfg.AutoCompactionMode), zap.String("auto-compaction-retention", cfg.AutoCompactionRetention),
		zap.String("discovery-token", cfg.DiscoveryCfg.Token), zap.String("discovery-endpoints", strings.Join(cfg.DiscoveryCfg.Endpoints, ",")),
		zap.String("discovery-dial-timeout", cfg.DiscoveryCfg.DialTimeout.String()),
		zap.String("discovery-request-timeout", cfg.DiscoveryCfg.RequestTimeout.String()),
		zap.String("discovery-keepalive-time", cfg.DiscoveryCfg.KeepAliveTime.String()),
		zap.String("discovery-keepalive-timeout", cfg.DiscoveryCfg.KeepAliveTimeout.String()),
		zap.Bool("discovery-insecure-transport", cfg.DiscoveryCfg.Secure.InsecureTransport),
		zap.Bool("discovery-insecure-skip-tls-verify", cfg.DiscoveryCfg.Secure.InsecureSkipVerify),
		zap.String("discovery-cert", cfg.DiscoveryCfg.Secure.Cert), zap.String("discovery-key", cfg.DiscoveryCfg.Secure.Key),
		zap.String("discovery-cacert", cfg.DiscoveryCfg.Secure.Cacert), zap.String("discovery-user", discoveryUser(cfg)),
		zap.String("discovery-url", cfg.Durl), zap.String("discovery-proxy", cfg.Dproxy))

	if n.member, err = server.NewMember(scfg); err != nil {
		return nil, err
	}
	rcfg := v3rpcConfig(cfg, lg)
	if cfg.EnableDistributedTracing {
		if n.tracing, err = cfg.NewTracing(context.Background(), lg); err != nil {
			n.member.Stop()
			return nil, fmt.Errorf("distributed tracing: %w", err)
		}
		rcfg.StatsHandler = n.tracing.StatsHandler()
	}
	if n.rpc, err = v3rpc.NewServer(n.member, rcfg); err != nil {
		n.member.Stop()
		return nil, err
	}
	handler, err := n.clientHandler()
	if err != nil {
		n.rpc.Stop()
		n.member.Stop()
		return nil, err
	}
	// A restarted member compares its data with its peers' before it
	// starts (etcd's InitialCorruptCheck gate; a new member has nothing
	// to compare).
	if initialized && cfg.FeatureEnabled(embed.GateInitialCorruptCheck) {
		if err := n.member.InitialCorruptCheck(); err != nil {
			n.rpc.Stop()
			n.member.Stop()
			return nil, err
		}
	}
	n.member.Start()
	n.servePeers()
	n.serveClientsWhenReady(handler, clientTLS)
	n.serveMetrics(handler)
	lg.Info("now serving peer/client/metrics",
		zap.String("local-member-id", fmt.Sprintf("%x", n.member.ID())),
		zap.String("initial-advertise-peer-urls", flags.URLsString(cfg.AdvertisePeerUrls)),
		zap.String("listen-peer-urls", flags.URLsString(cfg.ListenPeerUrls)),
		zap.String("advertise-client-urls", flags.URLsString(cfg.AdvertiseClientUrls)),
		zap.String("listen-client-urls", flags.URLsString(cfg.ListenClientUrls)),
		zap.String("listen-metrics-urls", flags.URLsString(cfg.ListenMetricsUrls)))
	return n, nil
}

// v3rpcConfig is the client gRPC API's configuration.
func v3rpcConfig(cfg *embed.Config, lg *zap.Logger) v3rpc.Config {
	return v3rpc.Config{
		MaxRequestBytes:             cfg.MaxRequestBytes,
		MaxTxnOps:                   cfg.MaxTxnOps,
		MaxConcurrentStreams:        cfg.MaxConcurrentStreams,
		KeepaliveMinTime:            cfg.GRPCKeepAliveMinTime,
		KeepaliveInterval:           cfg.GRPCKeepAliveInterval,
		KeepaliveTimeout:            cfg.GRPCKeepAliveTimeout,
		ElectionTimeout:             time.Duration(cfg.ElectionMs) * time.Millisecond,
		WatchProgressNotifyInterval: cfg.WatchProgressNotifyInterval,
		WarningUnaryRequestDuration: cfg.WarningUnaryRequestDuration,
		ExtensiveMetrics:            cfg.Metrics == "extensive",
		StopGRPCServiceOnDefrag:     cfg.FeatureEnabled(embed.GateStopGRPCServiceOnDefrag),
		ClientCertAuth:              cfg.ClientTLSInfo.ClientCertAuth,
		Logger:                      lg,
	}
}

// clientHandler is the client URLs' HTTP side: the JSON gateway, health,
// version, metrics, and pprof if enabled.
func (n *node) clientHandler() (http.Handler, error) {
	hc := httpapi.Config{
		Member: n.member,
		Versions: httpapi.Versions{
			Server:  server.EtcdVersion,
			Cluster: server.EtcdClusterVersion,
			Basalt:  server.Version,
		},
		RequestTimeout: 5*time.Second + 2*time.Duration(n.cfg.ElectionMs)*time.Millisecond,
		CORS:           n.cfg.CORS,
		HostWhitelist:  n.cfg.HostWhitelist,
		Logger:         n.lg,
	}
	if n.cfg.EnableGRPCGateway {
		hc.GatewayConn = n.rpc.ClientConn()
	}
	hc.Extra = map[string]http.Handler{}
	if n.cfg.EnablePprof || n.cfg.LogLevel == "debug" {
		n.lg.Info("pprof is enabled", zap.String("path", "/debug/pprof"))
		hc.Extra["/debug/pprof/"] = http.HandlerFunc(pprof.Index)
		hc.Extra["/debug/pprof/cmdline"] = http.HandlerFunc(pprof.Cmdline)
		hc.Extra["/debug/pprof/profile"] = http.HandlerFunc(pprof.Profile)
		hc.Extra["/debug/pprof/symbol"] = http.HandlerFunc(pprof.Symbol)
		hc.Extra["/debug/pprof/trace"] = http.HandlerFunc(pprof.Trace)
	}
	if n.cfg.EnableV2 {
		for pattern, h := range v2http.Handlers(n.lg, n.member, hc.RequestTimeout, n.cfg.ClientTLSInfo.ClientCertAuth) {
			hc.Extra[pattern] = h
		}
	}
	if failpoint.HTTPEnabled() {
		// A test hook (BASALT_FAILPOINTS_HTTP=on): arm crash points.
		n.lg.Warn("failpoints are served", zap.String("path", "/debug/failpoints"))
		h := failpoint.Handler("/debug/failpoints")
		hc.Extra["/debug/failpoints"] = h
		hc.Extra["/debug/failpoints/"] = h
	}
	return httpapi.NewHandler(context.Background(), hc)
}

// goServe runs serve and reports its error, unless the node is closing.
func (n *node) goServe(serve func() error) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		err := serve()
		if err == nil || errors.Is(err, http.ErrServerClosed) {
			return
		}
		select {
		case <-n.stopc:
		case n.errc <- err:
		default:
		}
	}()
}

func (n *node) servePeers() {
	for _, l := range n.peerLns {
		srv := &http.Server{
			Handler:     n.member.PeerHandler(),
			ReadTimeout: 5 * time.Minute,
			ErrorLog:    log.New(io.Discard, "", 0),
		}
		n.peerSrvs = append(n.peerSrvs, srv)
		n.lg.Info("serving peer traffic", zap.String("address", l.Addr().String()))
		n.goServe(func() error { return srv.Serve(l) })
	}
}

// serveClientsWhenReady serves the client URLs once the member has
// joined the cluster, as etcd does: a client never reaches a member that
// cannot serve it yet.
func (n *node) serveClientsWhenReady(handler http.Handler, clientTLS *tls.Config) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		select {
		case <-n.member.ReadyNotify():
		case <-n.member.Done():
			return
		case <-n.stopc:
			return
		}
		n.mu.Lock()
		defer n.mu.Unlock()
		if n.closing {
			return
		}
		for _, l := range n.clientLns {
			var tlsCfg *tls.Config
			if l.Secure {
				tlsCfg = clientTLS
			}
			grpcSrv, h := n.rpc.GRPCServer(), handler
			switch l.Serves {
			case embed.ServeGRPC:
				h = nil
			case embed.ServeHTTP:
				grpcSrv = nil
			}
			s := httpapi.NewServer(l.Listener, grpcSrv, h, tlsCfg)
			s.Logger = n.lg
			s.AlsoPlain = l.AlsoPlain
			s.OnTLSHandshakeFailure = embed.TLSRejectionLogger(n.lg, "rejected connection on client endpoint")
			n.clientSrvs = append(n.clientSrvs, s)
			n.goServe(s.Serve)
		}
	}()
}

// serveMetrics serves only /metrics and the health endpoints on
// --listen-metrics-urls.
func (n *node) serveMetrics(handler http.Handler) {
	only := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if p == "/metrics" || p == "/health" || strings.HasPrefix(p, "/livez") || strings.HasPrefix(p, "/readyz") {
			handler.ServeHTTP(w, r)
			return
		}
		http.NotFound(w, r)
	})
	for _, l := range n.metricLns {
		srv := &http.Server{Handler: only, ReadHeaderTimeout: time.Minute, ErrorLog: log.New(io.Discard, "", 0)}
		n.metricSrvs = append(n.metricSrvs, srv)
		n.lg.Info("serving metrics", zap.String("address", l.URL.String()))
		n.goServe(func() error { return srv.Serve(l) })
	}
}

// close stops serving clients, stops the member (which hands leadership
// over first, so the peers stay served until it is done), then stops
// serving peers.
func (n *node) close() {
	n.closeOnce.Do(func() {
		fields := []zap.Field{
			zap.String("name", n.cfg.Name), zap.String("data-dir", n.cfg.Dir),
			zap.String("advertise-peer-urls", flags.URLsString(n.cfg.AdvertisePeerUrls)),
			zap.String("advertise-client-urls", flags.URLsString(n.cfg.AdvertiseClientUrls)),
		}
		n.lg.Info("closing etcd server", fields...)
		close(n.stopc)
		n.mu.Lock()
		n.closing = true
		srvs := n.clientSrvs
		n.mu.Unlock()
		for _, s := range srvs {
			_ = s.Close()
		}
		n.stopRPC(5*time.Second + 2*time.Duration(n.cfg.ElectionMs)*time.Millisecond)
		for _, s := range n.metricSrvs {
			_ = s.Close()
		}
		n.member.Stop()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		for i, s := range n.peerSrvs {
			n.lg.Info("stopping serving peer traffic", zap.String("address", n.peerLns[i].Addr().String()))
			_ = s.Shutdown(ctx)
			_ = s.Close()
		}
		cancel()
		n.closeListeners()
		n.wg.Wait()
		if n.tracing != nil {
			// Spans not exported yet go now, within a few seconds.
			tctx, tcancel := context.WithTimeout(context.Background(), 5*time.Second)
			n.tracing.Close(tctx)
			tcancel()
		}
		n.lg.Info("closed etcd server", fields...)
	})
}

// stopRPC lets RPCs in flight finish for up to timeout, then ends them.
func (n *node) stopRPC(timeout time.Duration) {
	done := make(chan struct{})
	go func() {
		n.rpc.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(timeout):
		// Watches and keepalives never finish by themselves.
		n.rpc.GRPCServer().Stop()
		<-done
	}
}

func (n *node) closeListeners() {
	for _, ls := range [][]embed.Listener{n.peerLns, n.clientLns, n.metricLns} {
		for _, l := range ls {
			_ = l.Close()
		}
	}
}

// discoveryUser is --discovery-user without a password it may carry.
func discoveryUser(cfg *embed.Config) string {
	user, _, _ := strings.Cut(cfg.DiscoveryCfg.Auth.Username, ":")
	return user
}
