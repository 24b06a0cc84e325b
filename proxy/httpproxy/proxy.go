package httpproxy

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Defaults of etcd 3.4's --proxy-* flags, in milliseconds.
const (
	DefaultFailureWaitMs     = 5000
	DefaultRefreshIntervalMs = 30000
	DefaultDialTimeoutMs     = 1000
	DefaultWriteTimeoutMs    = 5000
	DefaultReadTimeoutMs     = 0
)

// maxIdleConnsPerHost lets the proxy keep a connection per concurrent
// request to each member for 128 requests, as etcd's does.
const maxIdleConnsPerHost = 128

// Config is a proxy's configuration.
type Config struct {
	Logger *zap.Logger
	// Dir is the proxy's directory (<data-dir>/proxy): it holds the
	// cluster file.
	Dir string
	// PeerURLs are the cluster's peer URLs to ask for its members at the
	// first refresh; the refreshes replace them.
	PeerURLs []string
	// ClientTransport carries the proxied requests; PeerTransport asks
	// the peers for the members.
	ClientTransport http.RoundTripper
	PeerTransport   http.RoundTripper
	// FailureWait is how long an endpoint that failed is left out;
	// RefreshInterval how often the members are asked again.
	FailureWait     time.Duration
	RefreshInterval time.Duration
	// ReadOnly refuses every request but GET.
	ReadOnly bool
	// Registerer gets the etcd_proxy_* metrics; nil leaves them out.
	Registerer prometheus.Registerer
}

// Proxy is a running v2 proxy.
type Proxy struct {
	handler  http.Handler
	director *director
}

// New starts a proxy: it asks the cluster for its members at once, then
// every refresh interval.
func New(cfg Config) (*Proxy, error) {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.ClientTransport == nil || cfg.PeerTransport == nil {
		return nil, errors.New("httpproxy: transports are required")
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("httpproxy: register metrics: %w", err)
	}
	members := &memberSource{lg: cfg.Logger, clusterFile: ClusterFile(cfg.Dir), peerURLs: cfg.PeerURLs, transport: cfg.PeerTransport}
	d := newDirector(cfg.Logger, members.clientURLs, cfg.FailureWait, cfg.RefreshInterval)
	rp := &reverseProxy{lg: cfg.Logger, director: d, transport: cfg.ClientTransport, metrics: m}
	mux := http.NewServeMux()
	mux.Handle("/", rp)
	mux.HandleFunc("/v2/config/local/proxy", rp.configHandler)
	var h http.Handler = mux
	if cfg.ReadOnly {
		h = readOnly(h)
	}
	return &Proxy{handler: h, director: d}, nil
}

// Handler serves the proxied client API.
func (p *Proxy) Handler() http.Handler { return p.handler }

// Close stops the refreshes.
func (p *Proxy) Close() { p.director.stop() }

// readOnly refuses every method but GET with 501 and no body.
func readOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.WriteHeader(http.StatusNotImplemented)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// configHandler is /v2/config/local/proxy: the available endpoints.
func (p *reverseProxy) configHandler(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	eps := p.director.available()
	out := struct {
		Endpoints []string `json:"endpoints"`
	}{Endpoints: make([]string, len(eps))}
	for i, e := range eps {
		out.Endpoints[i] = e.url.String()
	}
	_ = json.NewEncoder(w).Encode(out)
}
