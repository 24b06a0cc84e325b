package embed

import (
	"crypto/tls"
	"fmt"
	"net/url"
	"path/filepath"

	"github.com/basaltkv/basalt/pkg/tlsutil"
	"go.uber.org/zap"
)

// ResolveTLS completes the client and peer TLS settings: it generates
// (or reuses) self-signed certificates under <data-dir>/fixtures/client
// and /fixtures/peer for --auto-tls and --peer-auto-tls, and applies
// --cipher-suites, --tls-min-version and --tls-max-version. Call it
// after Validate and once the data dir is known.
func (cfg *Config) ResolveTLS(lg *zap.Logger) error {
	suites, err := tlsutil.CipherSuites(cfg.CipherSuites)
	if err != nil {
		return err
	}
	minV, err := tlsutil.ParseVersion(cfg.TlsMinVersion)
	if err != nil {
		return err
	}
	maxV, err := tlsutil.ParseVersion(cfg.TlsMaxVersion)
	if err != nil {
		return err
	}
	if cfg.ClientAutoTLS {
		if cfg.ClientTLSInfo, err = selfCert(lg, "client", cfg.ClientTLSInfo, filepath.Join(cfg.Dir, "fixtures", "client"), cfg.ListenClientUrls, cfg.SelfSignedCertValidity); err != nil {
			return fmt.Errorf("failed to get client self-signed certs: %w", err)
		}
	}
	if cfg.PeerAutoTLS {
		if cfg.PeerTLSInfo, err = selfCert(lg, "peer", cfg.PeerTLSInfo, filepath.Join(cfg.Dir, "fixtures", "peer"), cfg.ListenPeerUrls, cfg.SelfSignedCertValidity); err != nil {
			return fmt.Errorf("failed to get peer self-signed certs: %w", err)
		}
	}
	for _, info := range []*tlsutil.Info{&cfg.ClientTLSInfo, &cfg.PeerTLSInfo} {
		info.CipherSuites = suites
		info.MinVersion = minV
		info.MaxVersion = maxV
		info.Logger = lg
	}
	return nil
}

// selfCert applies auto TLS to one side. Given certificates win over auto
// TLS; otherwise the generated certificate replaces the side's settings,
// as in etcd: every member's certificate is its own issuer, so there is
// no CA to require client certificates from.
func selfCert(lg *zap.Logger, side string, info tlsutil.Info, dir string, listen []url.URL, years uint) (tlsutil.Info, error) {
	if !info.Empty() {
		lg.Warn(fmt.Sprintf("ignoring %s auto TLS since certs given", side))
		return info, nil
	}
	if info.ClientCertAuth || info.TrustedCAFile != "" || info.CRLFile != "" || len(info.AllowedCNs) > 0 || len(info.AllowedHostnames) > 0 {
		lg.Warn("auto TLS uses self-signed certificates: client certificate authentication settings do not apply",
			zap.String("side", side), zap.Bool("client-cert-auth", info.ClientCertAuth), zap.String("trusted-ca-file", info.TrustedCAFile),
			zap.String("crl-file", info.CRLFile), zap.Strings("allowed-cn", info.AllowedCNs), zap.Strings("allowed-hostname", info.AllowedHostnames))
	}
	hosts := make([]string, 0, len(listen))
	for _, u := range listen {
		hosts = append(hosts, u.Host)
	}
	return tlsutil.SelfCert(lg, dir, hosts, years)
}

// PeerDialTLS is the TLS configuration a member dials its peers with
// (server.Config.PeerTLS); nil when no peer TLS is configured.
func (cfg *Config) PeerDialTLS() (*tls.Config, error) {
	info := cfg.PeerTLSInfo
	if info.Empty() && info.TrustedCAFile == "" {
		return nil, nil
	}
	c, err := info.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("peer TLS: %w", err)
	}
	return c, nil
}

// ClientServerTLS is the TLS configuration of the secure client
// listeners; nil when no client certificate is configured.
func (cfg *Config) ClientServerTLS() (*tls.Config, error) {
	if cfg.ClientTLSInfo.Empty() {
		return nil, nil
	}
	c, err := cfg.ClientTLSInfo.ServerConfig()
	if err != nil {
		return nil, fmt.Errorf("client TLS: %w", err)
	}
	return c, nil
}
