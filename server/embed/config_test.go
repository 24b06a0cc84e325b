package embed

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/basaltkv/basalt/pkg/netutil"
)

func urls(t *testing.T, ss ...string) []url.URL {
	t.Helper()
	var out []url.URL
	for _, s := range ss {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, *u)
	}
	return out
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{"defaults", func(*Config) {}, ""},
		{"host name in listen URL", func(c *Config) { c.ListenClientUrls = urls(t, "http://example.com:2379") },
			"expected IP in URL for binding (http://example.com:2379)"},
		{"localhost listen URL", func(c *Config) { c.ListenPeerUrls = urls(t, "http://localhost:12380") }, ""},
		{"metrics URL with host name", func(c *Config) { c.ListenMetricsUrls = urls(t, "http://metrics.local:2381") },
			"expected IP in URL for binding"},
		{"advertise peer URL without host", func(c *Config) { c.AdvertisePeerUrls = urls(t, "http://:2380") },
			`--initial-advertise-peer-urls "http://:2380" must be "host:port"`},
		{"advertise client URL without host", func(c *Config) { c.AdvertiseClientUrls = urls(t, "http://:2379") },
			`--advertise-client-urls "http://:2379" must be in the format "host:port"`},
		{"bad cluster state", func(c *Config) { c.ClusterState = "old" }, `unexpected clusterState "old"`},
		{"zero heartbeat", func(c *Config) { c.TickMs = 0 }, "--heartbeat-interval must be >0 (set to 0ms)"},
		{"zero election", func(c *Config) { c.ElectionMs = 0 }, "--election-timeout must be >0 (set to 0ms)"},
		{"election under 5 heartbeats", func(c *Config) { c.TickMs, c.ElectionMs = 100, 499 },
			"--election-timeout[499ms] should be at least as 5 times as --heartbeat-interval[100ms]"},
		{"election of exactly 5 heartbeats", func(c *Config) { c.TickMs, c.ElectionMs = 100, 500 }, ""},
		{"election too long", func(c *Config) { c.ElectionMs = 50001 },
			"--election-timeout[50001ms] is too long, and should be set less than 50000ms"},
		{"listen client URLs without advertise", func(c *Config) { c.AdvertiseClientUrls = nil },
			"--advertise-client-urls is required when --listen-client-urls is set explicitly"},
		{"empty compaction mode", func(c *Config) { c.AutoCompactionMode = "" }, "undefined auto-compaction-mode"},
		{"unknown compaction mode", func(c *Config) { c.AutoCompactionMode = "hourly" }, `unknown auto-compaction-mode "hourly"`},
		{"bad retention", func(c *Config) { c.AutoCompactionRetention = "soon" }, "error parsing CompactionRetention"},
		{"duration retention in revision mode", func(c *Config) { c.AutoCompactionMode, c.AutoCompactionRetention = "revision", "1h" },
			"revision mode needs a number of revisions"},
		{"revision retention", func(c *Config) { c.AutoCompactionMode, c.AutoCompactionRetention = "revision", "1000" }, ""},
		{"periodic duration retention", func(c *Config) { c.AutoCompactionRetention = "30m" }, ""},
		{"bad TLS min version", func(c *Config) { c.TlsMinVersion = "TLS1.0" }, `unexpected TLS version "TLS1.0"`},
		{"min above max", func(c *Config) { c.TlsMinVersion, c.TlsMaxVersion = "TLS1.3", "TLS1.2" },
			"min version (TLS1.3) is greater than max version (TLS1.2)"},
		{"ciphers with TLS1.3 only", func(c *Config) {
			c.TlsMinVersion = "TLS1.3"
			c.CipherSuites = []string{"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"}
		}, "cipher suites cannot be configured when only TLS1.3 is enabled"},
		{"unknown cipher", func(c *Config) { c.CipherSuites = []string{"TLS_NOPE"} }, `unexpected TLS cipher suite "TLS_NOPE"`},
		{"https client URL without certs", func(c *Config) {
			c.ListenClientUrls = urls(t, "https://127.0.0.1:2379")
		}, "TLS key/cert (--cert-file, --key-file) must be provided for client url https://127.0.0.1:2379 with HTTPS scheme"},
		{"https client URL with auto TLS", func(c *Config) {
			c.ListenClientUrls = urls(t, "https://127.0.0.1:2379")
			c.ClientAutoTLS = true
		}, ""},
		{"https client URL with certs", func(c *Config) {
			c.ListenClientUrls = urls(t, "https://127.0.0.1:2379")
			c.ClientTLSInfo.CertFile, c.ClientTLSInfo.KeyFile = "c.pem", "k.pem"
		}, ""},
		{"https peer URL without certs", func(c *Config) { c.ListenPeerUrls = urls(t, "https://127.0.0.1:2380") },
			"cannot listen on TLS for 127.0.0.1:2380: KeyFile and CertFile are not presented"},
		{"https peer URL with peer auto TLS", func(c *Config) {
			c.ListenPeerUrls = urls(t, "https://127.0.0.1:2380")
			c.PeerAutoTLS = true
		}, ""},
		{"https metrics URL without client certs", func(c *Config) { c.ListenMetricsUrls = urls(t, "https://127.0.0.1:2381") },
			"client TLS key/cert (--cert-file, --key-file) must be provided for metrics secure url"},
		{"allowed CN and hostname", func(c *Config) {
			c.PeerTLSInfo.AllowedCNs = []string{"a"}
			c.PeerTLSInfo.AllowedHostnames = []string{"b"}
		}, "mutually exclusive"},
		{"auto TLS with zero validity", func(c *Config) { c.ClientAutoTLS, c.SelfSignedCertValidity = true, 0 },
			"selfSignedCertValidity is invalid"},
		{"capnslog", func(c *Config) { c.Logger = "capnslog" }, "--logger=capnslog is removed in v3.5"},
		{"unknown logger", func(c *Config) { c.Logger = "logrus" }, `unknown logger option "logrus"`},
		{"bad log level", func(c *Config) { c.LogLevel = "loud" }, `invalid --log-level "loud"`},
		{"bad log format", func(c *Config) { c.LogFormat = "xml" }, "unknown log format: xml, supported values json, console"},
		{"default among several outputs", func(c *Config) { c.LogOutputs = []string{"default", "stdout"} },
			`multi logoutput for "default" is not supported yet`},
		{"journal and another output", func(c *Config) { c.LogOutputs = []string{"stderr", "systemd/journal"} },
			`running with systemd/journal but other '--log-outputs' values (["stderr" "systemd/journal"]) are configured with 'default'; override 'default' value with something else`},
		{"bad metrics level", func(c *Config) { c.Metrics = "all" }, `unknown --metrics "all"`},
		{"bad CORS origin", func(c *Config) { c.CORS = []string{"example.com"} }, `invalid --cors origin "example.com"`},
		{"unix peer URL", func(c *Config) { c.ListenPeerUrls = urls(t, "unix://localhost:2380") }, ""},
		{"unix peer URL with a path", func(c *Config) { c.ListenPeerUrls = urls(t, "unix:///run/peer.sock") },
			`unix socket peer URL unix:///run/peer.sock must name its socket as the host ("unix://name:port"), without a path`},
		{"unixs peer URL without peer certs", func(c *Config) { c.ListenPeerUrls = urls(t, "unixs://localhost:2380") },
			"cannot listen on TLS for localhost:2380: KeyFile and CertFile are not presented"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := NewConfig()
			tt.mutate(cfg)
			err := cfg.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate() = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestVerifyBootstrap(t *testing.T) {
	tests := []struct {
		name           string
		member         string
		cluster        string
		advertisePeers []string
		wantErr        string
	}{
		{"lone default member", "default", "default=http://localhost:2380", []string{"http://localhost:2380"}, ""},
		{"three members", "b", "a=http://10.0.0.1:2380,b=http://10.0.0.2:2380,c=http://10.0.0.3:2380", []string{"http://10.0.0.2:2380"}, ""},
		{"member with two URLs", "a", "a=http://10.0.0.1:2380,a=http://10.0.0.9:2380", []string{"http://10.0.0.9:2380", "http://10.0.0.1:2380"}, ""},
		{"name missing", "x", "a=http://10.0.0.1:2380", []string{"http://10.0.0.1:2380"}, `couldn't find local name "x" in the initial cluster configuration`},
		{"advertise differs", "a", "a=http://10.0.0.1:2380", []string{"http://10.0.0.1:2381"},
			"--initial-cluster has a=http://10.0.0.1:2380 but missing from --initial-advertise-peer-urls=http://10.0.0.1:2381"},
		{"advertise has more", "a", "a=http://10.0.0.1:2380", []string{"http://10.0.0.1:2380", "http://10.0.0.2:2380"},
			"--initial-advertise-peer-urls has http://10.0.0.2:2380 but missing from --initial-cluster=a=http://10.0.0.1:2380,a=http://10.0.0.2:2380"},
		{"duplicate URL", "a", "a=http://10.0.0.1:2380,b=http://10.0.0.1:2380", []string{"http://10.0.0.1:2380"}, "has duplicate url"},
		{"bad URL", "a", "a=ftp://10.0.0.1:2380", []string{"http://10.0.0.1:2380"},
			"error setting up initial cluster: URL scheme must be http, https, unix, or unixs: ftp://10.0.0.1:2380"},
		{"empty", "a", "", []string{"http://10.0.0.1:2380"}, `couldn't find local name "a" in the initial cluster configuration`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := NewConfig()
			cfg.Name = tt.member
			cfg.InitialCluster = tt.cluster
			cfg.AdvertisePeerUrls = urls(t, tt.advertisePeers...)
			err := cfg.VerifyBootstrap()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("VerifyBootstrap() = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("VerifyBootstrap() = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestParseCompactionRetention(t *testing.T) {
	tests := []struct {
		mode, retention string
		want            time.Duration
		wantErr         bool
	}{
		{"periodic", "0", 0, false},
		{"periodic", "", 0, false},
		{"periodic", "5", 5 * time.Hour, false},
		{"periodic", "30m", 30 * time.Minute, false},
		{"periodic", "-1h", 0, true},
		{"periodic", "x", 0, true},
		{"revision", "1000", 1000, false},
		{"revision", "10m", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseCompactionRetention(tt.mode, tt.retention)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseCompactionRetention(%q, %q) = %v, %v; want %v (error %v)", tt.mode, tt.retention, got, err, tt.want, tt.wantErr)
		}
	}
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "etcd.conf.yml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigFromFile(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		check   func(*testing.T, *Config, FileResult)
		wantErr string
	}{
		{
			name: "etcd sample keys",
			body: `
name: infra1
data-dir: /var/lib/etcd/infra1
wal-dir: /wal
snapshot-count: 5000
heartbeat-interval: 50
election-timeout: 500
quota-backend-bytes: 4294967296
listen-peer-urls: http://10.0.0.1:2380
listen-client-urls: http://10.0.0.1:2379,http://127.0.0.1:2379
initial-advertise-peer-urls: http://10.0.0.1:2380
advertise-client-urls: http://10.0.0.1:2379
listen-metrics-urls: http://127.0.0.1:2381
initial-cluster: infra1=http://10.0.0.1:2380,infra2=http://10.0.0.2:2380
initial-cluster-token: tok
initial-cluster-state: existing
strict-reconfig-check: true
pre-vote: false
auto-compaction-mode: revision
auto-compaction-retention: "1000"
grpc-keepalive-min-time: 1000000000
max-request-bytes: 2097152
log-level: debug
log-outputs: [stdout]
cipher-suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]
cors: "http://a.example:8080,*"
client-transport-security:
  cert-file: /c/server.pem
  key-file: /c/server-key.pem
  client-cert-auth: true
  trusted-ca-file: /c/ca.pem
  auto-tls: false
peer-transport-security:
  cert-file: /p/peer.pem
  key-file: /p/peer-key.pem
  client-cert-auth: true
  trusted-ca-file: /p/ca.pem
  allowed-cn: [infra2]
  auto-tls: true
self-signed-cert-validity: 3
`,
			check: func(t *testing.T, c *Config, res FileResult) {
				if c.Name != "infra1" || c.Dir != "/var/lib/etcd/infra1" || c.WalDir != "/wal" || c.SnapshotCount != 5000 ||
					c.TickMs != 50 || c.ElectionMs != 500 || c.QuotaBackendBytes != 4294967296 {
					t.Errorf("scalars: %+v", c)
				}
				if got := netutil.URLStrings(c.ListenClientUrls); strings.Join(got, ",") != "http://10.0.0.1:2379,http://127.0.0.1:2379" {
					t.Errorf("listen-client-urls = %v", got)
				}
				if len(c.ListenMetricsUrls) != 1 || c.ListenMetricsUrls[0].Host != "127.0.0.1:2381" {
					t.Errorf("listen-metrics-urls = %v", c.ListenMetricsUrls)
				}
				if c.InitialCluster != "infra1=http://10.0.0.1:2380,infra2=http://10.0.0.2:2380" || c.InitialClusterToken != "tok" || c.ClusterState != "existing" {
					t.Errorf("cluster: %q %q %q", c.InitialCluster, c.InitialClusterToken, c.ClusterState)
				}
				if !c.StrictReconfigCheck || c.PreVote || c.AutoCompactionMode != "revision" || c.AutoCompactionRetention != "1000" {
					t.Errorf("flags: strict %v prevote %v compaction %q %q", c.StrictReconfigCheck, c.PreVote, c.AutoCompactionMode, c.AutoCompactionRetention)
				}
				if c.GRPCKeepAliveMinTime != time.Second || c.GRPCKeepAliveInterval != DefaultGRPCKeepAliveInterval || c.MaxRequestBytes != 2097152 {
					t.Errorf("grpc: %v %v %v", c.GRPCKeepAliveMinTime, c.GRPCKeepAliveInterval, c.MaxRequestBytes)
				}
				if c.LogLevel != "debug" || len(c.LogOutputs) != 1 || c.LogOutputs[0] != "stdout" {
					t.Errorf("logging: %q %v", c.LogLevel, c.LogOutputs)
				}
				if strings.Join(c.CORS, ",") != "*,http://a.example:8080" {
					t.Errorf("cors = %v", c.CORS)
				}
				ct := c.ClientTLSInfo
				if ct.CertFile != "/c/server.pem" || ct.KeyFile != "/c/server-key.pem" || !ct.ClientCertAuth || ct.TrustedCAFile != "/c/ca.pem" || c.ClientAutoTLS {
					t.Errorf("client TLS: %+v auto %v", ct, c.ClientAutoTLS)
				}
				pt := c.PeerTLSInfo
				if pt.CertFile != "/p/peer.pem" || !pt.ClientCertAuth || len(pt.AllowedCNs) != 1 || pt.AllowedCNs[0] != "infra2" || !c.PeerAutoTLS {
					t.Errorf("peer TLS: %+v auto %v", pt, c.PeerAutoTLS)
				}
				if c.SelfSignedCertValidity != 3 || len(c.CipherSuites) != 1 {
					t.Errorf("validity %d ciphers %v", c.SelfSignedCertValidity, c.CipherSuites)
				}
				for _, k := range []string{"name", "peer-client-cert-auth", "peer-allowed-cn"} {
					if !c.ExplicitlySet[k] {
						t.Errorf("ExplicitlySet[%q] = false", k)
					}
				}
				if len(res.UnknownKeys) != 0 {
					t.Errorf("unknown keys %v", res.UnknownKeys)
				}
			},
		},
		{
			name: "defaults and a lone named member",
			body: "name: solo\n",
			check: func(t *testing.T, c *Config, _ FileResult) {
				if c.InitialCluster != "solo=http://localhost:2380" {
					t.Errorf("initial-cluster = %q", c.InitialCluster)
				}
				if c.ClusterState != "new" || c.InitialClusterToken != "etcd-cluster" || c.SnapshotCount != 10000 || c.TickMs != 100 ||
					c.ElectionMs != 1000 || c.MaxRequestBytes != 1572864 || c.MaxTxnOps != 128 || !c.PreVote || !c.StrictReconfigCheck ||
					c.SelfSignedCertValidity != 1 || c.TlsMinVersion != "TLS1.2" || c.Dir != "" {
					t.Errorf("defaults: %+v", c)
				}
			},
		},
		{
			name: "keys of older etcd releases are ignored, and reported",
			body: "name: a\nenable-v2: true\nenable-v2v3: /v2\nauth-token: simple\nenable-grpc-gateway: true\n",
			check: func(t *testing.T, c *Config, res FileResult) {
				if !c.EnableV2 {
					t.Error("enable-v2 is not read")
				}
				if strings.Join(res.UnknownKeys, ",") != "enable-v2v3" {
					t.Errorf("UnknownKeys = %v", res.UnknownKeys)
				}
			},
		},
		{
			name: "etcd 3.4's proxy and v2 discovery keys",
			body: "name: a\nproxy: readonly\nproxy-failure-wait: 1\nproxy-refresh-interval: 2\nproxy-dial-timeout: 3\n" +
				"proxy-write-timeout: 4\nproxy-read-timeout: 5\ndiscovery: http://d/t\ndiscovery-proxy: p:1\ndiscovery-fallback: proxy\n",
			check: func(t *testing.T, c *Config, res FileResult) {
				want := V2Proxy{Proxy: "readonly", ProxyFailureWaitMs: 1, ProxyRefreshIntervalMs: 2, ProxyDialTimeoutMs: 3,
					ProxyWriteTimeoutMs: 4, ProxyReadTimeoutMs: 5, Durl: "http://d/t", Dproxy: "p:1", Fallback: "proxy"}
				if c.V2Proxy != want || len(res.UnknownKeys) != 0 || c.InitialCluster != "" {
					t.Errorf("proxy settings %+v (unknown keys %v, initial cluster %q), want %+v", c.V2Proxy, res.UnknownKeys, c.InitialCluster, want)
				}
			},
		},
		{name: "auth", body: "auth-token: jwt,sign-method=ES256\nbcrypt-cost: 5\nauth-token-ttl: 60\n",
			check: func(t *testing.T, c *Config, _ FileResult) {
				if c.AuthToken != "jwt,sign-method=ES256" || c.BcryptCost != 5 || c.AuthTokenTTL != 60 {
					t.Errorf("auth token %q bcrypt cost %d ttl %d", c.AuthToken, c.BcryptCost, c.AuthTokenTTL)
				}
			}},
		{name: "v3 discovery", body: "discovery-config:\n  client:\n    endpoints: [http://d:2379]\n    dial-timeout: 3000000000\n    secure:\n      cacert: ca.pem\n  token: t\n",
			check: func(t *testing.T, c *Config, _ FileResult) {
				d := c.DiscoveryCfg
				if d.Token != "t" || strings.Join(d.Endpoints, ",") != "http://d:2379" || d.DialTimeout != 3*time.Second || d.RequestTimeout != 5*time.Second ||
					d.Secure.Cacert != "ca.pem" || !d.Secure.InsecureTransport || c.InitialCluster != "" || c.Validate() != nil {
					t.Errorf("discovery config %+v, secure %+v, initial cluster %q, validate %v", d.ConfigSpec, d.Secure, c.InitialCluster, c.Validate())
				}
			}},
		{name: "v3 discovery sections null", body: "discovery-config:\n  client:\n    secure: null\n    auth: null\n",
			check: func(t *testing.T, c *Config, _ FileResult) {
				if c.DiscoveryCfg.Secure == nil || c.DiscoveryCfg.Auth == nil {
					t.Errorf("secure %v auth %v", c.DiscoveryCfg.Secure, c.DiscoveryCfg.Auth)
				}
			}},
		{name: "DNS discovery", body: "discovery-srv: example.com\ndiscovery-srv-name: east\n",
			check: func(t *testing.T, c *Config, _ FileResult) {
				if c.DNSCluster != "example.com" || c.DNSClusterServiceName != "east" || c.InitialCluster != "" {
					t.Errorf("srv %q name %q initial cluster %q", c.DNSCluster, c.DNSClusterServiceName, c.InitialCluster)
				}
			}},
		{name: "tracing", body: "enable-distributed-tracing: true\ndistributed-tracing-address: 127.0.0.1:1\ndistributed-tracing-sampling-rate: 100\n",
			check: func(t *testing.T, c *Config, _ FileResult) {
				if !c.EnableDistributedTracing || c.DistributedTracingAddress != "127.0.0.1:1" || c.DistributedTracingSamplingRatePerMillion != 100 ||
					c.DistributedTracingServiceName != "etcd" {
					t.Errorf("tracing %+v", c)
				}
			}},
		{name: "compaction batches", body: "compaction-batch-limit: 10\ncompaction-sleep-interval: 1000000\n",
			check: func(t *testing.T, c *Config, _ FileResult) {
				if c.CompactionBatchLimit != 10 || c.CompactionSleepInterval != time.Millisecond {
					t.Errorf("batch limit %d sleep %v", c.CompactionBatchLimit, c.CompactionSleepInterval)
				}
			}},
		{name: "slow-apply warning and downgrade checks", body: "warning-apply-duration: 2000000000\ndowngrade-check-time: 60000000000\n",
			check: func(t *testing.T, c *Config, _ FileResult) {
				if c.WarningApplyDuration != 2*time.Second || c.DowngradeCheckTime != time.Minute {
					t.Errorf("warning-apply-duration %v downgrade-check-time %v", c.WarningApplyDuration, c.DowngradeCheckTime)
				}
			}},
		{name: "corruption checks", body: "compact-hash-check-time: 1000000000\ncorrupt-check-time: 2000000000\nfeature-gates: CompactHashCheck=true,InitialCorruptCheck=true\n",
			check: func(t *testing.T, c *Config, _ FileResult) {
				if c.CompactHashCheckTime != time.Second || c.CorruptCheckTime != 2*time.Second ||
					!c.FeatureEnabled(GateCompactHashCheck) || !c.FeatureEnabled(GateInitialCorruptCheck) {
					t.Errorf("got %v %v %q", c.CompactHashCheckTime, c.CorruptCheckTime, c.FeatureGates)
				}
			}},
		{name: "unknown feature gate", body: "feature-gates: NoSuchGate=true\n", wantErr: "unrecognized feature gate: NoSuchGate"},
		{name: "bad URL", body: "listen-client-urls: foo://x\n", wantErr: "unexpected error setting up listen-client-urls: URL scheme must be http, https, unix, or unixs: foo://x"},
		{name: "bad YAML", body: "name: [\n", wantErr: "parse config file"},
		{name: "peer security not a map", body: "peer-transport-security: yes\n", wantErr: "peer-transport-security"},
		{name: "etcd keys without a field", body: "v2-deprecation: gone\ngrpc-additional-server-options: []\n",
			check: func(t *testing.T, _ *Config, res FileResult) {
				if len(res.UnknownKeys) != 0 {
					t.Errorf("unknown keys %v", res.UnknownKeys)
				}
			}},
		{name: "gRPC server options in a file", body: "grpc-additional-server-options: [x]\n", wantErr: "a file cannot set them"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, res, err := ConfigFromFile(writeFile(t, tt.body))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ConfigFromFile() error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, cfg, res)
		})
	}
	if _, _, err := ConfigFromFile(filepath.Join(t.TempDir(), "missing.yml")); err == nil {
		t.Error("missing file: no error")
	}
}

func TestServerConfig(t *testing.T) {
	cfg := NewConfig()
	cfg.Name = "m1"
	cfg.Dir = "/d"
	cfg.InitialCluster = "m1=http://127.0.0.1:2380,m2=http://127.0.0.1:3380"
	cfg.TickMs, cfg.ElectionMs = 50, 600
	cfg.AutoCompactionRetention = ""
	sc, err := cfg.ServerConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	if sc.Name != "m1" || sc.DataDir != "/d" || sc.ElectionTicks != 12 || sc.TickMs != 50 || len(sc.InitialCluster) != 2 ||
		sc.AutoCompactionRetention != "0" || !sc.NewCluster || sc.PeerTLS != nil || sc.SnapshotCatchUpEntries != 5000 {
		t.Errorf("ServerConfig = %+v", sc)
	}
}

func TestLogRotationConfig(t *testing.T) {
	tests := []struct {
		name    string
		outputs []string
		json    string
		wantErr string
	}{
		{"one file", []string{"/tmp/x.log"}, `{"maxsize": 1, "maxbackups": 2, "compress": true}`, ""},
		{"a file and stderr", []string{"stderr", "/tmp/x.log"}, "", ""},
		{"no file", []string{"stderr"}, "", ErrLogRotationInvalidLogOutput.Error()},
		{"two files", []string{"/tmp/a.log", "/tmp/b.log"}, "", ErrLogRotationInvalidLogOutput.Error()},
		{"bad JSON", []string{"/tmp/x.log"}, `{"maxsize": `, "improperly formatted log rotation config"},
		{"wrong type", []string{"/tmp/x.log"}, `{"maxsize": "big"}`, "invalid log rotation config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := NewConfig()
			cfg.LogOutputs = tt.outputs
			cfg.EnableLogRotation = true
			if tt.json != "" {
				cfg.LogRotationConfigJSON = tt.json
			}
			_, err := cfg.loggerConfig()
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			}
		})
	}
}
