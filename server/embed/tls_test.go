package embed

import (
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/zap"
)

func TestAutoTLSFixturesAndListeners(t *testing.T) {
	cfg := NewConfig()
	cfg.Dir = t.TempDir()
	cfg.ClientAutoTLS, cfg.PeerAutoTLS = true, true
	cfg.ListenClientUrls = urls(t, "https://127.0.0.1:0")
	cfg.ListenPeerUrls = urls(t, "https://127.0.0.1:0")
	cfg.ListenMetricsUrls = urls(t, "https://127.0.0.1:0")
	cfg.PeerTLSInfo.ClientCertAuth = true // dropped by auto TLS, with a warning
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	lg := zap.NewNop()
	if err := cfg.ResolveTLS(lg); err != nil {
		t.Fatal(err)
	}
	for _, side := range []string{"client", "peer"} {
		for _, f := range []string{"cert.pem", "key.pem"} {
			if _, err := os.Stat(filepath.Join(cfg.Dir, "fixtures", side, f)); err != nil {
				t.Errorf("fixture %s/%s: %v", side, f, err)
			}
		}
	}
	if cfg.PeerTLSInfo.ClientCertAuth {
		t.Error("peer client-cert-auth kept with auto TLS")
	}
	dial, err := cfg.PeerDialTLS()
	if err != nil || dial == nil || !dial.InsecureSkipVerify {
		t.Fatalf("PeerDialTLS = %+v, %v; want a config that skips verifying self-signed peers", dial, err)
	}
	for _, listen := range []func(*zap.Logger) ([]Listener, error){cfg.ListenPeers, cfg.ListenClients, cfg.ListenMetrics} {
		ls, err := listen(lg)
		if err != nil {
			t.Fatal(err)
		}
		if len(ls) != 1 || !ls[0].Secure {
			t.Fatalf("listeners = %+v", ls)
		}
		closeAll(ls)
	}
	if tc, err := cfg.ClientServerTLS(); err != nil || tc == nil {
		t.Fatalf("ClientServerTLS = %v, %v", tc, err)
	}
}

func TestPlainPeersDialWithoutTLS(t *testing.T) {
	cfg := NewConfig()
	if dial, err := cfg.PeerDialTLS(); dial != nil || err != nil {
		t.Fatalf("PeerDialTLS = %v, %v; want nil", dial, err)
	}
	if tc, err := cfg.ClientServerTLS(); tc != nil || err != nil {
		t.Fatalf("ClientServerTLS = %v, %v; want nil", tc, err)
	}
}

func TestCheckDataDir(t *testing.T) {
	cfg := NewConfig()
	cfg.Dir = filepath.Join(t.TempDir(), "m.etcd")
	if init, err := cfg.CheckDataDir(zap.NewNop()); init || err != nil {
		t.Fatalf("missing dir: %v %v", init, err)
	}
	wal := filepath.Join(cfg.Dir, "member", "wal")
	if err := os.MkdirAll(wal, 0o700); err != nil {
		t.Fatal(err)
	}
	if init, _ := cfg.CheckDataDir(zap.NewNop()); init {
		t.Fatal("empty wal dir counted as initialized")
	}
	if err := os.WriteFile(filepath.Join(wal, "0000000000000000-0000000000000000.wal"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if init, err := cfg.CheckDataDir(zap.NewNop()); !init || err != nil {
		t.Fatalf("with a WAL: %v %v", init, err)
	}
	if err := os.Mkdir(filepath.Join(cfg.Dir, "proxy"), 0o700); err != nil {
		t.Fatal(err)
	}
	// A data dir with both a member and a v2 proxy is refused, as etcd 3.4
	// refuses it; CheckDataDir itself leaves the choice to DataDirKind.
	if kind, err := cfg.DataDirKind(); err == nil {
		t.Fatalf("member and proxy dirs accepted as %s", kind)
	}
	if err := os.RemoveAll(cfg.MemberDir()); err != nil {
		t.Fatal(err)
	}
	if kind, err := cfg.DataDirKind(); kind != DirProxy || err != nil {
		t.Fatalf("proxy dir: %q, %v", kind, err)
	}
}

func TestSocketReusePort(t *testing.T) {
	cfg := NewConfig()
	cfg.SocketOpts = SocketOpts{ReusePort: true, ReuseAddress: true}
	first, err := cfg.listen(urls(t, "http://127.0.0.1:0")[0])
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	// SO_REUSEPORT lets a second socket bind the same port.
	second, err := cfg.listen(urls(t, "http://"+first.Addr().String())[0])
	if err != nil {
		t.Fatalf("second bind with --socket-reuse-port: %v", err)
	}
	second.Close()
	plain := NewConfig()
	if l, err := plain.listen(urls(t, "http://"+first.Addr().String())[0]); err == nil {
		l.Close()
		t.Fatal("second bind without --socket-reuse-port succeeded")
	}
}
