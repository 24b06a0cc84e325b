package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/basaltkv/basalt/pkg/netutil"
	"github.com/basaltkv/basalt/proxy/httpproxy"
	"github.com/basaltkv/basalt/server/embed"
	"github.com/basaltkv/basalt/server/v2discovery"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

// proxyNode is a running v2 proxy (etcd 3.4's --proxy on|readonly): the
// proxy and its client listeners.
type proxyNode struct {
	lg    *zap.Logger
	proxy *httpproxy.Proxy
	srvs  []*http.Server
	errc  chan error
	wg    sync.WaitGroup
}

// ms is a --proxy-* value in milliseconds.
func ms(v uint) time.Duration { return time.Duration(v) * time.Millisecond }

// startProxy starts a v2 proxy instead of a member, as etcd 3.4 does: it
// finds the cluster's peer URLs in <data-dir>/proxy/cluster, or else from
// --discovery, --discovery-srv or --initial-cluster, and serves the
// client URLs.
func startProxy(cfg *embed.Config, lg *zap.Logger) (_ *proxyNode, err error) {
	lg.Info("v2 API proxy starting")
	if err := cfg.ResolveTLS(lg); err != nil {
		return nil, err
	}
	clientInfo := cfg.ClientTLSInfo
	if clientInfo.Empty() {
		// Members' client URLs often share the peer certificates.
		clientInfo = cfg.PeerTLSInfo
	}
	var clientTLS *tls.Config
	if !clientInfo.Empty() || clientInfo.TrustedCAFile != "" {
		if clientTLS, err = clientInfo.ClientConfig(); err != nil {
			return nil, fmt.Errorf("proxy client TLS: %w", err)
		}
		clientTLS.InsecureSkipVerify = cfg.ClientAutoTLS
	}
	peerTLS, err := cfg.PeerDialTLS()
	if err != nil {
		return nil, err
	}
	if peerTLS != nil && cfg.PeerAutoTLS {
		peerTLS.InsecureSkipVerify = true
	}
	dial, read, write := ms(cfg.ProxyDialTimeoutMs), ms(cfg.ProxyReadTimeoutMs), ms(cfg.ProxyWriteTimeoutMs)
	clientTr := httpproxy.NewTransport(clientTLS, dial, read, write, 128)
	peerTr := httpproxy.NewTransport(peerTLS, dial, read, write, 0)

	dir := cfg.ProxyDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create proxy directory %s: %w", dir, err)
	}
	peerURLs, err := proxyPeerURLs(cfg, lg, dir)
	if err != nil {
		return nil, err
	}

	serverTLS, err := cfg.ClientServerTLS()
	if err != nil {
		return nil, err
	}
	lns, err := cfg.ListenClients(lg)
	if err != nil {
		return nil, err
	}
	p, err := httpproxy.New(httpproxy.Config{
		Logger: lg, Dir: dir, PeerURLs: peerURLs,
		ClientTransport: clientTr, PeerTransport: peerTr,
		FailureWait: ms(cfg.ProxyFailureWaitMs), RefreshInterval: ms(cfg.ProxyRefreshIntervalMs),
		ReadOnly:   cfg.IsReadonlyProxy(),
		Registerer: prometheus.DefaultRegisterer,
	})
	if err != nil {
		for _, l := range lns {
			l.Close()
		}
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.Handler())
	mux.Handle("/", p.Handler())
	n := &proxyNode{lg: lg, proxy: p, errc: make(chan error, 1)}
	for _, l := range lns {
		var ln net.Listener = l
		if l.Secure && serverTLS != nil {
			ln = tls.NewListener(l, serverTLS)
		}
		srv := &http.Server{Handler: mux, ErrorLog: log.New(io.Discard, "", 0)}
		n.srvs = append(n.srvs, srv)
		host := l.URL.String()
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			lg.Info("v2 proxy started listening on client requests", zap.String("host", host))
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				select {
				case n.errc <- err:
				default:
				}
			}
		}()
	}
	return n, nil
}

// proxyPeerURLs are the peer URLs the proxy first asks for the members.
func proxyPeerURLs(cfg *embed.Config, lg *zap.Logger, dir string) ([]string, error) {
	urls, err := httpproxy.ReadClusterFile(dir)
	switch {
	case err == nil:
		file := httpproxy.ClusterFile(dir)
		if cfg.Durl != "" {
			lg.Warn("discovery token ignored since the proxy has already been initialized; valid cluster file found", zap.String("cluster-file", file))
		}
		if cfg.DNSCluster != "" {
			lg.Warn("DNS SRV discovery ignored since the proxy has already been initialized; valid cluster file found", zap.String("cluster-file", file))
		}
		lg.Info("proxy using peer URLS from cluster file", zap.Strings("peer-urls", urls), zap.String("cluster-file", file))
		return urls, nil
	case !errors.Is(err, os.ErrNotExist):
		return nil, err
	}
	var cluster string
	switch {
	case cfg.Durl != "":
		if cluster, err = v2discovery.GetCluster(context.Background(), lg, cfg.Durl, cfg.Dproxy); err != nil {
			return nil, err
		}
	case cfg.DNSCluster != "":
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		pairs, err := netutil.SRVCluster(ctx, cfg.DNSCluster, cfg.DNSClusterServiceName, cfg.Name, cfg.AdvertisePeerUrls)
		cancel()
		if len(pairs) == 0 {
			return nil, fmt.Errorf("error setting up initial cluster: %w", err)
		}
		cluster = strings.Join(pairs, ",")
	default:
		cluster = cfg.InitialCluster
	}
	m, err := embed.ParseInitialCluster(cluster)
	if err != nil {
		return nil, fmt.Errorf("error setting up initial cluster: %w", err)
	}
	urls = nil
	for _, us := range m {
		for _, u := range us {
			urls = append(urls, u.String())
		}
	}
	slices.Sort(urls)
	lg.Info("proxy using peer URLS", zap.Strings("peer-urls", urls))
	return urls, nil
}

// wait blocks until a signal (0) or a listener failure (1).
func (n *proxyNode) wait(sigc <-chan os.Signal) int {
	select {
	case sig := <-sigc:
		n.lg.Info("received signal; shutting down", zap.String("signal", sig.String()))
		n.close()
		return 0
	case err := <-n.errc:
		n.lg.Error("done serving", zap.Error(err))
		n.close()
		return 1
	}
}

func (n *proxyNode) close() {
	for _, s := range n.srvs {
		_ = s.Close()
	}
	n.wg.Wait()
	n.proxy.Close()
}
