// Package httpapi serves what a member offers over HTTP on its client
// port: the v3 JSON gateway (/v3/...), /health, /livez, /readyz, /version
// and /metrics, and the function that shares one listener between that
// HTTP and the gRPC API, as etcd does.
package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// DefaultRequestTimeout bounds the read a health check makes: etcd's
// request timeout with the default one-second election timeout (5s plus
// two election timeouts).
const DefaultRequestTimeout = 7 * time.Second

// Versions are reported by /version.
type Versions struct {
	// Server is the etcd release whose API the member implements
	// (server.EtcdVersion); Cluster the cluster's version
	// (server.EtcdClusterVersion); Storage the backend's storage version.
	// An empty Storage is asked of the member's Status, when it has one.
	// Empty ones read "not_decided" (Cluster) and "unknown" (Storage), as
	// in etcd.
	Server, Cluster, Storage string
	// Basalt is basalt's own version (server.Version).
	Basalt string
}

// Config configures the client HTTP handler.
type Config struct {
	// Member answers the health endpoints.
	Member Member
	// GatewayConn is the gRPC connection the /v3 gateway forwards to
	// (v3rpc.Server.ClientConn); nil disables the gateway
	// (--enable-grpc-gateway=false).
	GatewayConn *grpc.ClientConn
	Versions    Versions
	// RequestTimeout bounds the reads of the health checks; zero is
	// DefaultRequestTimeout.
	RequestTimeout time.Duration
	// CORS lists the origins allowed cross-origin requests (--cors); "*"
	// allows all. nil is etcd's default, "*".
	CORS []string
	// HostWhitelist lists the Host headers accepted on plain HTTP
	// (--host-whitelist), against DNS rebinding; "*" accepts all. nil is
	// etcd's default, "*".
	HostWhitelist []string
	// Extra handlers (pprof, the v2 API...) by path pattern.
	Extra  map[string]http.Handler
	Logger *zap.Logger
}

type handler struct {
	m              Member
	lg             *zap.Logger
	requestTimeout time.Duration
}

// NewHandler returns the client port's HTTP handler. ctx bounds the
// gateway's registration.
func NewHandler(ctx context.Context, cfg Config) (http.Handler, error) {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.CORS == nil {
		cfg.CORS = []string{"*"}
	}
	if cfg.HostWhitelist == nil {
		cfg.HostWhitelist = []string{"*"}
	}
	registerMetrics(cfg.Logger)
	h := &handler{m: cfg.Member, lg: cfg.Logger, requestTimeout: cfg.RequestTimeout}

	mux := http.NewServeMux()
	for pattern, eh := range cfg.Extra {
		mux.Handle(pattern, eh)
	}
	if cfg.GatewayConn != nil {
		gwmux, err := NewGateway(ctx, cfg.GatewayConn)
		if err != nil {
			return nil, fmt.Errorf("httpapi: register gateway: %w", err)
		}
		mux.Handle("/v3/", gwmux)
	}
	if cfg.Member != nil {
		mux.HandleFunc("/health", h.health)
		h.livez().install(mux, h)
		h.readyz().install(mux, h)
	}
	mux.Handle("/version", h.version(cfg.Versions))
	mux.Handle("/metrics", promhttp.Handler())
	mux.HandleFunc("/debug/vars", serveVars)
	return &accessController{lg: cfg.Logger, mux: mux, cors: cfg.CORS, hosts: cfg.HostWhitelist}, nil
}

// versionResponse is etcd's /version, with basalt's own version beside.
type versionResponse struct {
	Server  string `json:"etcdserver"`
	Cluster string `json:"etcdcluster"`
	Storage string `json:"storage"`
	Basalt  string `json:"basalt"`
}

// statuser is a member that reports its status (v3rpc.Member does).
type statuser interface {
	Status(ctx context.Context) (*pb.StatusResponse, error)
}

func (h *handler) version(v Versions) http.HandlerFunc {
	if v.Cluster == "" {
		v.Cluster = "not_decided"
	}
	return func(w http.ResponseWriter, r *http.Request) {
		if !allowMethod(w, r, http.MethodGet) {
			return
		}
		resp := versionResponse{Server: v.Server, Cluster: v.Cluster, Storage: v.Storage, Basalt: v.Basalt}
		if resp.Storage == "" {
			resp.Storage = h.storageVersion(r.Context())
		}
		body, err := json.Marshal(resp)
		if err != nil {
			panic(err) // four strings always marshal
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}
}

func (h *handler) storageVersion(ctx context.Context) string {
	if s, ok := h.m.(statuser); ok {
		ctx, cancel := context.WithTimeout(ctx, h.requestTimeout)
		defer cancel()
		if st, err := s.Status(ctx); err == nil && st.StorageVersion != "" {
			return st.StorageVersion
		}
	}
	return "unknown"
}

// accessController is the first stop of every HTTP request: the /v3beta
// alias, the host whitelist, CORS.
type accessController struct {
	lg    *zap.Logger
	mux   *http.ServeMux
	cors  []string
	hosts []string
}

func (ac *accessController) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Old clients use /v3beta.
	if rest, ok := strings.CutPrefix(r.URL.Path, "/v3beta/"); ok {
		r.URL.Path = "/v3/" + rest
	}
	if r.TLS == nil {
		host := hostname(r)
		if !allowed(ac.hosts, host) {
			ac.lg.Warn("rejecting HTTP request to prevent DNS rebinding attacks", zap.String("host", host))
			http.Error(w, fmt.Sprintf("basalt does not serve host %q over plain HTTP: use TLS, or add it to --host-whitelist\n", host), http.StatusMisdirectedRequest)
			return
		}
	}
	if slices.Contains(ac.cors, "*") {
		addCORSHeaders(w, "*")
	} else if origin := r.Header.Get("Origin"); origin != "" && slices.Contains(ac.cors, origin) {
		addCORSHeaders(w, origin)
	}
	if r.Method == http.MethodOptions {
		w.WriteHeader(http.StatusOK)
		return
	}
	ac.mux.ServeHTTP(w, r)
}

func addCORSHeaders(w http.ResponseWriter, origin string) {
	w.Header().Add("Access-Control-Allow-Methods", "POST, GET, OPTIONS, PUT, DELETE")
	w.Header().Add("Access-Control-Allow-Origin", origin)
	w.Header().Add("Access-Control-Allow-Headers", "accept, content-type, authorization")
}

func allowed(list []string, host string) bool {
	return slices.Contains(list, "*") || slices.Contains(list, host)
}

// hostname is the request's Host without its port.
func hostname(r *http.Request) string {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		return h
	}
	return host
}
