package e2e

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/basaltkv/basalt/pkg/testutil"
	clientv3 "go.etcd.io/etcd/client/v3"
)

const opTimeout = 10 * time.Second

func putGet(t *testing.T, cli *clientv3.Client, key, val string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if _, err := cli.Put(ctx, key, val); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
	mustGet(t, cli, key, val)
}

func mustGet(t *testing.T, cli *clientv3.Client, key, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	resp, err := cli.Get(ctx, key)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != want {
		t.Fatalf("get %s = %v, want %q", key, resp.Kvs, want)
	}
}

func httpGet(t *testing.T, url string, tlsCfg *tls.Config) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: opTimeout, Transport: &http.Transport{TLSClientConfig: tlsCfg}}
	defer c.CloseIdleConnections()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

func TestSingleMember(t *testing.T) {
	c := NewCluster(t, 1, &Options{Metrics: true})
	m := c.Members[0]
	putGet(t, c.Client(t), "foo", "bar")

	out := m.Process().Output()
	for _, want := range []string{`"msg":"ready to serve client requests"`, `"msg":"serving client traffic insecurely; this is strongly discouraged!"`, `"level":"info"`, `"ts":"`, `"caller":"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s", want)
		}
	}
	if code, body := httpGet(t, m.ClientURL()+"/version", nil); code != 200 || !strings.Contains(body, `"etcdserver":"3.7.0"`) {
		t.Errorf("/version = %d %s", code, body)
	}
	if code, body := httpGet(t, m.MetricsURL()+"/health", nil); code != 200 || !strings.Contains(body, `"health":"true"`) {
		t.Errorf("metrics /health = %d %s", code, body)
	}
	if code, body := httpGet(t, m.MetricsURL()+"/metrics", nil); code != 200 || !strings.Contains(body, "etcd_server_has_leader 1") {
		t.Errorf("metrics /metrics = %d (has_leader missing)", code)
	}
	if code, _ := httpGet(t, m.MetricsURL()+"/version", nil); code != 404 {
		t.Errorf("metrics /version = %d, want 404: the metrics URL serves only metrics and health", code)
	}

	if code := m.Stop(t); code != 0 {
		t.Fatalf("exit status after SIGTERM = %d, want 0", code)
	}
	// The data survives a restart, and a kill -9.
	m.Restart(t)
	cli := m.Client(t)
	mustGet(t, cli, "foo", "bar")
	putGet(t, cli, "after", "restart")
	m.Kill()
	m.Start(t)
	mustGet(t, m.Client(t), "after", "restart")
	if !LogContains(m.Process().Output(), "server has already been initialized") {
		t.Error("restart did not find the member's data")
	}
}

func TestMutualTLS(t *testing.T) {
	c := NewCluster(t, 1, &Options{ClientTLS: MutualTLS, PeerTLS: MutualTLS, Metrics: true})
	m := c.Members[0]
	putGet(t, c.Client(t), "secure", "yes")
	if !LogContains(m.Process().Output(), "serving client traffic securely") {
		t.Error(`log lacks "serving client traffic securely"`)
	}

	// Without a client certificate the member refuses the connection.
	noCert := c.Certs.ClientTLS(t, MutualTLS, false)
	cli := NewClient(t, []string{m.ClientURL()}, noCert)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	_, err := cli.Get(ctx, "secure")
	cancel()
	if err == nil {
		t.Fatal("get without a client certificate succeeded")
	}
	hc := &http.Client{Timeout: opTimeout, Transport: &http.Transport{TLSClientConfig: noCert}}
	if resp, err := hc.Get(m.ClientURL() + "/health"); err == nil {
		resp.Body.Close()
		t.Fatal("HTTPS without a client certificate succeeded")
	}
	hc.CloseIdleConnections()
	// A certificate of another CA is refused too.
	other := NewCerts(t, filepath.Join(t.TempDir()))
	foreign := c.Certs.ClientTLS(t, MutualTLS, false)
	foreign.GetClientCertificate = nil
	pair, err := tls.LoadX509KeyPair(other.Client.CertFile, other.Client.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	foreign.Certificates = []tls.Certificate{pair}
	fc := &http.Client{Timeout: opTimeout, Transport: &http.Transport{TLSClientConfig: foreign}}
	if resp, err := fc.Get(m.ClientURL() + "/health"); err == nil {
		resp.Body.Close()
		t.Fatal("HTTPS with a certificate of another CA succeeded")
	}
	fc.CloseIdleConnections()

	// The metrics URL is plain http here; its /health works without TLS.
	if code, _ := httpGet(t, m.MetricsURL()+"/health", nil); code != 200 {
		t.Errorf("metrics /health = %d", code)
	}
	// The peer URL requires a certificate of the CA.
	pc := &http.Client{Timeout: opTimeout, Transport: &http.Transport{TLSClientConfig: c.Certs.ClientTLS(t, TLS, false)}}
	if resp, err := pc.Get(m.PeerURL() + "/version"); err == nil {
		resp.Body.Close()
		t.Fatal("peer URL served a client without certificate")
	}
	pc.CloseIdleConnections()
	if code, body := httpGet(t, m.PeerURL()+"/version", c.Certs.ClientTLS(t, TLS, true)); code != 200 || !strings.Contains(body, "etcdserver") {
		t.Errorf("peer /version with a certificate = %d %s", code, body)
	}
	if code := m.Stop(t); code != 0 {
		t.Fatalf("exit status after SIGTERM = %d", code)
	}
}

func TestAutoTLS(t *testing.T) {
	c := NewCluster(t, 1, &Options{ClientTLS: AutoTLS, PeerTLS: AutoTLS})
	m := c.Members[0]
	putGet(t, c.Client(t), "auto", "tls")
	for _, side := range []string{"client", "peer"} {
		for _, f := range []string{"cert.pem", "key.pem"} {
			if _, err := os.Stat(filepath.Join(m.DataDir, "fixtures", side, f)); err != nil {
				t.Errorf("fixtures/%s/%s: %v", side, f, err)
			}
		}
	}
	// A client that verifies certificates against the system roots
	// refuses the self-signed one.
	strict := &http.Client{Timeout: opTimeout, Transport: &http.Transport{TLSClientConfig: &tls.Config{ServerName: "127.0.0.1"}}}
	if resp, err := strict.Get(m.ClientURL() + "/health"); err == nil {
		resp.Body.Close()
		t.Fatal("self-signed certificate verified against the system roots")
	}
	strict.CloseIdleConnections()
	// The certificate is reused on restart.
	before, err := os.ReadFile(filepath.Join(m.DataDir, "fixtures", "client", "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	m.Restart(t)
	after, err := os.ReadFile(filepath.Join(m.DataDir, "fixtures", "client", "cert.pem"))
	if err != nil || string(before) != string(after) {
		t.Fatalf("client certificate regenerated on restart (%v)", err)
	}
	mustGet(t, m.Client(t), "auto", "tls")
}

func TestEnvironment(t *testing.T) {
	// A member configured by ETCD_* variables only.
	c := NewCluster(t, 1, &Options{Env: []string{"ETCD_SNAPSHOT_COUNT=100", "ETCD_LOG_LEVEL=debug", "ETCD_NOT_A_FLAG=1"}})
	putGet(t, c.Client(t), "k", "v")
	p := c.Members[0].Process()
	out := p.Output()
	if !LogContains(out, "recognized and used environment variable") || !LogContains(out, "unrecognized environment variable") {
		t.Errorf("environment not reported in the log")
	}
	// The requests just made are logged at debug level.
	if err := p.WaitOutput(`"level":"debug"`, opTimeout); err != nil {
		t.Errorf("ETCD_LOG_LEVEL=debug not applied: %v", err)
	}
}

func TestConfigFile(t *testing.T) {
	ports, err := FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	client := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	peer := "http://127.0.0.1:" + strconv.Itoa(ports[1])
	logFile := filepath.Join(dir, "member.log")
	body := "name: filed\n" +
		"data-dir: " + filepath.Join(dir, "data") + "\n" +
		"listen-client-urls: " + client + "\n" +
		"advertise-client-urls: " + client + "\n" +
		"listen-peer-urls: " + peer + "\n" +
		"initial-advertise-peer-urls: " + peer + "\n" +
		"log-outputs: [" + logFile + "]\n"
	cfgPath := filepath.Join(dir, "etcd.conf.yml")
	if err := os.WriteFile(cfgPath, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	// Flags beside the file are ignored, as in etcd.
	p, err := StartProcess(Binary(), []string{"--config-file", cfgPath, "--name", "ignored"}, []string{"ETCD_DATA_DIR=/nonexistent"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	logOut := func() string { b, _ := os.ReadFile(logFile); return string(b) }
	// The log goes to a file here, not to the output WaitReady watches.
	err = testutil.Poll(60*time.Second, func() error {
		if LogContains(logOut(), ReadyLine) {
			return nil
		}
		if p.Exited() {
			t.Fatalf("exited before ready:\n%s\n%s", p.Output(), logOut())
		}
		return errors.New("no ready line in the log file")
	})
	if err != nil {
		t.Fatalf("not ready: %v\n%s\n%s", err, p.Output(), logOut())
	}
	cli := NewClient(t, []string{client}, nil)
	putGet(t, cli, "from", "file")
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	resp, err := cli.MemberList(ctx)
	if err != nil || len(resp.Members) != 1 || resp.Members[0].Name != "filed" {
		t.Fatalf("member list = %v, %v", resp, err)
	}
	if code, err := p.Stop(30 * time.Second); err != nil || code != 0 {
		t.Fatalf("stop: %d %v", code, err)
	}
}
