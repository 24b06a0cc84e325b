package tlsutil

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/basaltkv/basalt/pkg/tlsutil/tlstest"
)

func TestParseVersion(t *testing.T) {
	tests := []struct {
		in      string
		want    uint16
		wantErr string
	}{
		{"", 0, ""},
		{"TLS1.2", tls.VersionTLS12, ""},
		{"TLS1.3", tls.VersionTLS13, ""},
		{"TLS1.1", 0, `unexpected TLS version "TLS1.1" (must be one of: TLS1.2, TLS1.3)`},
		{"tls1.2", 0, "unexpected TLS version"},
	}
	for _, tt := range tests {
		got, err := ParseVersion(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseVersion(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseVersion(%q) = %#x, %v; want %#x", tt.in, got, err, tt.want)
		}
	}
}

func TestCipherSuites(t *testing.T) {
	tests := []struct {
		names   []string
		want    []uint16
		wantErr string
	}{
		{nil, []uint16{}, ""},
		{[]string{"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"},
			[]uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384}, ""},
		{[]string{"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305"}, []uint16{tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256}, ""},
		{[]string{"TLS_ECDHE_RSA_WITH_RC4_128_SHA"}, []uint16{tls.TLS_ECDHE_RSA_WITH_RC4_128_SHA}, ""},
		{[]string{"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "nope"}, nil, `unexpected TLS cipher suite "nope"`},
	}
	for _, tt := range tests {
		got, err := CipherSuites(tt.names)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("CipherSuites(%q) error = %v, want %q", tt.names, err, tt.wantErr)
			}
			continue
		}
		if err != nil || len(got) != len(tt.want) {
			t.Fatalf("CipherSuites(%q) = %v, %v; want %v", tt.names, got, err, tt.want)
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("CipherSuites(%q)[%d] = %#x, want %#x", tt.names, i, got[i], tt.want[i])
			}
		}
	}
}

func TestServerConfigErrors(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "ca")
	srv := ca.Issue(t, "server", tlstest.Options{Hosts: []string{"127.0.0.1"}})
	tests := []struct {
		name    string
		info    Info
		wantErr string
	}{
		{"no key", Info{CertFile: srv.CertFile}, "KeyFile and CertFile must both be present"},
		{"missing cert file", Info{CertFile: filepath.Join(dir, "nope.pem"), KeyFile: srv.KeyFile}, "no such file"},
		{"key of another cert", Info{CertFile: srv.CertFile, KeyFile: ca.Issue(t, "other", tlstest.Options{}).KeyFile}, "private key does not match"},
		{"client cert without key", Info{CertFile: srv.CertFile, KeyFile: srv.KeyFile, ClientCertFile: srv.CertFile}, "ClientKeyFile and ClientCertFile must both be present"},
		{"missing CA", Info{CertFile: srv.CertFile, KeyFile: srv.KeyFile, TrustedCAFile: filepath.Join(dir, "nope-ca.pem")}, "no such file"},
		{"CA file without certs", Info{CertFile: srv.CertFile, KeyFile: srv.KeyFile, TrustedCAFile: srv.KeyFile}, "no PEM certificate"},
		{"missing CRL", Info{CertFile: srv.CertFile, KeyFile: srv.KeyFile, CRLFile: filepath.Join(dir, "nope.crl")}, "read CRL file"},
		{"CNs and hostnames", Info{CertFile: srv.CertFile, KeyFile: srv.KeyFile, AllowedCNs: []string{"a"}, AllowedHostnames: []string{"b"}}, "mutually exclusive"},
		{"min above max", Info{CertFile: srv.CertFile, KeyFile: srv.KeyFile, MinVersion: tls.VersionTLS13, MaxVersion: tls.VersionTLS12}, "greater than max"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.info.ServerConfig()
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ServerConfig() error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

// serveOK accepts connections on l and writes "ok" on each.
func serveOK(t *testing.T, l net.Listener) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("ok"))
			c.Close()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
	})
}

// dialOK reports whether a client with cfg gets "ok" from addr.
func dialOK(addr string, cfg *tls.Config) error {
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil {
		return err
	}
	if !bytes.Equal(b, []byte("ok")) {
		return io.ErrUnexpectedEOF
	}
	return nil
}

func TestHandshakes(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "ca")
	otherCA := tlstest.NewCA(t, dir, "other")
	srv := ca.Issue(t, "server", tlstest.Options{CommonName: "server", Hosts: []string{"127.0.0.1", "localhost"}, Server: true})
	good := ca.Issue(t, "good", tlstest.Options{CommonName: "member-1", Hosts: []string{"127.0.0.1"}, Client: true})
	revoked := ca.Issue(t, "revoked", tlstest.Options{CommonName: "member-2", Hosts: []string{"127.0.0.1"}, Client: true})
	noSAN := ca.Issue(t, "nosan", tlstest.Options{CommonName: "member-3", Client: true})
	wrongIP := ca.Issue(t, "wrongip", tlstest.Options{CommonName: "member-4", Hosts: []string{"10.99.99.99"}, Client: true})
	named := ca.Issue(t, "named", tlstest.Options{CommonName: "member-5", Hosts: []string{"member5.example.internal"}, Client: true})
	foreign := otherCA.Issue(t, "foreign", tlstest.Options{CommonName: "member-1", Hosts: []string{"127.0.0.1"}, Client: true})
	crl := ca.WriteCRL(t, filepath.Join(dir, "ca.crl"), revoked)

	server := Info{CertFile: srv.CertFile, KeyFile: srv.KeyFile}
	withAuth := server
	withAuth.TrustedCAFile = ca.CertFile
	withAuth.ClientCertAuth = true
	withCRL := withAuth
	withCRL.CRLFile = crl
	withCN := withAuth
	withCN.AllowedCNs = []string{"member-9", "member-1"}
	withHostname := withAuth
	withHostname.AllowedHostnames = []string{"member5.example.internal"}
	tls13 := server
	tls13.MinVersion = tls.VersionTLS13

	client := func(c *tlstest.Cert) Info {
		i := Info{TrustedCAFile: ca.CertFile}
		if c != nil {
			i.CertFile, i.KeyFile = c.CertFile, c.KeyFile
		}
		return i
	}
	tls12Client := client(nil)
	tls12Client.MaxVersion = tls.VersionTLS12

	tests := []struct {
		name     string
		server   Info
		checkSAN bool
		client   Info
		ok       bool
	}{
		{"plain TLS, no client cert", server, false, client(nil), true},
		{"client-cert-auth refuses a client without a certificate", withAuth, false, client(nil), false},
		{"client-cert-auth accepts a certificate of the CA", withAuth, false, client(&good), true},
		{"client-cert-auth refuses a certificate of another CA", withAuth, false, client(&foreign), false},
		{"CRL refuses a revoked certificate", withCRL, false, client(&revoked), false},
		{"CRL accepts a certificate it does not list", withCRL, false, client(&good), true},
		{"allowed CN accepts a listed CN", withCN, false, client(&good), true},
		{"allowed CN refuses another CN", withCN, false, client(&noSAN), false},
		{"allowed hostname accepts a matching SAN", withHostname, false, client(&named), true},
		{"allowed hostname refuses another SAN", withHostname, false, client(&good), false},
		{"SAN check accepts a matching IP", withAuth, true, client(&good), true},
		{"SAN check accepts a certificate without SANs", withAuth, true, client(&noSAN), true},
		{"SAN check refuses another IP", withAuth, true, client(&wrongIP), false},
		{"SAN check off accepts another IP", withAuth, false, client(&wrongIP), true},
		{"TLS1.3-only server refuses a TLS1.2-only client", tls13, false, tls12Client, false},
		{"client refuses a server of an unknown CA", server, false, Info{TrustedCAFile: otherCA.CertFile}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			scfg, err := tt.server.ServerConfig()
			if err != nil {
				t.Fatal(err)
			}
			raw, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var failures []error
			l := Listen(raw, scfg, ListenOptions{CheckSAN: tt.checkSAN, OnHandshakeFailure: func(_ *tls.Conn, err error) {
				mu.Lock()
				failures = append(failures, err)
				mu.Unlock()
			}})
			serveOK(t, l)
			ccfg, err := tt.client.ClientConfig()
			if err != nil {
				t.Fatal(err)
			}
			ccfg.ServerName = "127.0.0.1"
			err = dialOK(raw.Addr().String(), ccfg)
			if tt.ok && err != nil {
				t.Fatalf("connection refused: %v (server saw %v)", err, failures)
			}
			if !tt.ok && err == nil {
				t.Fatal("connection accepted, want refused")
			}
		})
	}
}

func TestCRLIsReadAtEveryHandshake(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "ca")
	srv := ca.Issue(t, "server", tlstest.Options{Hosts: []string{"127.0.0.1"}})
	cli := ca.Issue(t, "client", tlstest.Options{Client: true})
	crl := ca.WriteCRL(t, filepath.Join(dir, "ca.crl"))
	scfg, err := Info{CertFile: srv.CertFile, KeyFile: srv.KeyFile, TrustedCAFile: ca.CertFile, CRLFile: crl}.ServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveOK(t, Listen(raw, scfg, ListenOptions{}))
	ccfg, err := Info{CertFile: cli.CertFile, KeyFile: cli.KeyFile, TrustedCAFile: ca.CertFile}.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	if err := dialOK(raw.Addr().String(), ccfg); err != nil {
		t.Fatalf("before revocation: %v", err)
	}
	ca.WriteCRL(t, crl, cli)
	if err := dialOK(raw.Addr().String(), ccfg); err == nil {
		t.Fatal("after revocation: connection accepted")
	}
}

func TestSelfCert(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "fixtures", "peer")
	info, err := SelfCert(nil, dir, []string{"127.0.0.1:2380", "localhost:2380"}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !info.SelfSigned() || info.CertFile != filepath.Join(dir, "cert.pem") || info.KeyFile != filepath.Join(dir, "key.pem") {
		t.Fatalf("SelfCert = %+v", info)
	}
	st, err := os.Stat(info.KeyFile)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v", err, st.Mode())
	}
	pair, err := loadPair(info.CertFile, info.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	leaf := pair.Leaf
	if len(leaf.IPAddresses) != 1 || !leaf.IPAddresses[0].Equal(net.ParseIP("127.0.0.1")) || len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != "localhost" {
		t.Errorf("SANs = %v %v", leaf.IPAddresses, leaf.DNSNames)
	}
	if years := leaf.NotAfter.Sub(leaf.NotBefore).Hours() / 24 / 365; years < 1.99 || years > 2.01 {
		t.Errorf("validity = %.2f years, want 2", years)
	}
	before, _ := os.ReadFile(info.CertFile)
	again, err := SelfCert(nil, dir, []string{"127.0.0.1:2380"}, 2)
	if err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(again.CertFile)
	if !bytes.Equal(before, after) {
		t.Error("second SelfCert regenerated the certificate; want it reused")
	}
	if _, err := SelfCert(nil, dir, nil, 0); err == nil {
		t.Error("SelfCert with validity 0 succeeded")
	}

	// Two members with auto TLS talk to each other: the dialer skips
	// verification of a self-signed certificate.
	scfg, err := info.ServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveOK(t, Listen(raw, scfg, ListenOptions{CheckSAN: true}))
	other, err := SelfCert(nil, filepath.Join(t.TempDir(), "other"), []string{"127.0.0.1:0"}, 1)
	if err != nil {
		t.Fatal(err)
	}
	ccfg, err := other.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	if err := dialOK(raw.Addr().String(), ccfg); err != nil {
		t.Fatalf("auto-TLS peer refused: %v", err)
	}
}
