package rafthttp

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/basaltkv/basalt/pkg/testutil"
	"github.com/basaltkv/basalt/raft"
	"github.com/basaltkv/basalt/raft/raftpb"
)

// testCA is a certificate authority made up for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t testing.TB) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "basalt test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
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
	return &testCA{cert: cert, key: key, pool: pool}
}

// serverConfig is a listener's TLS configuration with a certificate for
// 127.0.0.1 signed by the CA.
func (ca *testCA) serverConfig(t testing.TB) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "basalt peer"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		// Offer HTTP/2 as cmd/basalt's listener may: the transport must
		// still get HTTP/1.1.
		NextProtos: []string{"h2", "http/1.1"},
		MinVersion: tls.VersionTLS12,
	}
}

func (ca *testCA) clientConfig() *tls.Config {
	return &tls.Config{RootCAs: ca.pool, MinVersion: tls.VersionTLS12}
}

func TestTLSBetweenTwoMembers(t *testing.T) {
	ca := newTestCA(t)
	db := randomBytes(t, 1<<20)
	opts := memberOpts{serverTLS: true, clientTLS: ca, source: bytesSource(db)}
	a := newMember(t, 1, opts)
	b := newMember(t, 2, opts)
	if a.url[:8] != "https://" {
		t.Fatalf("listener URL %s is not https", a.url)
	}
	connectAll(t, a, b)
	const n = 2000
	sendWindowed(t, a, b, n, 500)
	testutil.WaitUntil(t, 10*time.Second, "messages over TLS", func() bool { return b.raft.count(1) == n })
	checkInOrder(t, a, b, n)

	a.tr.Send([]raftpb.Message{snapMsg(1, 2, 42)})
	testutil.WaitUntil(t, 10*time.Second, "snapshot over TLS", func() bool { return len(a.raft.snapshotReports(2)) == 1 })
	if got := a.raft.snapshotReports(2)[0]; got != raft.SnapshotFinish {
		t.Fatalf("snapshot over TLS reported %v", got)
	}
	if got, _, _ := b.sink.get(42); string(got) != string(db) {
		t.Fatal("database differs after TLS transfer")
	}
}

// A member that does not trust the peer's CA cannot connect.
func TestTLSUntrustedPeer(t *testing.T) {
	ca, other := newTestCA(t), newTestCA(t)
	b := newMember(t, 2, memberOpts{serverTLS: true, clientTLS: ca})
	a := newMember(t, 1, memberOpts{clientTLS: other, tune: fastBackoff})
	a.tr.AddPeer(2, []string{b.url})
	b.tr.AddPeer(1, []string{a.url})
	a.tr.Send([]raftpb.Message{heartbeat(1, 2, 1)})
	testutil.WaitUntil(t, 5*time.Second, "unreachable report", func() bool { return a.raft.unreachableCount(2) > 0 })
	if !a.tr.ActiveSince(2).IsZero() {
		t.Fatal("connected to a peer with an untrusted certificate")
	}
}
