// Package embed is a basalt member's configuration as etcd's users write
// it: etcd's settings with etcd's names, defaults, config-file keys and
// validation messages, and what turns them into running parts — the
// logger, the TLS settings (auto TLS included), the listeners, the
// member's server.Config and the client API's v3rpc.Config. cmd/basalt
// maps flags and environment variables onto a Config and wires the
// results together.
package embed

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/basaltkv/basalt/pkg/tlsutil"
	"github.com/basaltkv/basalt/server"
	"github.com/basaltkv/basalt/server/discovery"
	"github.com/basaltkv/basalt/server/rafthttp"
	clientv3 "go.etcd.io/etcd/client/v3"
	"golang.org/x/crypto/bcrypt"
)

// etcd's defaults.
const (
	ClusterStateFlagNew      = "new"
	ClusterStateFlagExisting = "existing"

	DefaultName                        = "default"
	DefaultMaxSnapshots                = 5
	DefaultMaxWALs                     = 5
	DefaultSnapshotCount               = 10000
	DefaultSnapshotCatchUpEntries      = 5000
	DefaultTickMs                      = 100
	DefaultElectionMs                  = 1000
	DefaultMaxTxnOps                   = uint(128)
	DefaultMaxRequestBytes             = uint(1.5 * 1024 * 1024)
	DefaultMaxConcurrentStreams        = uint32(1<<32 - 1)
	DefaultGRPCKeepAliveMinTime        = 5 * time.Second
	DefaultGRPCKeepAliveInterval       = 2 * time.Hour
	DefaultGRPCKeepAliveTimeout        = 20 * time.Second
	DefaultAutoCompactionMode          = "periodic"
	DefaultAutoCompactionRetention     = "0"
	DefaultInitialClusterToken         = "etcd-cluster"
	DefaultSelfSignedCertValidity      = 1
	DefaultTLSMinVersion               = tlsutil.Version12
	DefaultStrictReconfigCheck         = true
	DefaultMaxLearners                 = 1
	DefaultCompactHashCheckTime        = time.Minute
	DefaultWatchProgressNotifyInterval = 10 * time.Minute
	DefaultWarningUnaryRequestDuration = 300 * time.Millisecond
	DefaultMetrics                     = "basic"

	DefaultRaftTimeout          = rafthttp.DefaultConnTimeout
	DefaultWarningApplyDuration = server.DefaultWarningApplyDuration
	DefaultDowngradeCheckTime   = 5 * time.Second

	DefaultDiscoveryDialTimeout      = 2 * time.Second
	DefaultDiscoveryRequestTimeout   = 5 * time.Second
	DefaultDiscoveryKeepAliveTime    = 2 * time.Second
	DefaultDiscoveryKeepAliveTimeout = 6 * time.Second

	DefaultListenPeerURLs           = "http://localhost:2380"
	DefaultListenClientURLs         = "http://localhost:2379"
	DefaultInitialAdvertisePeerURLs = "http://localhost:2380"
	DefaultAdvertiseClientURLs      = "http://localhost:2379"

	DefaultLogOutput = "default"
	StdErrLogOutput  = "stderr"
	StdOutLogOutput  = "stdout"
	JournalLogOutput = "systemd/journal"
	DefaultLogLevel  = "info"
	DefaultLogFormat = "json"

	// maxElectionMs is etcd's upper bound on --election-timeout.
	maxElectionMs = 50000

	CompactorModePeriodic = "periodic"
	CompactorModeRevision = "revision"
)

// Config is a member's configuration. The json tags are the keys of
// etcd's --config-file (read with sigs.k8s.io/yaml, as etcd does).
type Config struct {
	Name   string `json:"name"`
	Dir    string `json:"data-dir"`
	WalDir string `json:"wal-dir"`

	SnapshotCount          uint64 `json:"snapshot-count"`
	SnapshotCatchUpEntries uint64 `json:"snapshot-catchup-entries"`
	MaxSnapFiles           uint   `json:"max-snapshots"`
	MaxWalFiles            uint   `json:"max-wals"`

	TickMs     uint `json:"heartbeat-interval"`
	ElectionMs uint `json:"election-timeout"`

	BackendBatchInterval time.Duration `json:"backend-batch-interval"`
	BackendBatchLimit    int           `json:"backend-batch-limit"`
	QuotaBackendBytes    int64         `json:"quota-backend-bytes"`
	MaxTxnOps            uint          `json:"max-txn-ops"`
	MaxRequestBytes      uint          `json:"max-request-bytes"`
	MaxConcurrentStreams uint32        `json:"max-concurrent-streams"`

	ListenPeerUrls   []url.URL `json:"-"`
	ListenClientUrls []url.URL `json:"-"`
	// ListenClientHttpUrls serve the client HTTP endpoints alone; with
	// them, ListenClientUrls serve gRPC alone (--listen-client-http-urls).
	ListenClientHttpUrls []url.URL `json:"-"` //nolint:revive // etcd's name
	AdvertisePeerUrls    []url.URL `json:"-"`
	AdvertiseClientUrls  []url.URL `json:"-"`
	ListenMetricsUrls    []url.URL `json:"-"`

	ClientTLSInfo tlsutil.Info `json:"-"`
	ClientAutoTLS bool         `json:"-"`
	PeerTLSInfo   tlsutil.Info `json:"-"`
	PeerAutoTLS   bool         `json:"-"`
	// SelfSignedCertValidity is in years.
	SelfSignedCertValidity uint     `json:"self-signed-cert-validity"`
	CipherSuites           []string `json:"cipher-suites"`
	TlsMinVersion          string   `json:"tls-min-version"` //nolint:revive // etcd's name
	TlsMaxVersion          string   `json:"tls-max-version"` //nolint:revive // etcd's name

	ClusterState        string `json:"initial-cluster-state"`
	InitialCluster      string `json:"initial-cluster"`
	InitialClusterToken string `json:"initial-cluster-token"`
	StrictReconfigCheck bool   `json:"strict-reconfig-check"`
	// RaftReadTimeout and RaftWriteTimeout are --raft-read-timeout and
	// --raft-write-timeout (flags only, as in etcd).
	RaftReadTimeout  time.Duration `json:"-"`
	RaftWriteTimeout time.Duration `json:"-"`
	// CompactionBatchLimit and CompactionSleepInterval are
	// --compaction-batch-limit and --compaction-sleep-interval.
	CompactionBatchLimit    int           `json:"compaction-batch-limit"`
	CompactionSleepInterval time.Duration `json:"compaction-sleep-interval"`
	// BootstrapDefragThresholdMegabytes is
	// --bootstrap-defrag-threshold-megabytes.
	BootstrapDefragThresholdMegabytes uint `json:"bootstrap-defrag-threshold-megabytes"`
	// MemoryMlock is --memory-mlock.
	MemoryMlock bool `json:"memory-mlock"`
	// BackendFreelistType is --backend-bbolt-freelist-type: "array", or
	// anything else for map (etcd's reading).
	BackendFreelistType string `json:"backend-bbolt-freelist-type"`
	// Distributed tracing (--enable-distributed-tracing and the
	// --distributed-tracing-* flags): see Tracing.
	EnableDistributedTracing                 bool   `json:"enable-distributed-tracing"`
	DistributedTracingAddress                string `json:"distributed-tracing-address"`
	DistributedTracingServiceName            string `json:"distributed-tracing-service-name"`
	DistributedTracingServiceInstanceID      string `json:"distributed-tracing-instance-id"`
	DistributedTracingSamplingRatePerMillion int    `json:"distributed-tracing-sampling-rate"`
	// UnsafeNoFsync is --unsafe-no-fsync.
	UnsafeNoFsync bool `json:"unsafe-no-fsync"`
	// WarningApplyDuration is --warning-apply-duration.
	WarningApplyDuration time.Duration `json:"warning-apply-duration"`
	// DowngradeCheckTime is --downgrade-check-time: accepted, unused
	// while the downgrade API is not built.
	DowngradeCheckTime time.Duration `json:"downgrade-check-time"`
	// AuthToken is --auth-token, BcryptCost --bcrypt-cost, AuthTokenTTL
	// --auth-token-ttl (seconds).
	AuthToken    string `json:"auth-token"`
	BcryptCost   uint   `json:"bcrypt-cost"`
	AuthTokenTTL uint   `json:"auth-token-ttl"`
	// DNSCluster is the domain whose DNS SRV records list the initial
	// cluster (--discovery-srv); DNSClusterServiceName suffixes the
	// services looked up (--discovery-srv-name).
	DNSCluster            string `json:"discovery-srv"`
	DNSClusterServiceName string `json:"discovery-srv-name"`
	// DiscoveryCfg is etcd's v3 discovery (--discovery-token,
	// --discovery-endpoints and the other --discovery-* flags).
	DiscoveryCfg discovery.Config `json:"discovery-config"`
	// MaxLearners bounds the learners in the cluster.
	MaxLearners int `json:"max-learners"`
	// V2Proxy is etcd 3.4's --proxy, --proxy-*, --discovery,
	// --discovery-proxy and --discovery-fallback.
	V2Proxy

	// FeatureGates is --feature-gates ("Name=bool,..."; see Gates).
	FeatureGates string `json:"feature-gates"`
	// CorruptCheckTime is the interval of the leader's corruption check
	// (0: off); CompactHashCheckTime that of the compaction hash check.
	CorruptCheckTime     time.Duration `json:"corrupt-check-time"`
	CompactHashCheckTime time.Duration `json:"compact-hash-check-time"`

	PreVote bool `json:"pre-vote"`
	// ForceNewCluster restarts an existing member as a one-member cluster.
	ForceNewCluster bool `json:"force-new-cluster"`
	// InitialElectionTickAdvance fast-forwards election ticks at boot.
	InitialElectionTickAdvance bool `json:"initial-election-tick-advance"`

	AutoCompactionMode      string `json:"auto-compaction-mode"`
	AutoCompactionRetention string `json:"auto-compaction-retention"`

	GRPCKeepAliveMinTime  time.Duration `json:"grpc-keepalive-min-time"`
	GRPCKeepAliveInterval time.Duration `json:"grpc-keepalive-interval"`
	GRPCKeepAliveTimeout  time.Duration `json:"grpc-keepalive-timeout"`

	SocketOpts SocketOpts `json:"socket-options"`

	WatchProgressNotifyInterval time.Duration `json:"watch-progress-notify-interval"`
	WarningUnaryRequestDuration time.Duration `json:"warning-unary-request-duration"`
	// Metrics is "basic" or "extensive" (adds gRPC handling histograms).
	Metrics string `json:"metrics"`

	// EnableGRPCGateway serves the v3 JSON gateway on the client URLs.
	EnableGRPCGateway bool `json:"enable-grpc-gateway"`
	// EnableV2 serves the v2 API (/v2/keys, /v2/members, /v2/machines,
	// /v2/stats) on the client URLs: etcd 3.4's --enable-v2, which etcd
	// 3.6 removed and basalt keeps.
	EnableV2 bool `json:"enable-v2"`
	// EnablePprof serves runtime profiles under /debug/pprof/.
	EnablePprof bool `json:"enable-pprof"`
	// CORS are the origins allowed cross-origin requests ("*": all).
	CORS []string `json:"-"`
	// HostWhitelist are the Host headers accepted over plain HTTP ("*":
	// all).
	HostWhitelist []string `json:"-"`

	Logger     string   `json:"logger"`
	LogLevel   string   `json:"log-level"`
	LogFormat  string   `json:"log-format"`
	LogOutputs []string `json:"log-outputs"`
	// EnableLogRotation rotates the one log file among LogOutputs with
	// lumberjack, as LogRotationConfigJSON says (--enable-log-rotation,
	// --log-rotation-config-json).
	EnableLogRotation     bool   `json:"enable-log-rotation"`
	LogRotationConfigJSON string `json:"log-rotation-config-json"`

	// ExplicitlySet names the settings given by flag, environment
	// variable or config-file key.
	ExplicitlySet map[string]bool `json:"-"`
}

// SocketOpts are the listeners' socket options.
type SocketOpts struct {
	ReusePort    bool `json:"reuse-port"`
	ReuseAddress bool `json:"reuse-address"`
}

// NewConfig returns etcd's defaults.
func NewConfig() *Config {
	cfg := &Config{
		Name:                          DefaultName,
		SnapshotCount:                 DefaultSnapshotCount,
		SnapshotCatchUpEntries:        DefaultSnapshotCatchUpEntries,
		MaxSnapFiles:                  DefaultMaxSnapshots,
		MaxWalFiles:                   DefaultMaxWALs,
		TickMs:                        DefaultTickMs,
		ElectionMs:                    DefaultElectionMs,
		MaxTxnOps:                     DefaultMaxTxnOps,
		MaxRequestBytes:               DefaultMaxRequestBytes,
		MaxConcurrentStreams:          DefaultMaxConcurrentStreams,
		ListenPeerUrls:                mustURLs(DefaultListenPeerURLs),
		ListenClientUrls:              mustURLs(DefaultListenClientURLs),
		AdvertisePeerUrls:             mustURLs(DefaultInitialAdvertisePeerURLs),
		AdvertiseClientUrls:           mustURLs(DefaultAdvertiseClientURLs),
		SelfSignedCertValidity:        DefaultSelfSignedCertValidity,
		TlsMinVersion:                 DefaultTLSMinVersion,
		ClusterState:                  ClusterStateFlagNew,
		InitialClusterToken:           DefaultInitialClusterToken,
		StrictReconfigCheck:           DefaultStrictReconfigCheck,
		RaftReadTimeout:               DefaultRaftTimeout,
		RaftWriteTimeout:              DefaultRaftTimeout,
		WarningApplyDuration:          DefaultWarningApplyDuration,
		DowngradeCheckTime:            DefaultDowngradeCheckTime,
		AuthToken:                     "simple",
		DistributedTracingAddress:     DefaultDistributedTracingAddress,
		DistributedTracingServiceName: DefaultDistributedTracingServiceName,
		BcryptCost:                    uint(bcrypt.DefaultCost),
		AuthTokenTTL:                  300,
		DiscoveryCfg: discovery.Config{ConfigSpec: clientv3.ConfigSpec{
			DialTimeout:      DefaultDiscoveryDialTimeout,
			RequestTimeout:   DefaultDiscoveryRequestTimeout,
			KeepAliveTime:    DefaultDiscoveryKeepAliveTime,
			KeepAliveTimeout: DefaultDiscoveryKeepAliveTimeout,
			Secure:           &clientv3.SecureConfig{InsecureTransport: true},
			Auth:             &clientv3.AuthConfig{},
		}},
		MaxLearners:                 DefaultMaxLearners,
		V2Proxy:                     DefaultV2Proxy(),
		CompactHashCheckTime:        DefaultCompactHashCheckTime,
		PreVote:                     true,
		InitialElectionTickAdvance:  true,
		AutoCompactionMode:          DefaultAutoCompactionMode,
		AutoCompactionRetention:     DefaultAutoCompactionRetention,
		GRPCKeepAliveMinTime:        DefaultGRPCKeepAliveMinTime,
		GRPCKeepAliveInterval:       DefaultGRPCKeepAliveInterval,
		GRPCKeepAliveTimeout:        DefaultGRPCKeepAliveTimeout,
		WatchProgressNotifyInterval: DefaultWatchProgressNotifyInterval,
		WarningUnaryRequestDuration: DefaultWarningUnaryRequestDuration,
		Metrics:                     DefaultMetrics,
		EnableGRPCGateway:           true,
		CORS:                        []string{"*"},
		HostWhitelist:               []string{"*"},
		Logger:                      "zap",
		LogLevel:                    DefaultLogLevel,
		LogFormat:                   DefaultLogFormat,
		LogOutputs:                  []string{DefaultLogOutput},
		LogRotationConfigJSON:       DefaultLogRotationConfig,
		ExplicitlySet:               map[string]bool{},
	}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	return cfg
}

func mustURLs(s string) []url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return []url.URL{*u}
}

// InitialClusterFromName is the initial cluster of a lone member: name
// (or "default") with each advertised peer URL.
func (cfg *Config) InitialClusterFromName(name string) string {
	if name == "" {
		name = DefaultName
	}
	parts := make([]string, len(cfg.AdvertisePeerUrls))
	for i, u := range cfg.AdvertisePeerUrls {
		parts[i] = name + "=" + u.String()
	}
	return strings.Join(parts, ",")
}

// ApplyDataDirDefault fills an empty data dir with "${name}.etcd" and
// reports whether it did.
func (cfg *Config) ApplyDataDirDefault() bool {
	if cfg.Dir != "" {
		return false
	}
	cfg.Dir = fmt.Sprintf("%v.etcd", cfg.Name)
	return true
}

// FeatureEnabled reports a feature gate's value (see Gates); the gates
// were checked by Validate.
func (cfg *Config) FeatureEnabled(name string) bool {
	fg, _ := ParseFeatureGates(cfg.FeatureGates)
	return fg.Enabled(name)
}

// IsNewCluster is --initial-cluster-state=new.
func (cfg *Config) IsNewCluster() bool { return cfg.ClusterState == ClusterStateFlagNew }

// ElectionTicks is the election timeout in heartbeats.
func (cfg *Config) ElectionTicks() int { return int(cfg.ElectionMs / cfg.TickMs) }

// MemberDir is <data-dir>/member.
func (cfg *Config) MemberDir() string { return filepath.Join(cfg.Dir, "member") }
