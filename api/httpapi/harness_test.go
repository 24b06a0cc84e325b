package httpapi_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/basaltkv/basalt/api/httpapi"
	"github.com/basaltkv/basalt/api/internal/fakemember"
	"github.com/basaltkv/basalt/api/v3rpc"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// node is a fake member served, gRPC and HTTP alike, on one loopback
// port the OS chose.
type node struct {
	m      *fakemember.Member
	addr   string
	scheme string
	tls    *tls.Config // the client's, when serving TLS
	client *clientv3.Client
	http   *http.Client
	srv    *httpapi.Server
	served chan error
}

type nodeOptions struct {
	tls           bool
	hostWhitelist []string
	cors          []string
}

func newNode(t *testing.T, o nodeOptions) *node {
	t.Helper()
	m := fakemember.New(t)
	gs, err := v3rpc.NewServer(m, v3rpc.Config{Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	h, err := httpapi.NewHandler(context.Background(), httpapi.Config{
		Member:        m,
		GatewayConn:   gs.ClientConn(),
		Versions:      httpapi.Versions{Server: "3.7.0", Cluster: "3.7.0", Basalt: "0.1.0-dev"},
		HostWhitelist: o.hostWhitelist,
		CORS:          o.cors,
	})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n := &node{m: m, addr: l.Addr().String(), scheme: "http", served: make(chan error, 1)}
	var serverTLS *tls.Config
	if o.tls {
		serverTLS, n.tls = testTLS(t)
		n.scheme = "https"
	}
	n.srv = httpapi.NewServer(l, gs.GRPCServer(), h, serverTLS)
	go func() { n.served <- n.srv.Serve() }()
	t.Cleanup(func() {
		n.srv.Close()
		gs.Stop()
		if err := <-n.served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})

	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{n.scheme + "://" + n.addr}, TLS: n.tls, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	n.client = cli
	n.http = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: n.tls}}
	t.Cleanup(n.http.CloseIdleConnections)
	return n
}

func (n *node) url(path string) string { return n.scheme + "://" + n.addr + path }

// get returns the status and body of GET path.
func (n *node) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := n.http.Get(n.url(path))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// post posts a JSON body and decodes the JSON answer.
func (n *node) post(t *testing.T, path, body string) (int, map[string]any) {
	t.Helper()
	resp, err := n.http.Post(n.url(path), "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	return resp.StatusCode, out
}

// stream posts body to a streaming endpoint and returns a reader of the
// response lines. The body ends at once, as with curl -d: the stream goes
// on after the request half closes.
func (n *node) stream(t *testing.T, path, body string) *bufio.Scanner {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx(t), http.MethodPost, n.url(path), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := n.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return bufio.NewScanner(resp.Body)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// testTLS returns a server config with a fresh self-signed certificate
// for 127.0.0.1, and a client config trusting it.
func testTLS(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "basalt test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	server = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}
	client = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return server, client
}
