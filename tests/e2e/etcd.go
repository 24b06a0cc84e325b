package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/basaltkv/basalt/pkg/testutil"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// DebianEtcd is where Debian's etcd-server package puts etcd 3.4, which
// .ci/run installs: tests run it beside basalt.
const DebianEtcd = "/usr/bin/etcd"

// Etcd37Env names the path of an etcd 3.7.3 server binary (built with
// `go install go.etcd.io/etcd/server/v3@v3.7.3`; .ci/run builds one): the
// tests that compare basalt with the exact etcd version it implements run
// it. They skip when it is unset.
const Etcd37Env = "BASALT_ETCD37"

// Etcd is a one-member etcd cluster, named e0.
type Etcd struct {
	ClientURL string
	PeerURL   string
	// Client is a client of it, closed when the test ends.
	Client *clientv3.Client
}

// StartEtcd runs Debian's etcd as a one-member cluster for the test's
// lifetime, with extra flags added; it skips the test when the binary is
// missing, saying why.
func StartEtcd(t testing.TB, why string, extra ...string) *Etcd {
	t.Helper()
	if _, err := os.Stat(DebianEtcd); err != nil {
		t.Skipf("%s is missing (install Debian's etcd-server): %s", DebianEtcd, why)
	}
	return startEtcd(t, DebianEtcd, extra)
}

// StartEtcd37 runs etcd 3.7.3 ($BASALT_ETCD37) as StartEtcd runs Debian's
// etcd; it skips the test when the variable is unset or names no file.
func StartEtcd37(t testing.TB, why string, extra ...string) *Etcd {
	t.Helper()
	return startEtcd(t, Etcd37Binary(t, why), extra)
}

// Etcd37Binary is the path of etcd 3.7.3's server ($BASALT_ETCD37); it
// skips the test, saying why it needs it, when the variable is unset or
// names no file.
func Etcd37Binary(t testing.TB, why string) string {
	t.Helper()
	bin := os.Getenv(Etcd37Env)
	if bin == "" {
		t.Skipf("%s is not set (the path of an etcd 3.7.3 binary; .ci/run builds one): %s", Etcd37Env, why)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("%s=%s: %v: %s", Etcd37Env, bin, err, why)
	}
	return bin
}

func startEtcd(t testing.TB, bin string, extra []string) *Etcd {
	t.Helper()
	ports, err := FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	e := &Etcd{ClientURL: fmt.Sprintf("http://127.0.0.1:%d", ports[0]), PeerURL: fmt.Sprintf("http://127.0.0.1:%d", ports[1])}
	dir := t.TempDir()
	args := append([]string{"--name", "e0", "--data-dir", filepath.Join(dir, "data"),
		"--listen-client-urls", e.ClientURL, "--advertise-client-urls", e.ClientURL,
		"--listen-peer-urls", e.PeerURL, "--initial-advertise-peer-urls", e.PeerURL,
		"--initial-cluster", "e0=" + e.PeerURL}, extra...)
	cmd := exec.Command(bin, args...)
	logf, err := os.Create(filepath.Join(dir, "etcd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("etcd log:\n%s", b)
		}
	})
	e.Client = NewClient(t, []string{e.ClientURL}, nil)
	testutil.WaitUntil(t, 30*time.Second, "etcd to serve", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := e.Client.Get(ctx, "health")
		return err == nil
	})
	return e
}
