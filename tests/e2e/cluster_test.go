package e2e

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/basaltkv/basalt/pkg/testutil"
	"github.com/basaltkv/basalt/pkg/tlsutil"
	"github.com/basaltkv/basalt/pkg/tlsutil/tlstest"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func TestThreeMembersOverMutualTLS(t *testing.T) {
	c := NewCluster(t, 3, &Options{ClientTLS: TLS, PeerTLS: MutualTLS})
	putGet(t, c.Members[0].Client(t), "a", "1")
	mustGet(t, c.Members[2].Client(t), "a", "1")

	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	resp, err := c.Client(t).MemberList(ctx)
	cancel()
	if err != nil || len(resp.Members) != 3 {
		t.Fatalf("member list = %v, %v", resp, err)
	}

	// One member down: the other two keep a quorum.
	if code := c.Members[1].Stop(t); code != 0 {
		t.Fatalf("exit status %d", code)
	}
	putGet(t, c.Members[0].Client(t), "b", "2")
	c.Members[1].Start(t)
	mustGet(t, c.Members[1].Client(t), "b", "2")

	// kill -9 and restart. If the killed member led, a put made before
	// the others notice can time out, as in etcd: clients retry.
	c.Members[2].Kill()
	putEventually(t, c.Members[0].Client(t), "c", "3", 30*time.Second)
	c.Members[2].Restart(t)
	mustGet(t, c.Members[2].Client(t), "c", "3")
	c.Stop(t)
}

// TestPeerCertChecks dials a member's peer URL the way another member
// would, with certificates the member must refuse.
func TestPeerCertChecks(t *testing.T) {
	dir := t.TempDir()
	certs := NewCerts(t, dir)
	revoked := certs.CA.Issue(t, "revoked-peer", tlstest.Options{CommonName: "member", Hosts: []string{"127.0.0.1"}})
	crl := certs.CA.WriteCRL(t, filepath.Join(dir, "peer.crl"), revoked)

	tests := []struct {
		name string
		args []string
		// dialWith is the certificate presented to the peer URL.
		dialWith tlstest.Cert
		ok       bool
	}{
		{"allowed CN accepts", []string{"--peer-cert-allowed-cn", "member"}, certs.Member, true},
		{"allowed CN refuses", []string{"--peer-cert-allowed-cn", "someone-else"}, certs.Member, false},
		{"allowed hostname accepts", []string{"--peer-cert-allowed-hostname", "localhost"}, certs.Member, true},
		{"allowed hostname refuses", []string{"--peer-cert-allowed-hostname", "peer.example.internal"}, certs.Member, false},
		{"CRL refuses a revoked certificate", []string{"--peer-crl-file", crl}, revoked, false},
		{"CRL accepts another certificate", []string{"--peer-crl-file", crl}, certs.Member, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewCluster(t, 1, &Options{PeerTLS: MutualTLS, Certs: certs, Args: tt.args})
			info := tlsutil.Info{CertFile: tt.dialWith.CertFile, KeyFile: tt.dialWith.KeyFile, TrustedCAFile: certs.CA.CertFile, ServerName: "127.0.0.1"}
			cfg, err := info.ClientConfig()
			if err != nil {
				t.Fatal(err)
			}
			hc := &http.Client{Timeout: opTimeout, Transport: &http.Transport{TLSClientConfig: cfg}}
			defer hc.CloseIdleConnections()
			resp, err := hc.Get(c.Members[0].PeerURL() + "/version")
			if err == nil {
				resp.Body.Close()
			}
			if tt.ok && (err != nil || resp.StatusCode != http.StatusOK) {
				t.Fatalf("peer refused: %v", err)
			}
			if !tt.ok && err == nil {
				t.Fatalf("peer accepted (status %d)", resp.StatusCode)
			}
			if !tt.ok {
				if err := c.Members[0].Process().WaitOutput("rejected connection on peer endpoint", opTimeout); err != nil {
					t.Errorf("refusal not logged: %v", err)
				}
			}
		})
	}
}

// TestClientCRL refuses a revoked client certificate on the client URL.
func TestClientCRL(t *testing.T) {
	dir := t.TempDir()
	certs := NewCerts(t, dir)
	crl := certs.CA.WriteCRL(t, filepath.Join(dir, "client.crl"), certs.Client)
	c := NewCluster(t, 1, &Options{ClientTLS: MutualTLS, Certs: certs, Args: []string{"--client-crl-file", crl}})
	cli := c.Client(t) // presents the revoked client certificate
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, err := cli.Get(ctx, "x"); err == nil {
		t.Fatal("revoked client certificate accepted")
	}
	other := certs.CA.Issue(t, "client2", tlstest.Options{CommonName: "root", Client: true})
	info := tlsutil.Info{CertFile: other.CertFile, KeyFile: other.KeyFile, TrustedCAFile: certs.CA.CertFile, ServerName: "127.0.0.1"}
	cfg, err := info.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	putGet(t, NewClient(t, c.Endpoints(), cfg), "x", "y")
}

// putEventually retries a put until it succeeds or timeout passes, as a
// client does across a leader failure.
func putEventually(t *testing.T, cli *clientv3.Client, key, val string, timeout time.Duration) {
	t.Helper()
	err := testutil.Poll(timeout, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := cli.Put(ctx, key, val)
		cancel()
		if err != nil {
			t.Logf("put %s: %v; retrying", key, err)
		}
		return err
	})
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
	mustGet(t, cli, key, val)
}

// A member whose client port another process holds while it is down
// starts once the port is free again: the harness waits for it.
func TestRestartWaitsForItsPort(t *testing.T) {
	m := stoppedWithKey(t, "a", "1")
	u, err := url.Parse(m.clientURL)
	if err != nil {
		t.Fatal(err)
	}
	hold, err := net.Listen("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan error, 1)
	go func() { started <- m.TryStart() }()
	// Release the port once the member has failed on it at least once.
	err = testutil.Poll(30*time.Second, func() error {
		if !m.portTaken() {
			return errors.New("the member never tried the held port")
		}
		return nil
	})
	hold.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := <-started; err != nil {
		t.Fatal(err)
	}
	mustGet(t, m.Client(t), "a", "1")
}

// stoppedWithKey starts a one-member cluster, writes key=value and stops
// the member cleanly.
func stoppedWithKey(t *testing.T, key, value string) *Member {
	t.Helper()
	m := NewCluster(t, 1, nil).Members[0]
	putGet(t, m.Client(t), key, value)
	if code := m.Stop(t); code != 0 {
		t.Fatalf("exit status %d", code)
	}
	return m
}
