package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/basaltkv/basalt/pkg/flags"
	"github.com/basaltkv/basalt/server/embed"
)

// legacyIgnored are flags of early etcd releases that etcd still accepts
// and ignores.
var legacyIgnored = []string{
	"cluster-active-size", "cluster-remove-delay", "cluster-sync-interval", "config", "force",
	"max-result-buffer", "max-retry-attempts", "peer-heartbeat-interval", "peer-election-timeout",
	"retry-interval", "snapshot", "v", "vv",
	"test.coverprofile", "test.outputdir",
}

// deprecatedFlags are warned about when given, with etcd's words.
var deprecatedFlags = map[string]string{
	"max-snapshots":  "--max-snapshots is deprecated in 3.6 and will be decommissioned in 3.8.",
	"v2-deprecation": "--v2-deprecation is deprecated and scheduled for removal in v3.8. The default value is enforced, ignoring user input.",
}

// cmdline is one command line's flags and where they write.
type cmdline struct {
	fs  *flag.FlagSet
	cfg *embed.Config

	configFile   string
	printVersion bool

	// sections order the flags in --help.
	sections []helpSection
	// ignoredSet collects legacy flags that were given.
	ignoredSet []string
}

type helpSection struct {
	title string
	names []string
}

// section starts a --help section; flags defined after it belong to it.
func (c *cmdline) section(title string) { c.sections = append(c.sections, helpSection{title: title}) }

func (c *cmdline) add(name string) {
	s := &c.sections[len(c.sections)-1]
	s.names = append(s.names, name)
}

func (c *cmdline) str(p *string, name, def, usage string) {
	c.fs.StringVar(p, name, def, usage)
	c.add(name)
}

func (c *cmdline) boolean(p *bool, name string, def bool, usage string) {
	c.fs.BoolVar(p, name, def, usage)
	c.add(name)
}

func (c *cmdline) uintv(p *uint, name string, def uint, usage string) {
	c.fs.UintVar(p, name, def, usage)
	c.add(name)
}

func (c *cmdline) uint64v(p *uint64, name string, def uint64, usage string) {
	c.fs.Uint64Var(p, name, def, usage)
	c.add(name)
}

func (c *cmdline) intv(p *int, name string, def int, usage string) {
	c.fs.IntVar(p, name, def, usage)
	c.add(name)
}

func (c *cmdline) int64v(p *int64, name string, def int64, usage string) {
	c.fs.Int64Var(p, name, def, usage)
	c.add(name)
}

func (c *cmdline) duration(p *time.Duration, name string, def time.Duration, usage string) {
	c.fs.DurationVar(p, name, def, usage)
	c.add(name)
}

func (c *cmdline) value(v flag.Value, name, usage string) {
	c.fs.Var(v, name, usage)
	c.add(name)
}

// featureGatesValue is --feature-gates: etcd checks the syntax and the
// gate names as the flag is set.
type featureGatesValue struct{ p *string }

// Set checks s; a flag given again adds to the gates set before it, as
// etcd's does.
func (v featureGatesValue) Set(s string) error {
	if err := embed.CheckFeatureGatesSyntax(s); err != nil {
		return err
	}
	if *v.p != "" {
		s = *v.p + "," + s
	}
	*v.p = s
	return nil
}

func (v featureGatesValue) String() string {
	if v.p == nil {
		return ""
	}
	return *v.p
}

// uint32Value is a flag.Value for uint32.
type uint32Value struct{ p *uint32 }

func (v uint32Value) Set(s string) error {
	n, err := strconv.ParseUint(s, 0, 32)
	if err != nil {
		return err
	}
	*v.p = uint32(n)
	return nil
}

func (v uint32Value) String() string {
	if v.p == nil {
		return "0"
	}
	return strconv.FormatUint(uint64(*v.p), 10)
}

// newCmdline defines etcd's server flags over cfg, which holds the
// defaults.
func newCmdline(cfg *embed.Config, output io.Writer) *cmdline {
	c := &cmdline{fs: flag.NewFlagSet("basalt", flag.ContinueOnError), cfg: cfg}
	c.fs.SetOutput(output)
	c.fs.Usage = func() { fmt.Fprint(c.fs.Output(), usageText) }
	var scratch struct {
		v2deprecation string
	}

	c.section("Member")
	c.str(&cfg.Name, "name", cfg.Name, "Human-readable name of this member.")
	c.str(&cfg.Dir, "data-dir", cfg.Dir, "Path to the data directory (default '${name}.etcd').")
	c.str(&cfg.WalDir, "wal-dir", cfg.WalDir, "Path to a dedicated WAL directory.")
	c.uint64v(&cfg.SnapshotCount, "snapshot-count", cfg.SnapshotCount, "Committed transactions between two snapshots.")
	c.uintv(&cfg.TickMs, "heartbeat-interval", cfg.TickMs, "Heartbeat interval in milliseconds.")
	c.uintv(&cfg.ElectionMs, "election-timeout", cfg.ElectionMs, "Election timeout in milliseconds; at least 5 heartbeat intervals.")
	c.boolean(&cfg.InitialElectionTickAdvance, "initial-election-tick-advance", cfg.InitialElectionTickAdvance, "Fast-forward election ticks at boot, once peers are connected, for a faster first election.")
	c.value(flags.NewURLs(&cfg.ListenPeerUrls), "listen-peer-urls", "URLs to listen on for traffic from other members.")
	c.value(flags.NewURLs(&cfg.ListenClientUrls), "listen-client-urls", "URLs to listen on for client gRPC and HTTP traffic.")
	c.value(flags.NewURLs(&cfg.ListenClientHttpUrls), "listen-client-http-urls", "List of URLs to listen on for http only client traffic. Enabling this flag removes http services from --listen-client-urls.")
	c.uintv(&cfg.MaxSnapFiles, "max-snapshots", cfg.MaxSnapFiles, "Snapshot files to keep (0: all). Deprecated in etcd 3.6.")
	c.uintv(&cfg.MaxWalFiles, "max-wals", cfg.MaxWalFiles, "WAL files to keep (0: all).")
	c.boolean(&cfg.MemoryMlock, "memory-mlock", false, "Enable to enforce etcd pages (in particular bbolt) to stay in RAM.")
	c.int64v(&cfg.QuotaBackendBytes, "quota-backend-bytes", cfg.QuotaBackendBytes, "Backend size that raises the NOSPACE alarm and stops writes (0: 2 GiB).")
	c.str(&cfg.BackendFreelistType, "backend-bbolt-freelist-type", "map", "BackendFreelistType specifies the type of freelist that boltdb backend uses (array and map are supported types).")
	c.duration(&cfg.BackendBatchInterval, "backend-batch-interval", cfg.BackendBatchInterval, "Longest time before the backend commits its write transaction (0: backend default).")
	c.intv(&cfg.BackendBatchLimit, "backend-batch-limit", cfg.BackendBatchLimit, "Most writes before the backend commits its write transaction (0: backend default).")
	c.uintv(&cfg.MaxTxnOps, "max-txn-ops", cfg.MaxTxnOps, "Most operations in one transaction.")
	c.uintv(&cfg.MaxRequestBytes, "max-request-bytes", cfg.MaxRequestBytes, "Largest client request accepted, in bytes.")
	c.value(uint32Value{&cfg.MaxConcurrentStreams}, "max-concurrent-streams", "Most concurrent gRPC streams per client connection.")
	c.duration(&cfg.GRPCKeepAliveMinTime, "grpc-keepalive-min-time", cfg.GRPCKeepAliveMinTime, "Shortest interval at which a client may ping the server.")
	c.duration(&cfg.GRPCKeepAliveInterval, "grpc-keepalive-interval", cfg.GRPCKeepAliveInterval, "How often the server pings an idle connection (0: never).")
	c.duration(&cfg.GRPCKeepAliveTimeout, "grpc-keepalive-timeout", cfg.GRPCKeepAliveTimeout, "How long the server waits for a ping's answer before closing (0: forever).")
	c.boolean(&cfg.SocketOpts.ReusePort, "socket-reuse-port", false, "Set SO_REUSEPORT on the listeners.")
	c.boolean(&cfg.SocketOpts.ReuseAddress, "socket-reuse-address", false, "Set SO_REUSEADDR on the listeners.")
	c.boolean(&cfg.EnableGRPCGateway, "enable-grpc-gateway", cfg.EnableGRPCGateway, "Serve the v3 JSON gateway (/v3/...) on the client URLs.")
	c.boolean(&cfg.EnableV2, "enable-v2", false, "Serve the v2 API (/v2/keys, /v2/members, /v2/stats) on the client URLs (etcd 3.4's flag; etcd 3.6 removed it).")
	c.duration(&cfg.RaftReadTimeout, "raft-read-timeout", cfg.RaftReadTimeout, "Read timeout set on each rafthttp connection.")
	c.duration(&cfg.RaftWriteTimeout, "raft-write-timeout", cfg.RaftWriteTimeout, "Write timeout set on each rafthttp connection.")
	c.value(featureGatesValue{&cfg.FeatureGates}, "feature-gates", embed.FeatureGatesHelp())

	c.section("Clustering")
	c.value(flags.NewURLs(&cfg.AdvertisePeerUrls), "initial-advertise-peer-urls", "This member's peer URLs, as other members reach them.")
	c.str(&cfg.InitialCluster, "initial-cluster", cfg.InitialCluster, "Initial members, as name=peer-url pairs (default '${name}=${initial-advertise-peer-urls}').")
	c.value(flags.NewChoice(&cfg.ClusterState, embed.ClusterStateFlagNew, embed.ClusterStateFlagExisting), "initial-cluster-state",
		"'new' to bootstrap a new cluster, 'existing' to join one. Ignored once the member has data.")
	c.str(&cfg.InitialClusterToken, "initial-cluster-token", cfg.InitialClusterToken, "Token that keeps members of different clusters from joining each other.")
	c.value(flags.NewURLs(&cfg.AdvertiseClientUrls), "advertise-client-urls", "This member's client URLs, as clients reach them.")
	dc := &cfg.DiscoveryCfg
	c.value(flags.NewStrings(&dc.Endpoints, true), "discovery-endpoints", "V3 discovery: gRPC endpoints of the discovery service.")
	c.str(&dc.Token, "discovery-token", "", "V3 discovery: discovery token for the cluster to bootstrap.")
	c.duration(&dc.DialTimeout, "discovery-dial-timeout", dc.DialTimeout, "V3 discovery: dial timeout for client connections.")
	c.duration(&dc.RequestTimeout, "discovery-request-timeout", dc.RequestTimeout, "V3 discovery: timeout for discovery requests (excluding dial timeout).")
	c.duration(&dc.KeepAliveTime, "discovery-keepalive-time", dc.KeepAliveTime, "V3 discovery: keepalive time for client connections.")
	c.duration(&dc.KeepAliveTimeout, "discovery-keepalive-timeout", dc.KeepAliveTimeout, "V3 discovery: keepalive timeout for client connections.")
	c.boolean(&dc.Secure.InsecureTransport, "discovery-insecure-transport", true, "V3 discovery: disable transport security for client connections.")
	c.boolean(&dc.Secure.InsecureSkipVerify, "discovery-insecure-skip-tls-verify", false, "V3 discovery: skip server certificate verification (for testing only).")
	c.str(&dc.Secure.Cert, "discovery-cert", "", "V3 discovery: identify the client with this TLS certificate file.")
	c.str(&dc.Secure.Key, "discovery-key", "", "V3 discovery: key of --discovery-cert.")
	c.str(&dc.Secure.Cacert, "discovery-cacert", "", "V3 discovery: verify the discovery service's certificates with this CA bundle.")
	c.str(&dc.Auth.Username, "discovery-user", "", "V3 discovery: username[:password] for authentication.")
	c.str(&dc.Auth.Password, "discovery-password", "", "V3 discovery: password for authentication (then --discovery-user holds no password).")
	c.str(&cfg.DNSCluster, "discovery-srv", "", "DNS domain whose SRV records list the initial cluster.")
	c.str(&cfg.DNSClusterServiceName, "discovery-srv-name", "", "Service name suffix of the SRV records queried by --discovery-srv.")
	c.boolean(&cfg.StrictReconfigCheck, "strict-reconfig-check", cfg.StrictReconfigCheck, "Reject reconfiguration requests that would cause quorum loss.")
	c.boolean(&cfg.PreVote, "pre-vote", cfg.PreVote, "Run raft's Pre-Vote phase so that a rejoining member does not disrupt the cluster.")
	c.str(&cfg.AutoCompactionRetention, "auto-compaction-retention", cfg.AutoCompactionRetention, "History to keep: hours or a duration (periodic), revisions (revision); 0 disables auto compaction.")
	c.value(flags.NewChoice(&cfg.AutoCompactionMode, embed.CompactorModePeriodic, embed.CompactorModeRevision), "auto-compaction-mode", "How to read --auto-compaction-retention: 'periodic' or 'revision'.")
	scratch.v2deprecation = "write-only"
	c.value(flags.NewChoice(&scratch.v2deprecation, "write-only", "write-only-skip-check", "write-only-drop-data", "gone"), "v2-deprecation",
		"v2 store deprecation stage. Deprecated in etcd; the default is enforced.")

	// etcd 3.4's v2 discovery URL and v2 proxy, which basalt brings back.
	c.str(&cfg.Durl, "discovery", "", "Discovery URL used to bootstrap the cluster (etcd 3.4's v2 discovery: a token directory of the v2 keys API).")
	c.str(&cfg.Dproxy, "discovery-proxy", "", "HTTP proxy to use for traffic to the discovery service (--discovery).")
	c.value(flags.NewChoice(&cfg.Fallback, embed.FallbackExit, embed.FallbackProxy), "discovery-fallback",
		"What to do when --discovery finds the cluster full: 'exit', or 'proxy' to become a v2 proxy.")
	c.section("Proxy")
	c.value(flags.NewChoice(&cfg.Proxy, embed.ProxyOff, embed.ProxyReadonly, embed.ProxyOn), "proxy",
		"etcd 3.4's v2 proxy: 'on' or 'readonly' proxies the client URLs to the cluster instead of running a member; 'off' runs a member.")
	c.uintv(&cfg.ProxyFailureWaitMs, "proxy-failure-wait", cfg.ProxyFailureWaitMs, "Time (in milliseconds) an endpoint will be held in a failed state.")
	c.uintv(&cfg.ProxyRefreshIntervalMs, "proxy-refresh-interval", cfg.ProxyRefreshIntervalMs, "Time (in milliseconds) of the endpoints refresh interval.")
	c.uintv(&cfg.ProxyDialTimeoutMs, "proxy-dial-timeout", cfg.ProxyDialTimeoutMs, "Time (in milliseconds) for a dial to timeout.")
	c.uintv(&cfg.ProxyWriteTimeoutMs, "proxy-write-timeout", cfg.ProxyWriteTimeoutMs, "Time (in milliseconds) for a write to timeout.")
	c.uintv(&cfg.ProxyReadTimeoutMs, "proxy-read-timeout", cfg.ProxyReadTimeoutMs, "Time (in milliseconds) for a read to timeout (0: none).")

	c.section("Security")
	c.str(&cfg.ClientTLSInfo.CertFile, "cert-file", "", "Certificate of the client listeners (https).")
	c.str(&cfg.ClientTLSInfo.KeyFile, "key-file", "", "Key of --cert-file.")
	c.boolean(&cfg.ClientTLSInfo.ClientCertAuth, "client-cert-auth", false, "Require clients to present a certificate signed by --trusted-ca-file.")
	c.str(&cfg.ClientTLSInfo.ClientCertFile, "client-cert-file", "", "Certificate presented when the member acts as a client of its own client URLs (default --cert-file).")
	c.str(&cfg.ClientTLSInfo.ClientKeyFile, "client-key-file", "", "Key of --client-cert-file.")
	c.str(&cfg.ClientTLSInfo.CRLFile, "client-crl-file", "", "Certificate revocation list for client certificates.")
	c.value(flags.NewStrings(&cfg.ClientTLSInfo.AllowedHostnames, false), "client-cert-allowed-hostname", "Comma-separated SAN hostnames a client certificate must match.")
	c.str(&cfg.ClientTLSInfo.TrustedCAFile, "trusted-ca-file", "", "CA certificates that verify client certificates.")
	c.boolean(&cfg.ClientAutoTLS, "auto-tls", false, "Serve clients with a generated self-signed certificate.")
	c.str(&cfg.PeerTLSInfo.CertFile, "peer-cert-file", "", "Certificate of the peer listeners (https), also presented when dialing peers.")
	c.str(&cfg.PeerTLSInfo.KeyFile, "peer-key-file", "", "Key of --peer-cert-file.")
	c.boolean(&cfg.PeerTLSInfo.ClientCertAuth, "peer-client-cert-auth", false, "Require peers to present a certificate signed by --peer-trusted-ca-file.")
	c.str(&cfg.PeerTLSInfo.ClientCertFile, "peer-client-cert-file", "", "Certificate presented when dialing peers (default --peer-cert-file).")
	c.str(&cfg.PeerTLSInfo.ClientKeyFile, "peer-client-key-file", "", "Key of --peer-client-cert-file.")
	c.str(&cfg.PeerTLSInfo.TrustedCAFile, "peer-trusted-ca-file", "", "CA certificates that verify peer certificates.")
	c.value(flags.NewStrings(&cfg.PeerTLSInfo.AllowedCNs, false), "peer-cert-allowed-cn", "Comma-separated common names a peer certificate must have one of.")
	c.value(flags.NewStrings(&cfg.PeerTLSInfo.AllowedHostnames, false), "peer-cert-allowed-hostname", "Comma-separated SAN hostnames a peer certificate must match one of.")
	c.boolean(&cfg.PeerAutoTLS, "peer-auto-tls", false, "Secure peer traffic with a generated self-signed certificate when no peer certificate is given.")
	c.uintv(&cfg.SelfSignedCertValidity, "self-signed-cert-validity", cfg.SelfSignedCertValidity, "Validity in years of the certificates --auto-tls and --peer-auto-tls generate.")
	c.str(&cfg.PeerTLSInfo.CRLFile, "peer-crl-file", "", "Certificate revocation list for peer certificates.")
	c.boolean(&cfg.PeerTLSInfo.SkipClientSANVerify, "peer-skip-client-san-verification", false, "Do not check that a peer certificate's SANs match the peer's address.")
	c.value(flags.NewStrings(&cfg.CipherSuites, false), "cipher-suites", "Comma-separated TLS cipher suites, in order of preference (empty: Go's choice).")
	c.value(flags.NewStrings(&cfg.CORS, true), "cors", "Comma-separated origins allowed cross-origin requests ('*': all).")
	c.value(flags.NewStrings(&cfg.HostWhitelist, true), "host-whitelist", "Comma-separated Host headers accepted over plain HTTP, against DNS rebinding ('*': all).")
	c.str(&cfg.TlsMinVersion, "tls-min-version", cfg.TlsMinVersion, "Lowest TLS version accepted: TLS1.2 or TLS1.3.")
	c.str(&cfg.TlsMaxVersion, "tls-max-version", cfg.TlsMaxVersion, "Highest TLS version accepted: TLS1.2 or TLS1.3 (empty: Go's choice).")

	c.section("Auth")
	c.str(&cfg.AuthToken, "auth-token", cfg.AuthToken, "Specify auth token specific options: 'simple', or 'jwt,pub-key=<path>,priv-key=<path>,sign-method=<alg>,ttl=<duration>'.")
	c.uintv(&cfg.BcryptCost, "bcrypt-cost", cfg.BcryptCost, "Specify bcrypt algorithm cost factor for auth password hashing.")
	c.uintv(&cfg.AuthTokenTTL, "auth-token-ttl", cfg.AuthTokenTTL, "The lifetime in seconds of the auth token.")

	c.section("Profiling and Monitoring")
	c.boolean(&cfg.EnablePprof, "enable-pprof", false, "Serve runtime profiles under /debug/pprof/ on the client URLs.")
	c.value(flags.NewChoice(&cfg.Metrics, "basic", "extensive"), "metrics", "'basic', or 'extensive' to add gRPC handling-time histograms.")
	c.value(flags.NewURLs(&cfg.ListenMetricsUrls), "listen-metrics-urls", "URLs to serve only /metrics and /health on (https uses the client TLS settings).")

	c.section("Logging")
	c.str(&cfg.Logger, "logger", cfg.Logger, "Logger: only 'zap'.")
	c.value(flags.NewStrings(&cfg.LogOutputs, true), "log-outputs", "Comma-separated log targets: 'default' (stderr), 'stderr', 'stdout', file paths, or 'systemd/journal' alone.")
	c.str(&cfg.LogLevel, "log-level", cfg.LogLevel, "Log level: debug, info, warn, error, panic or fatal.")
	c.str(&cfg.LogFormat, "log-format", cfg.LogFormat, "Log format: json or console.")
	c.boolean(&cfg.EnableLogRotation, "enable-log-rotation", false, "Enable log rotation of a single log-outputs file target.")
	c.str(&cfg.LogRotationConfigJSON, "log-rotation-config-json", cfg.LogRotationConfigJSON, "Configures log rotation if enabled with a JSON logger config. Default: MaxSize=100(MB), MaxAge=0(days,no limit), MaxBackups=0(no limit), LocalTime=false(UTC), Compress=false(gzip).")
	c.duration(&cfg.WarningUnaryRequestDuration, "warning-unary-request-duration", cfg.WarningUnaryRequestDuration, "Unary requests slower than this are logged.")

	c.section("Distributed tracing")
	c.boolean(&cfg.EnableDistributedTracing, "enable-distributed-tracing", false, "Enable distributed tracing using OpenTelemetry Tracing.")
	c.str(&cfg.DistributedTracingAddress, "distributed-tracing-address", cfg.DistributedTracingAddress, "Address for distributed tracing used for OpenTelemetry Tracing (if enabled with enable-distributed-tracing flag).")
	c.str(&cfg.DistributedTracingServiceName, "distributed-tracing-service-name", cfg.DistributedTracingServiceName, "Configures service name for distributed tracing to be used to define service name for OpenTelemetry Tracing (if enabled with enable-distributed-tracing flag). 'etcd' is the default service name. Use the same service name for all instances of etcd.")
	c.str(&cfg.DistributedTracingServiceInstanceID, "distributed-tracing-instance-id", "", "Configures service instance ID for distributed tracing to be used to define service instance ID key for OpenTelemetry Tracing (if enabled with enable-distributed-tracing flag). There is no default value set. This ID must be unique per etcd instance.")
	c.intv(&cfg.DistributedTracingSamplingRatePerMillion, "distributed-tracing-sampling-rate", 0, "Number of samples to collect per million spans for OpenTelemetry Tracing (if enabled with enable-distributed-tracing flag).")

	c.section("Features")
	c.duration(&cfg.CorruptCheckTime, "corrupt-check-time", cfg.CorruptCheckTime, "Duration of time between cluster corruption check passes.")
	c.duration(&cfg.CompactHashCheckTime, "compact-hash-check-time", cfg.CompactHashCheckTime, "Duration of time between leader checks followers compaction hashes (with --feature-gates=CompactHashCheck=true).")
	c.intv(&cfg.CompactionBatchLimit, "compaction-batch-limit", 0, "Sets the maximum revisions deleted in each compaction batch (0: 1,000).")
	c.duration(&cfg.CompactionSleepInterval, "compaction-sleep-interval", 0, "Sets the sleep interval between each compaction batch (0: 10ms).")
	c.duration(&cfg.WatchProgressNotifyInterval, "watch-progress-notify-interval", cfg.WatchProgressNotifyInterval, "Interval of progress notifications to watchers that ask for them.")
	c.duration(&cfg.WarningApplyDuration, "warning-apply-duration", cfg.WarningApplyDuration, "Time duration after which a warning is generated if applying request takes more time.")
	c.uintv(&cfg.BootstrapDefragThresholdMegabytes, "bootstrap-defrag-threshold-megabytes", 0, "Enable the defrag during etcd server bootstrap on condition that it will free at least the provided threshold of disk space. Needs to be set to non-zero value to take effect.")
	c.intv(&cfg.MaxLearners, "max-learners", cfg.MaxLearners, "Sets the maximum number of learners that can be available in the cluster membership.")
	c.duration(&cfg.DowngradeCheckTime, "downgrade-check-time", cfg.DowngradeCheckTime, "Duration of time between two downgrade status checks (accepted; basalt has no downgrades to check).")
	c.uint64v(&cfg.SnapshotCatchUpEntries, "snapshot-catchup-entries", cfg.SnapshotCatchUpEntries, "Entries kept after a snapshot for slow followers to catch up from.")

	c.section("Unsafe features")
	c.boolean(&cfg.ForceNewCluster, "force-new-cluster", false, "Force to create a new one-member cluster: restart an existing data dir as the only member of its cluster, with its committed data.")
	c.boolean(&cfg.UnsafeNoFsync, "unsafe-no-fsync", false, "Disables fsync, unsafe, will cause data loss.")

	c.section("Startup")
	c.str(&c.configFile, "config-file", "", "YAML configuration file with etcd's keys; when given, other flags and environment variables are ignored.")
	c.boolean(&c.printVersion, "version", false, "Print the version and exit.")

	for _, name := range legacyIgnored {
		c.fs.Var(&flags.Ignored{Name: name, Warn: func(n string) { c.ignoredSet = append(c.ignoredSet, n) }}, name, "")
	}
	return c
}
