package embed

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"

	"github.com/basaltkv/basalt/pkg/tlsutil"
	"go.uber.org/zap"
)

// Listener is a listening socket for one URL.
type Listener struct {
	net.Listener
	URL url.URL
	// Secure is true for https and unixs URLs.
	Secure bool
	// AlsoPlain is true for a secure client listener whose address is
	// listed with a plain scheme too (http and https, or unix and unixs):
	// it serves both, as etcd does.
	AlsoPlain bool
	// Serves says what a client listener serves: both gRPC and HTTP, or,
	// with --listen-client-http-urls, one of them.
	Serves Serving
}

// Serving is what a client listener serves.
type Serving int

const (
	ServeGRPCAndHTTP Serving = iota
	ServeGRPC
	ServeHTTP
)

// closeAll closes listeners opened before a failure.
func closeAll(ls []Listener) {
	for _, l := range ls {
		l.Close()
	}
}

// listen opens the socket of u with the socket options.
func (cfg *Config) listen(u url.URL) (net.Listener, error) {
	lc := net.ListenConfig{}
	if cfg.SocketOpts.ReuseAddress || cfg.SocketOpts.ReusePort {
		lc.Control = cfg.SocketOpts.control
	}
	if u.Scheme == "unix" || u.Scheme == "unixs" {
		path := u.Host + u.Path
		// A socket file left by a previous run would make bind fail.
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("remove stale socket %s: %w", path, err)
		}
		return lc.Listen(context.Background(), "unix", path)
	}
	return lc.Listen(context.Background(), "tcp", u.Host)
}

// ListenPeers opens --listen-peer-urls. https and unixs listeners complete TLS
// handshakes themselves (with the peer SAN check unless
// --peer-skip-client-san-verification) and log refused connections.
// Call ResolveTLS first.
func (cfg *Config) ListenPeers(lg *zap.Logger) (out []Listener, err error) {
	defer func() {
		if err != nil {
			closeAll(out)
			out = nil
		}
	}()
	var tlsCfg *tls.Config
	if !cfg.PeerTLSInfo.Empty() {
		if tlsCfg, err = cfg.PeerTLSInfo.ServerConfig(); err != nil {
			return out, fmt.Errorf("peer TLS: %w", err)
		}
		lg.Info("starting with peer TLS", zap.String("tls-info", cfg.PeerTLSInfo.String()), zap.Strings("cipher-suites", cfg.CipherSuites))
	}
	for _, u := range cfg.ListenPeerUrls {
		if u.Scheme == "http" {
			if !cfg.PeerTLSInfo.Empty() {
				lg.Warn("scheme is HTTP while key and cert files are present; ignoring key and cert files", zap.String("peer-url", u.String()))
			}
			if cfg.PeerTLSInfo.ClientCertAuth {
				lg.Warn("scheme is HTTP while --peer-client-cert-auth is enabled; ignoring client cert auth for this URL", zap.String("peer-url", u.String()))
			}
		}
		l, err := cfg.listen(u)
		if err != nil {
			lg.Error("creating peer listener failed", zap.Error(err))
			return out, err
		}
		secure := u.Scheme == "https" || u.Scheme == "unixs"
		if secure {
			l = tlsutil.Listen(l, tlsCfg, tlsutil.ListenOptions{
				CheckSAN:           !cfg.PeerTLSInfo.SkipClientSANVerify,
				OnHandshakeFailure: TLSRejectionLogger(lg, "rejected connection on peer endpoint"),
			})
		}
		out = append(out, Listener{Listener: l, URL: u, Secure: secure})
	}
	return out, nil
}

// ListenClients opens --listen-client-urls and --listen-client-http-urls,
// one socket per address. The sockets are plain: the client API serves
// TLS on the secure ones (httpapi.Server). Call ResolveTLS first.
func (cfg *Config) ListenClients(lg *zap.Logger) (out []Listener, err error) {
	defer func() {
		if err != nil {
			closeAll(out)
			out = nil
		}
	}()
	byAddr := map[string]int{} // address -> index in out
	grpcServes := ServeGRPCAndHTTP
	if len(cfg.ListenClientHttpUrls) > 0 {
		grpcServes = ServeGRPC
	}
	type clientURL struct {
		u      url.URL
		serves Serving
	}
	var urls []clientURL
	for _, u := range cfg.ListenClientUrls {
		urls = append(urls, clientURL{u, grpcServes})
	}
	for _, u := range cfg.ListenClientHttpUrls {
		urls = append(urls, clientURL{u, ServeHTTP})
	}
	for _, cu := range urls {
		u := cu.u
		secure := u.Scheme == "https" || u.Scheme == "unixs"
		if !secure {
			if !cfg.ClientTLSInfo.Empty() {
				lg.Warn("scheme is http or unix while key and cert files are present; ignoring key and cert files", zap.String("client-url", u.String()))
			}
			if cfg.ClientTLSInfo.ClientCertAuth {
				lg.Warn("scheme is http or unix while --client-cert-auth is enabled; ignoring client cert auth for this URL", zap.String("client-url", u.String()))
			}
		}
		addr := u.Host + u.Path
		if i, dup := byAddr[addr]; dup {
			// The same address under both schemes serves both.
			if out[i].Secure != secure {
				out[i].AlsoPlain = true
				if secure {
					out[i].Secure, out[i].URL = true, u
				}
			}
			continue
		}
		l, err := cfg.listen(u)
		if err != nil {
			lg.Error("creating client listener failed", zap.Error(err))
			return out, err
		}
		byAddr[addr] = len(out)
		out = append(out, Listener{Listener: l, URL: u, Secure: secure, Serves: cu.serves})
	}
	return out, nil
}

// ListenMetrics opens --listen-metrics-urls; https ones use the client
// TLS settings, as in etcd.
func (cfg *Config) ListenMetrics(lg *zap.Logger) (out []Listener, err error) {
	defer func() {
		if err != nil {
			closeAll(out)
			out = nil
		}
	}()
	for _, u := range cfg.ListenMetricsUrls {
		l, err := cfg.listen(u)
		if err != nil {
			return out, err
		}
		secure := u.Scheme == "https" || u.Scheme == "unixs"
		if secure {
			tlsCfg, err := cfg.ClientTLSInfo.ServerConfig()
			if err != nil {
				l.Close()
				return out, fmt.Errorf("metrics TLS: %w", err)
			}
			l = tlsutil.Listen(l, tlsCfg, tlsutil.ListenOptions{
				CheckSAN:           !cfg.ClientTLSInfo.SkipClientSANVerify,
				OnHandshakeFailure: TLSRejectionLogger(lg, "rejected connection on client endpoint"),
			})
		}
		out = append(out, Listener{Listener: l, URL: u, Secure: secure})
	}
	return out, nil
}
