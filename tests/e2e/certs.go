package e2e

import (
	"crypto/tls"
	"testing"

	"github.com/basaltkv/basalt/pkg/tlsutil"
	"github.com/basaltkv/basalt/pkg/tlsutil/tlstest"
)

// TLSMode is how a cluster secures client or peer traffic.
type TLSMode int

const (
	// NoTLS is plain http.
	NoTLS TLSMode = iota
	// TLS is https with certificates of the test CA; on the client side,
	// clients present no certificate.
	TLS
	// MutualTLS is TLS where the other side must present a certificate of
	// the test CA (--client-cert-auth, --peer-client-cert-auth).
	MutualTLS
	// AutoTLS is https with self-signed certificates the member generates
	// (--auto-tls, --peer-auto-tls).
	AutoTLS
)

func (m TLSMode) scheme() string {
	if m == NoTLS {
		return "http"
	}
	return "https"
}

// Certs are a test CA and certificates it signed, on disk.
type Certs struct {
	CA *tlstest.CA
	// Member serves client and peer traffic (SANs 127.0.0.1, localhost)
	// and is presented when members dial each other.
	Member tlstest.Cert
	// Client is a client certificate (CN "root").
	Client tlstest.Cert
}

// NewCerts makes a CA and the certificates under dir.
func NewCerts(t testing.TB, dir string) *Certs {
	t.Helper()
	ca := tlstest.NewCA(t, dir, "ca")
	return &Certs{
		CA:     ca,
		Member: ca.Issue(t, "member", tlstest.Options{CommonName: "member", Hosts: []string{"127.0.0.1", "localhost"}}),
		Client: ca.Issue(t, "client", tlstest.Options{CommonName: "root", Client: true}),
	}
}

// clientArgs are the member flags for the client side in mode.
func (c *Certs) clientArgs(mode TLSMode) []string {
	switch mode {
	case TLS:
		return []string{"--cert-file", c.Member.CertFile, "--key-file", c.Member.KeyFile}
	case MutualTLS:
		return []string{"--cert-file", c.Member.CertFile, "--key-file", c.Member.KeyFile, "--trusted-ca-file", c.CA.CertFile, "--client-cert-auth"}
	case AutoTLS:
		return []string{"--auto-tls"}
	}
	return nil
}

// peerArgs are the member flags for the peer side in mode.
func (c *Certs) peerArgs(mode TLSMode) []string {
	switch mode {
	case TLS:
		return []string{"--peer-cert-file", c.Member.CertFile, "--peer-key-file", c.Member.KeyFile, "--peer-trusted-ca-file", c.CA.CertFile}
	case MutualTLS:
		return []string{"--peer-cert-file", c.Member.CertFile, "--peer-key-file", c.Member.KeyFile, "--peer-trusted-ca-file", c.CA.CertFile, "--peer-client-cert-auth"}
	case AutoTLS:
		return []string{"--peer-auto-tls"}
	}
	return nil
}

// ClientTLS is a client's TLS configuration for a cluster whose client
// side is in mode: it trusts the test CA (or, with AutoTLS, any
// certificate) and presents the client certificate if withCert. nil for
// NoTLS.
func (c *Certs) ClientTLS(t testing.TB, mode TLSMode, withCert bool) *tls.Config {
	t.Helper()
	if mode == NoTLS {
		return nil
	}
	var info tlsutil.Info
	if mode == AutoTLS {
		info = tlsutil.Info{InsecureSkipVerify: true}
	} else {
		info = tlsutil.Info{TrustedCAFile: c.CA.CertFile, ServerName: "127.0.0.1"}
	}
	if withCert {
		info.CertFile, info.KeyFile = c.Client.CertFile, c.Client.KeyFile
	}
	cfg, err := info.ClientConfig()
	if err != nil {
		t.Fatalf("client TLS config: %v", err)
	}
	return cfg
}
