package main

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/basaltkv/basalt/pkg/flags"
	"github.com/basaltkv/basalt/server/embed"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

type parseOutcome struct {
	cfg    *embed.Config
	err    error
	stdout string
	stderr string
	logs   *observer.ObservedLogs
}

func parseForTest(args, env []string) parseOutcome {
	core, logs := observer.New(zap.DebugLevel)
	var stdout, stderr bytes.Buffer
	cfg, err := parseConfig(args, env, &stdout, &stderr, zap.New(core))
	if err == nil {
		err = cfg.Validate()
	}
	return parseOutcome{cfg: cfg, err: err, stdout: stdout.String(), stderr: stderr.String(), logs: logs}
}

func (o parseOutcome) logged(msg string) bool { return o.logs.FilterMessage(msg).Len() > 0 }

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		env      []string
		wantExit int // -1: no early exit
		wantErr  string
		check    func(*testing.T, parseOutcome)
	}{
		{
			name: "defaults", wantExit: -1,
			check: func(t *testing.T, o parseOutcome) {
				c := o.cfg
				if c.Name != "default" || c.Dir != "" || c.InitialCluster != "default=http://localhost:2380" || c.ClusterState != "new" ||
					c.InitialClusterToken != "etcd-cluster" || c.SnapshotCount != 10000 || c.TickMs != 100 || c.ElectionMs != 1000 ||
					c.MaxSnapFiles != 5 || c.MaxWalFiles != 5 || c.QuotaBackendBytes != 0 || c.BackendBatchInterval != 0 || c.BackendBatchLimit != 0 ||
					c.MaxRequestBytes != 1572864 || c.MaxTxnOps != 128 || c.GRPCKeepAliveMinTime != 5*time.Second ||
					c.GRPCKeepAliveInterval != 2*time.Hour || c.GRPCKeepAliveTimeout != 20*time.Second || len(c.ListenMetricsUrls) != 0 ||
					!c.StrictReconfigCheck || !c.PreVote || c.Logger != "zap" || c.LogLevel != "info" || strings.Join(c.LogOutputs, ",") != "default" ||
					c.AutoCompactionMode != "periodic" || c.AutoCompactionRetention != "0" || c.WalDir != "" || c.SelfSignedCertValidity != 1 ||
					c.TlsMinVersion != "TLS1.2" || c.TlsMaxVersion != "" {
					t.Errorf("defaults: %+v", c)
				}
				for what, got := range map[string]string{
					"listen-client-urls": flags.URLsString(c.ListenClientUrls), "advertise-client-urls": flags.URLsString(c.AdvertiseClientUrls),
					"listen-peer-urls": flags.URLsString(c.ListenPeerUrls), "initial-advertise-peer-urls": flags.URLsString(c.AdvertisePeerUrls),
				} {
					want := "http://localhost:2379"
					if strings.Contains(what, "peer") {
						want = "http://localhost:2380"
					}
					if got != want {
						t.Errorf("%s = %q, want %q", what, got, want)
					}
				}
			},
		},
		{
			name: "flags", wantExit: -1,
			args: []string{"--name=m1", "--data-dir=/d", "--listen-client-urls=http://127.0.0.1:1,http://127.0.0.1:1", "--advertise-client-urls=http://127.0.0.1:1",
				"--heartbeat-interval=50", "--election-timeout=500", "--pre-vote=false", "--quota-backend-bytes=-1", "--max-txn-ops=64",
				"--log-outputs=stdout,stderr,stdout", "--cipher-suites=TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
				"--peer-cert-allowed-cn=a,b", "--grpc-keepalive-interval=1m", "--max-concurrent-streams=10", "--metrics=extensive"},
			check: func(t *testing.T, o parseOutcome) {
				c := o.cfg
				if c.Name != "m1" || c.Dir != "/d" || c.TickMs != 50 || c.ElectionMs != 500 || c.PreVote || c.QuotaBackendBytes != -1 || c.MaxTxnOps != 64 ||
					c.GRPCKeepAliveInterval != time.Minute || c.MaxConcurrentStreams != 10 || c.Metrics != "extensive" {
					t.Errorf("cfg: %+v", c)
				}
				if got := flags.URLsString(c.ListenClientUrls); got != "http://127.0.0.1:1" {
					t.Errorf("listen-client-urls = %q (duplicates must go)", got)
				}
				if strings.Join(c.LogOutputs, ",") != "stderr,stdout" || len(c.CipherSuites) != 2 || strings.Join(c.PeerTLSInfo.AllowedCNs, ",") != "a,b" {
					t.Errorf("lists: %v %v %v", c.LogOutputs, c.CipherSuites, c.PeerTLSInfo.AllowedCNs)
				}
				if c.InitialCluster != "m1=http://localhost:2380" {
					t.Errorf("initial-cluster = %q, want the name with the advertised peer URL", c.InitialCluster)
				}
			},
		},
		{
			name: "initial cluster follows name and advertised peer URLs", wantExit: -1,
			args: []string{"--initial-advertise-peer-urls=http://127.0.0.1:7001", "--listen-peer-urls=http://127.0.0.1:7001"},
			check: func(t *testing.T, o parseOutcome) {
				if o.cfg.InitialCluster != "default=http://127.0.0.1:7001" {
					t.Errorf("initial-cluster = %q", o.cfg.InitialCluster)
				}
			},
		},
		{
			name: "environment variables", wantExit: -1,
			args: []string{"--name=fromflag"},
			env: []string{"ETCD_DATA_DIR=/env", "ETCD_SNAPSHOT_COUNT=7", "ETCD_LISTEN_CLIENT_URLS=http://127.0.0.1:9", "ETCD_ADVERTISE_CLIENT_URLS=http://127.0.0.1:9",
				"ETCD_CLIENT_CERT_AUTH=true", "ETCD_UNKNOWN_THING=1", "ETCD_VERSION=3.5", "HOME=/root",
				"ETCD_VERIFY=all", "ETCD_UNSUPPORTED_ARCH=riscv64"},
			check: func(t *testing.T, o parseOutcome) {
				c := o.cfg
				if c.Name != "fromflag" || c.Dir != "/env" || c.SnapshotCount != 7 || flags.URLsString(c.ListenClientUrls) != "http://127.0.0.1:9" || !c.ClientTLSInfo.ClientCertAuth {
					t.Errorf("cfg: %+v", c)
				}
				if !o.logged("recognized and used environment variable") || !o.logged("unrecognized environment variable") || !o.logged("cannot set special environment variable") {
					t.Errorf("logs: %v", o.logs.All())
				}
				if e := o.logs.FilterMessage("unrecognized environment variable").All(); len(e) != 1 || e[0].ContextMap()["environment-variable"] != "ETCD_UNKNOWN_THING=1" {
					t.Errorf("unrecognized: %v", e)
				}
			},
		},
		{name: "flag and env var together", args: []string{"--name=a"}, env: []string{"ETCD_NAME=b"}, wantExit: -1,
			wantErr: "conflicting environment variable is shadowed by corresponding command-line flag"},
		{name: "bad env value", env: []string{"ETCD_HEARTBEAT_INTERVAL=fast"}, wantExit: -1, wantErr: `invalid value "fast" for ETCD_HEARTBEAT_INTERVAL`},
		{name: "bad URL in env", env: []string{"ETCD_LISTEN_PEER_URLS=foo://x"}, wantExit: -1,
			wantErr: "URL scheme must be http, https, unix, or unixs: foo://x"},
		{name: "listen client URLs without advertise", args: []string{"--listen-client-urls=http://127.0.0.1:1"}, wantExit: -1,
			wantErr: "--advertise-client-urls is required when --listen-client-urls is set explicitly"},
		{name: "election timeout under 5 heartbeats", args: []string{"--heartbeat-interval=300"}, wantExit: -1,
			wantErr: "--election-timeout[1000ms] should be at least as 5 times as --heartbeat-interval[300ms]"},
		{name: "https without certs", args: []string{"--listen-client-urls=https://127.0.0.1:1", "--advertise-client-urls=https://127.0.0.1:1"}, wantExit: -1,
			wantErr: "TLS key/cert (--cert-file, --key-file) must be provided for client url https://127.0.0.1:1 with HTTPS scheme"},
		{name: "positional argument", args: []string{"extra"}, wantExit: -1, wantErr: `"extra" is not a valid flag`},
		{name: "v2 discovery with fallback to proxy", wantExit: -1,
			args: []string{"--discovery=http://d:2379/v2/keys/_etcd/registry/t", "--discovery-proxy=p:8080", "--discovery-fallback=proxy",
				"--listen-client-urls=http://127.0.0.1:1"},
			check: func(t *testing.T, o parseOutcome) {
				c := o.cfg
				// A process that may become a proxy needs no advertised client URLs.
				if c.Durl != "http://d:2379/v2/keys/_etcd/registry/t" || c.Dproxy != "p:8080" || !c.ShouldFallbackToProxy() ||
					c.InitialCluster != "" || !c.MayBeProxy() || c.AdvertiseClientUrls == nil {
					t.Errorf("v2 discovery: %+v", c.V2Proxy)
				}
			}},
		{name: "proxy flags", wantExit: -1,
			args: []string{"--proxy=readonly", "--proxy-failure-wait=1", "--proxy-refresh-interval=2", "--proxy-dial-timeout=3",
				"--proxy-write-timeout=4", "--proxy-read-timeout=5", "--listen-client-urls=http://127.0.0.1:1"},
			check: func(t *testing.T, o parseOutcome) {
				want := embed.V2Proxy{Proxy: "readonly", ProxyFailureWaitMs: 1, ProxyRefreshIntervalMs: 2, ProxyDialTimeoutMs: 3,
					ProxyWriteTimeoutMs: 4, ProxyReadTimeoutMs: 5, Fallback: "exit"}
				if o.cfg.V2Proxy != want || !o.cfg.IsReadonlyProxy() {
					t.Errorf("proxy settings %+v, want %+v", o.cfg.V2Proxy, want)
				}
			}},
		{name: "proxy defaults", wantExit: -1,
			check: func(t *testing.T, o parseOutcome) {
				if o.cfg.V2Proxy != embed.DefaultV2Proxy() || o.cfg.IsProxy() || o.cfg.MayBeProxy() {
					t.Errorf("proxy settings %+v, want etcd 3.4's defaults", o.cfg.V2Proxy)
				}
			}},
		{name: "bad proxy mode", args: []string{"--proxy=maybe"}, wantExit: 2},
		{name: "v2 discovery and initial cluster", args: []string{"--discovery=http://d/t", "--initial-cluster=default=http://localhost:2380"}, wantExit: -1,
			wantErr: `multiple discovery or bootstrap flags are set. Choose one of "initial-cluster", "discovery", "discovery-endpoints" or "discovery-srv"`},
		{name: "v2 and v3 discovery settings", args: []string{"--discovery-proxy=p:1", "--discovery-token=t", "--discovery-endpoints=http://d:2379"}, wantExit: -1,
			wantErr: "both v2 discovery settings (discovery, discovery-proxy) and v3 discovery settings (discovery-token, discovery-endpoints, discovery-cert, discovery-key, discovery-cacert, discovery-user, discovery-password) are set"},
		{name: "auth", args: []string{"--auth-token=jwt,sign-method=RS256", "--bcrypt-cost=4", "--auth-token-ttl=30"}, wantExit: -1,
			check: func(t *testing.T, o parseOutcome) {
				if o.cfg.AuthToken != "jwt,sign-method=RS256" || o.cfg.BcryptCost != 4 || o.cfg.AuthTokenTTL != 30 {
					t.Errorf("auth token %q bcrypt cost %d ttl %d", o.cfg.AuthToken, o.cfg.BcryptCost, o.cfg.AuthTokenTTL)
				}
			}},
		{name: "auth token simple", args: []string{"--auth-token=simple"}, wantExit: -1},
		{name: "discovery endpoints without a token", args: []string{"--discovery-endpoints=http://d:2379"}, wantExit: -1, wantErr: "both --discovery-token and --discovery-endpoints must be set"},
		{name: "discovery token without endpoints", args: []string{"--discovery-token=t"}, wantExit: -1, wantErr: "both --discovery-token and --discovery-endpoints must be set"},
		{name: "discovery endpoints empty", args: []string{"--discovery-token=t", "--discovery-endpoints="}, wantExit: -1, wantErr: "--discovery-endpoints must not contain empty endpoints"},
		{name: "an empty discovery endpoint", args: []string{"--discovery-token=t", "--discovery-endpoints=http://d:2379,,http://e:2379"}, wantExit: -1,
			wantErr: "--discovery-endpoints must not contain empty endpoints"},
		{name: "discovery and initial cluster", args: []string{"--discovery-token=t", "--discovery-endpoints=http://d:2379", "--initial-cluster=default=http://localhost:2380"}, wantExit: -1,
			wantErr: `multiple discovery or bootstrap flags are set. Choose one of "initial-cluster", "discovery-endpoints" or "discovery-srv"`},
		{name: "DNS discovery and initial cluster", args: []string{"--discovery-srv=example.com", "--initial-cluster=default=http://localhost:2380"}, wantExit: -1,
			wantErr: `multiple discovery or bootstrap flags are set`},
		{name: "v3 discovery", wantExit: -1,
			args: []string{"--discovery-token=tok", "--discovery-endpoints=http://e:2379,http://d:2379", "--discovery-dial-timeout=3s", "--discovery-request-timeout=4s",
				"--discovery-keepalive-time=5s", "--discovery-keepalive-timeout=7s", "--discovery-insecure-transport=false", "--discovery-insecure-skip-tls-verify",
				"--discovery-cert=c.pem", "--discovery-key=k.pem", "--discovery-cacert=ca.pem", "--discovery-user=u", "--discovery-fallback=exit"},
			env: []string{"ETCD_DISCOVERY_PASSWORD=p"},
			check: func(t *testing.T, o parseOutcome) {
				d := o.cfg.DiscoveryCfg
				if d.Token != "tok" || strings.Join(d.Endpoints, ",") != "http://d:2379,http://e:2379" || d.DialTimeout != 3*time.Second ||
					d.RequestTimeout != 4*time.Second || d.KeepAliveTime != 5*time.Second || d.KeepAliveTimeout != 7*time.Second ||
					d.Secure.InsecureTransport || !d.Secure.InsecureSkipVerify || d.Secure.Cert != "c.pem" || d.Secure.Key != "k.pem" ||
					d.Secure.Cacert != "ca.pem" || d.Auth.Username != "u" || d.Auth.Password != "p" {
					t.Errorf("discovery config %+v, secure %+v, auth %+v", d.ConfigSpec, d.Secure, d.Auth)
				}
				if o.cfg.InitialCluster != "" || !o.cfg.ShouldDiscover() {
					t.Errorf("initial cluster %q, should discover %v: want it left to discovery", o.cfg.InitialCluster, o.cfg.ShouldDiscover())
				}
			}},
		{name: "v3 discovery defaults", wantExit: -1,
			check: func(t *testing.T, o parseOutcome) {
				d := o.cfg.DiscoveryCfg
				if d.DialTimeout != 2*time.Second || d.RequestTimeout != 5*time.Second || d.KeepAliveTime != 2*time.Second ||
					d.KeepAliveTimeout != 6*time.Second || !d.Secure.InsecureTransport || d.Secure.InsecureSkipVerify || o.cfg.ShouldDiscover() {
					t.Errorf("discovery defaults %+v, secure %+v", d.ConfigSpec, d.Secure)
				}
			}},
		{name: "DNS discovery", args: []string{"--discovery-srv=example.com", "--discovery-srv-name=east"}, wantExit: -1,
			check: func(t *testing.T, o parseOutcome) {
				if o.cfg.DNSCluster != "example.com" || o.cfg.DNSClusterServiceName != "east" || o.cfg.InitialCluster != "" {
					t.Errorf("srv %q name %q initial cluster %q", o.cfg.DNSCluster, o.cfg.DNSClusterServiceName, o.cfg.InitialCluster)
				}
			}},
		{name: "raft timeouts, slow-apply warning, downgrade checks", wantExit: -1,
			args: []string{"--raft-read-timeout=2s", "--raft-write-timeout=3s", "--warning-apply-duration=50ms", "--downgrade-check-time=1m"},
			check: func(t *testing.T, o parseOutcome) {
				c := o.cfg
				if c.RaftReadTimeout != 2*time.Second || c.RaftWriteTimeout != 3*time.Second || c.WarningApplyDuration != 50*time.Millisecond || c.DowngradeCheckTime != time.Minute {
					t.Errorf("read %v write %v warn %v downgrade %v", c.RaftReadTimeout, c.RaftWriteTimeout, c.WarningApplyDuration, c.DowngradeCheckTime)
				}
			}},
		{name: "tracing via env", env: []string{"ETCD_ENABLE_DISTRIBUTED_TRACING=true", "ETCD_DISTRIBUTED_TRACING_SAMPLING_RATE=10"}, wantExit: -1,
			check: func(t *testing.T, o parseOutcome) {
				if !o.cfg.EnableDistributedTracing || o.cfg.DistributedTracingSamplingRatePerMillion != 10 || o.cfg.DistributedTracingAddress != "localhost:4317" {
					t.Errorf("tracing %v rate %d address %q", o.cfg.EnableDistributedTracing, o.cfg.DistributedTracingSamplingRatePerMillion, o.cfg.DistributedTracingAddress)
				}
			}},
		{name: "tracing sampling rate too high", args: []string{"--enable-distributed-tracing", "--distributed-tracing-sampling-rate=2000000"}, wantExit: -1,
			wantErr: "tracing sampling rate must be less than 1000000"},
		{name: "force new cluster via env", env: []string{"ETCD_FORCE_NEW_CLUSTER=true"}, wantExit: -1,
			check: func(t *testing.T, o parseOutcome) {
				if !o.cfg.ForceNewCluster {
					t.Error("ETCD_FORCE_NEW_CLUSTER=true: ForceNewCluster is false")
				}
			}},
		{name: "feature gates", args: []string{"--feature-gates=StopGRPCServiceOnDefrag=true,CompactHashCheck=true", "--feature-gates=InitialCorruptCheck=true,CompactHashCheck=false"}, wantExit: -1,
			check: func(t *testing.T, o parseOutcome) {
				if !o.cfg.FeatureEnabled("StopGRPCServiceOnDefrag") || !o.cfg.FeatureEnabled("InitialCorruptCheck") || o.cfg.FeatureEnabled("CompactHashCheck") {
					t.Errorf("feature gates %q", o.cfg.FeatureGates)
				}
			}},
		{name: "unknown feature gate", args: []string{"--feature-gates=NoSuchGate=true"}, wantExit: 2,
			wantErr: `invalid value "NoSuchGate=true" for flag -feature-gates: unrecognized feature gate: NoSuchGate`},
		{name: "every alpha gate", args: []string{"--feature-gates=AllAlpha=true"}, wantExit: -1,
			check: func(t *testing.T, o parseOutcome) {
				if !o.cfg.FeatureEnabled("SetMemberLocalAddr") || !o.cfg.FeatureEnabled("CompactHashCheck") {
					t.Errorf("feature gates %q", o.cfg.FeatureGates)
				}
			}},
		{name: "listen client http urls", args: []string{"--listen-client-http-urls=http://127.0.0.1:5"}, wantExit: -1,
			check: func(t *testing.T, o parseOutcome) {
				if len(o.cfg.ListenClientHttpUrls) != 1 || o.cfg.ListenClientHttpUrls[0].Host != "127.0.0.1:5" {
					t.Errorf("listen client http urls %v", o.cfg.ListenClientHttpUrls)
				}
			}},
		{
			name: "deprecated and legacy flags warn", args: []string{"--max-snapshots=3", "--v2-deprecation=write-only", "--v"}, wantExit: -1,
			check: func(t *testing.T, o parseOutcome) {
				if !o.logged("--max-snapshots is deprecated in 3.6 and will be decommissioned in 3.8.") || !o.logged("flag is no longer supported - ignoring") {
					t.Errorf("logs: %v", o.logs.All())
				}
				if o.cfg.MaxSnapFiles != 3 {
					t.Errorf("max-snapshots = %d", o.cfg.MaxSnapFiles)
				}
			},
		},
		{name: "unknown flag", args: []string{"--enable-v1"}, wantExit: 2,
			check: func(t *testing.T, o parseOutcome) {
				if !strings.Contains(o.stderr, "flag provided but not defined: -enable-v1") || !strings.Contains(o.stderr, "Usage:") {
					t.Errorf("stderr = %q", o.stderr)
				}
			}},
		{name: "bad URL flag", args: []string{"--listen-client-urls=foo://x"}, wantExit: 2,
			check: func(t *testing.T, o parseOutcome) {
				if !strings.Contains(o.stderr, "URL scheme must be http, https, unix, or unixs: foo://x") {
					t.Errorf("stderr = %q", o.stderr)
				}
			}},
		{name: "bad cluster state", args: []string{"--initial-cluster-state=old"}, wantExit: 2},
		{name: "version", args: []string{"--version"}, wantExit: 0,
			check: func(t *testing.T, o parseOutcome) {
				want := "etcd Version: 3.7.0\nGit SHA: "
				if !strings.HasPrefix(o.stdout, want) || !strings.Contains(o.stdout, "\nGo Version: "+runtime.Version()+"\nGo OS/Arch: "+runtime.GOOS+"/"+runtime.GOARCH+"\nbasalt Version: ") {
					t.Errorf("stdout = %q", o.stdout)
				}
			}},
		{name: "help", args: []string{"--help"}, wantExit: 0,
			check: func(t *testing.T, o parseOutcome) {
				if !strings.Contains(o.stderr, "Usage:") || !strings.Contains(o.stdout, "--initial-cluster 'default=http://localhost:2380'") {
					t.Errorf("help: stdout %q stderr %q", o.stdout, o.stderr)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := parseForTest(tt.args, tt.env)
			var exit parseExit
			switch {
			case tt.wantExit >= 0:
				if !errors.As(o.err, &exit) || exit.code != tt.wantExit {
					t.Fatalf("err = %v, want exit %d", o.err, tt.wantExit)
				}
			case tt.wantErr != "":
				if o.err == nil || !strings.Contains(o.err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", o.err, tt.wantErr)
				}
				return
			case o.err != nil:
				t.Fatalf("err = %v", o.err)
			}
			if tt.check != nil {
				tt.check(t, o)
			}
		})
	}
}

func TestConfigFileIgnoresFlagsAndEnv(t *testing.T) {
	path := filepath.Join(t.TempDir(), "etcd.yml")
	if err := os.WriteFile(path, []byte("name: fromfile\nsnapshot-count: 42\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		env  []string
	}{
		{"flag", []string{"--config-file=" + path, "--snapshot-count=7", "--name=fromflag"}, []string{"ETCD_DATA_DIR=/env"}},
		{"env", []string{"--snapshot-count=7"}, []string{"ETCD_CONFIG_FILE=" + path, "ETCD_NAME=fromenv"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := parseForTest(tc.args, tc.env)
			if o.err != nil {
				t.Fatal(o.err)
			}
			if o.cfg.Name != "fromfile" || o.cfg.SnapshotCount != 42 || o.cfg.Dir != "" {
				t.Errorf("cfg = %+v", o.cfg)
			}
			if !o.logged("loaded server configuration, other configuration command line flags and environment variables will be ignored if provided") {
				t.Errorf("logs: %v", o.logs.All())
			}
		})
	}
}

func TestHelpListsEveryFlag(t *testing.T) {
	c := newCmdline(embed.NewConfig(), &bytes.Buffer{})
	help := helpText(c)
	legacy := map[string]bool{}
	for _, n := range legacyIgnored {
		legacy[n] = true
	}
	c.fs.VisitAll(func(f *flag.Flag) {
		if !legacy[f.Name] && !strings.Contains(help, "  --"+f.Name+" ") && !strings.Contains(help, "  --"+f.Name+"\n") {
			t.Errorf("--help does not list --%s", f.Name)
		}
	})
	if strings.Contains(help, "not supported yet") {
		t.Error("--help lists a flag as not supported yet")
	}
}

func TestV3RPCConfig(t *testing.T) {
	cfg := embed.NewConfig()
	cfg.TickMs, cfg.ElectionMs = 50, 600
	cfg.Metrics = "extensive"
	rc := v3rpcConfig(cfg, nil)
	if rc.MaxRequestBytes != 1572864 || rc.MaxTxnOps != 128 || rc.KeepaliveMinTime != 5*time.Second ||
		rc.ElectionTimeout != 600*time.Millisecond || !rc.ExtensiveMetrics {
		t.Errorf("v3rpcConfig = %+v", rc)
	}
}

func TestSupportedArch(t *testing.T) {
	tests := []struct {
		arch    string
		env     []string
		want    bool
		wantLog string
	}{
		{"amd64", nil, true, ""},
		{"s390x", nil, true, ""},
		{"riscv64", nil, false, "Refusing to run etcd on unsupported architecture since ETCD_UNSUPPORTED_ARCH is not set"},
		{"riscv64", []string{"ETCD_UNSUPPORTED_ARCH=riscv64"}, true, "running etcd on unsupported architecture since ETCD_UNSUPPORTED_ARCH is set"},
		{"riscv64", []string{"ETCD_UNSUPPORTED_ARCH=mips"}, false, "Refusing to run etcd on unsupported architecture since ETCD_UNSUPPORTED_ARCH is not set"},
	}
	for _, tt := range tests {
		t.Run(tt.arch+strings.Join(tt.env, ","), func(t *testing.T) {
			core, logs := observer.New(zap.DebugLevel)
			if got := supportedArch(tt.arch, tt.env, zap.New(core)); got != tt.want {
				t.Errorf("supportedArch = %v, want %v", got, tt.want)
			}
			if tt.wantLog == "" && logs.Len() != 0 || tt.wantLog != "" && logs.FilterMessage(tt.wantLog).Len() != 1 {
				t.Errorf("logs %v, want %q", logs.All(), tt.wantLog)
			}
		})
	}
}
