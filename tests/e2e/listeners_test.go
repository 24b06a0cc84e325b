package e2e

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestUnixSocketPeers: members that talk to each other over unix sockets,
// in etcd's form (unix://localhost:<port> names the socket file
// "localhost:<port>" in the member's working directory), plain and with
// mutual TLS (unixs): they elect a leader and replicate; a member joins
// (it fetches the member list and receives a snapshot over a socket); a
// restarted member catches up.
func TestUnixSocketPeers(t *testing.T) {
	for _, tc := range []struct {
		scheme  string
		peerTLS TLSMode
	}{
		{"unix", NoTLS},
		{"unixs", MutualTLS},
	} {
		t.Run(tc.scheme, func(t *testing.T) {
			c := NewCluster(t, 3, &Options{UnixPeers: true, PeerTLS: tc.peerTLS,
				Args: []string{"--snapshot-count=20", "--snapshot-catchup-entries=5"}})
			cli := c.Client(t)
			list, err := cli.MemberList(testCtx(t))
			if err != nil {
				t.Fatal(err)
			}
			for _, mem := range list.Members {
				if len(mem.PeerURLs) != 1 || !strings.HasPrefix(mem.PeerURLs[0], tc.scheme+"://localhost:") {
					t.Fatalf("member %s has peer URLs %v, want one %s:// URL", mem.Name, mem.PeerURLs, tc.scheme)
				}
				// Nothing listens on TCP: the peers' traffic went through
				// the sockets.
				u, _ := url.Parse(mem.PeerURLs[0])
				if conn, err := net.DialTimeout("tcp", u.Host, time.Second); err == nil {
					conn.Close()
					t.Fatalf("%s is served over TCP too", u.Host)
				}
			}
			for i := range 30 {
				if _, err := cli.Put(testCtx(t), fmt.Sprintf("k%02d", i), "v"); err != nil {
					t.Fatal(err)
				}
			}
			joined, _ := addMember(t, c, cli, "m3", false)
			readOn(t, joined, "k29", "v")
			// The leader's log was compacted: the new member got a
			// snapshot through the socket.
			if err := joined.Process().WaitOutput("applied snapshot", opTimeout); err != nil {
				t.Fatal(err)
			}

			restarted := c.Members[0]
			restarted.Stop(t)
			if _, err := c.Members[1].Client(t).Put(testCtx(t), "after-restart", "v"); err != nil {
				t.Fatal(err)
			}
			restarted.Start(t)
			readOn(t, restarted, "after-restart", "v")
		})
	}
}

// readOn reads key linearizably through member m and fails unless it has
// value want.
func readOn(t *testing.T, m *Member, key, want string) {
	t.Helper()
	resp, err := m.Client(t).Get(testCtx(t), key)
	if err != nil {
		t.Fatalf("get %s on %s: %v", key, m.Name, err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != want {
		t.Fatalf("get %s on %s: %v, want %q", key, m.Name, resp.Kvs, want)
	}
}

// TestClientUnixSockets: clients reach a member over unix sockets listed
// as --listen-client-urls (unix:///path), plain and TLS (unixs), with
// gRPC (clientv3) and HTTP (health, the JSON gateway) on each.
func TestClientUnixSockets(t *testing.T) {
	dir := t.TempDir()
	certs := NewCerts(t, dir)
	// gRPC clients verify a unixs server as the socket file's name: the
	// member's certificate names localhost.
	if err := os.Mkdir(filepath.Join(dir, "tls"), 0o700); err != nil {
		t.Fatal(err)
	}
	plain, secure := "unix://"+filepath.Join(dir, "c.sock"), "unixs://"+filepath.Join(dir, "tls", "localhost")
	p, _ := StartLoneMember(t, dir, "--listen-client-urls", plain+","+secure,
		"--advertise-client-urls", plain, "--cert-file", certs.Member.CertFile, "--key-file", certs.Member.KeyFile)
	if err := p.WaitOutput(ReadyLine, 60*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, p.Output())
	}
	for _, tc := range []struct {
		endpoint string
		tls      *tls.Config
	}{
		{plain, nil},
		{secure, certs.ClientTLS(t, TLS, false)},
	} {
		cli := NewClient(t, []string{tc.endpoint}, tc.tls)
		if _, err := cli.Put(testCtx(t), "via", tc.endpoint); err != nil {
			t.Fatalf("put through %s: %v", tc.endpoint, err)
		}
		resp, err := cli.Get(testCtx(t), "via")
		if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != tc.endpoint {
			t.Fatalf("get through %s: %v %v", tc.endpoint, resp, err)
		}
		u, _ := url.Parse(tc.endpoint)
		hc := unixHTTPClient(u.Path, tc.tls)
		scheme := "http"
		if tc.tls != nil {
			scheme = "https"
		}
		body := fetch(t, hc, scheme+"://127.0.0.1/health", "")
		if !strings.Contains(body, `"health":"true"`) {
			t.Fatalf("health through %s: %s", tc.endpoint, body)
		}
		body = fetch(t, hc, scheme+"://127.0.0.1/v3/kv/range", `{"key":"dmlh"}`)
		if !strings.Contains(body, `"count":"1"`) {
			t.Fatalf("gateway range through %s: %s", tc.endpoint, body)
		}
	}
}

// unixHTTPClient is an HTTP client whose connections go to the unix
// socket at path.
func unixHTTPClient(path string, tlsCfg *tls.Config) *http.Client {
	return &http.Client{Timeout: opTimeout, Transport: &http.Transport{
		TLSClientConfig: tlsCfg,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}
}

// fetch GETs u, or POSTs body to it as JSON, with hc, and returns the
// answer's body.
func fetch(t *testing.T, hc *http.Client, u, body string) string {
	t.Helper()
	var resp *http.Response
	var err error
	if body == "" {
		resp, err = hc.Get(u)
	} else {
		resp, err = hc.Post(u, "application/json", strings.NewReader(body))
	}
	if err != nil {
		t.Fatalf("%s: %v", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s: %v", u, err)
	}
	return string(b)
}

// TestPlainAndTLSOnOneAddress: an address listed as both http:// and
// https:// serves both, as etcd does (plain HTTP/1.x and gRPC told apart
// from TLS by their first bytes); with --client-cert-auth, a TLS client
// without a certificate is refused and the refusal logged as etcd logs
// it, while the plain URL ignores client certificate auth (with etcd's
// warning).
func TestPlainAndTLSOnOneAddress(t *testing.T) {
	dir := t.TempDir()
	certs := NewCerts(t, dir)
	ports, err := FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	p, _ := StartLoneMember(t, dir, "--listen-client-urls", "http://"+addr+",https://"+addr,
		"--advertise-client-urls", "https://"+addr, "--cert-file", certs.Member.CertFile, "--key-file", certs.Member.KeyFile,
		"--trusted-ca-file", certs.CA.CertFile, "--client-cert-auth")
	if err := p.WaitOutput(ReadyLine, 60*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, p.Output())
	}
	if err := p.WaitOutput("scheme is http or unix while --client-cert-auth is enabled; ignoring client cert auth for this URL", opTimeout); err != nil {
		t.Error(err)
	}
	for _, tc := range []struct {
		endpoint string
		tls      *tls.Config
	}{
		{"http://" + addr, nil},
		{"https://" + addr, certs.ClientTLS(t, MutualTLS, true)},
	} {
		cli := NewClient(t, []string{tc.endpoint}, tc.tls)
		if _, err := cli.Put(testCtx(t), "via", tc.endpoint); err != nil {
			t.Fatalf("put through %s: %v", tc.endpoint, err)
		}
		hc := &http.Client{Timeout: opTimeout, Transport: &http.Transport{TLSClientConfig: tc.tls}}
		if body := fetch(t, hc, tc.endpoint+"/health", ""); !strings.Contains(body, `"health":"true"`) {
			t.Fatalf("health through %s: %s", tc.endpoint, body)
		}
		body := fetch(t, hc, tc.endpoint+"/v3/kv/range", `{"key":"dmlh"}`)
		if !strings.Contains(body, `"count":"1"`) {
			t.Fatalf("gateway range through %s: %s", tc.endpoint, body)
		}
	}

	// A TLS client without a certificate is refused in the handshake.
	noCert := certs.ClientTLS(t, MutualTLS, false)
	conn, err := tls.Dial("tcp", addr, noCert)
	if err == nil {
		// TLS 1.3 reports the refusal at the first read.
		_ = conn.SetReadDeadline(time.Now().Add(opTimeout))
		_, err = conn.Read(make([]byte, 1))
		conn.Close()
	}
	if err == nil {
		t.Fatal("a TLS client without a certificate was served")
	}
	if err := p.WaitOutput("rejected connection on client endpoint", opTimeout); err != nil {
		t.Fatal(err)
	}
	line := logLine(t, p.Output(), "rejected connection on client endpoint")
	for _, k := range []string{"remote-addr", "server-name", "error"} {
		if _, ok := line[k]; !ok {
			t.Errorf("the refusal's log line has no %q: %v", k, line)
		}
	}
	if line["level"] != "warn" {
		t.Errorf("the refusal is logged at %v, want warn", line["level"])
	}
}

// logLine is the first JSON log line in out whose msg is msg.
func logLine(t *testing.T, out, msg string) map[string]any {
	t.Helper()
	for l := range strings.SplitSeq(out, "\n") {
		var entry map[string]any
		if json.Unmarshal([]byte(l), &entry) == nil && entry["msg"] == msg {
			return entry
		}
	}
	t.Fatalf("no log line %q in:\n%s", msg, out)
	return nil
}
