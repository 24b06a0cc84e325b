package embed

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/basaltkv/basalt/pkg/flags"
	"github.com/basaltkv/basalt/pkg/netutil"
	"github.com/basaltkv/basalt/pkg/tlsutil"
)

// ErrUnsetAdvertiseClientURLsFlag is etcd's error for listen client URLs
// given without advertise client URLs.
var ErrUnsetAdvertiseClientURLsFlag = errors.New("--advertise-client-urls is required when --listen-client-urls is set explicitly")

// Validate checks the configuration as etcd does at start, with etcd's
// messages. It does not touch the disk or the network.
func (cfg *Config) Validate() error {
	if err := cfg.validateLogging(); err != nil {
		return err
	}
	for _, us := range [][]url.URL{cfg.ListenPeerUrls, cfg.ListenClientUrls, cfg.ListenClientHttpUrls, cfg.ListenMetricsUrls} {
		if err := checkBindURLs(us); err != nil {
			return err
		}
	}
	if err := checkHostURLs(cfg.AdvertisePeerUrls); err != nil {
		return fmt.Errorf(`--initial-advertise-peer-urls %q must be "host:port" (%w)`, flags.URLsString(cfg.AdvertisePeerUrls), err)
	}
	if err := checkHostURLs(cfg.AdvertiseClientUrls); err != nil {
		return fmt.Errorf(`--advertise-client-urls %q must be in the format "host:port", "unix:/path/to/socket" or "unixs:/path/to/socket" (%w)`, flags.URLsString(cfg.AdvertiseClientUrls), err)
	}
	if _, err := ParseFeatureGates(cfg.FeatureGates); err != nil {
		return err
	}
	if cfg.CompactHashCheckTime <= 0 {
		return fmt.Errorf("--compact-hash-check-time must be >0 (set to %v)", cfg.CompactHashCheckTime)
	}
	if cfg.ClusterState != ClusterStateFlagNew && cfg.ClusterState != ClusterStateFlagExisting {
		return fmt.Errorf("unexpected clusterState %q", cfg.ClusterState)
	}
	if err := cfg.validateDiscovery(); err != nil {
		return err
	}
	if err := cfg.validateV2Proxy(); err != nil {
		return err
	}
	if cfg.EnableDistributedTracing {
		if err := validateTracing(cfg.DistributedTracingSamplingRatePerMillion); err != nil {
			return err
		}
	}
	if cfg.TickMs == 0 {
		return fmt.Errorf("--heartbeat-interval must be >0 (set to %dms)", cfg.TickMs)
	}
	if cfg.ElectionMs == 0 {
		return fmt.Errorf("--election-timeout must be >0 (set to %dms)", cfg.ElectionMs)
	}
	if 5*cfg.TickMs > cfg.ElectionMs {
		return fmt.Errorf("--election-timeout[%vms] should be at least as 5 times as --heartbeat-interval[%vms]", cfg.ElectionMs, cfg.TickMs)
	}
	if cfg.ElectionMs > maxElectionMs {
		return fmt.Errorf("--election-timeout[%vms] is too long, and should be set less than %vms", cfg.ElectionMs, maxElectionMs)
	}
	// A process that may serve as a proxy advertises no client URLs.
	if cfg.ListenClientUrls != nil && cfg.AdvertiseClientUrls == nil && !cfg.MayBeProxy() {
		return ErrUnsetAdvertiseClientURLsFlag
	}
	switch cfg.AutoCompactionMode {
	case CompactorModePeriodic, CompactorModeRevision:
	case "":
		return errors.New("undefined auto-compaction-mode")
	default:
		return fmt.Errorf("unknown auto-compaction-mode %q", cfg.AutoCompactionMode)
	}
	if _, err := ParseCompactionRetention(cfg.AutoCompactionMode, cfg.AutoCompactionRetention); err != nil {
		return err
	}
	switch cfg.Metrics {
	case "basic", "extensive":
	default:
		return fmt.Errorf("unknown --metrics %q (must be basic or extensive)", cfg.Metrics)
	}
	if cfg.SelfSignedCertValidity == 0 && (cfg.ClientAutoTLS || cfg.PeerAutoTLS) {
		return errors.New("selfSignedCertValidity is invalid,it should be greater than 0")
	}
	for _, origin := range cfg.CORS {
		if origin == "*" {
			continue
		}
		if _, err := flags.ParseURLs([]string{origin}); err != nil {
			return fmt.Errorf("invalid --cors origin %q: %w", origin, err)
		}
	}
	if err := cfg.validateTLS(); err != nil {
		return err
	}
	return cfg.validateSchemes()
}

func (cfg *Config) validateTLS() error {
	minVersion, err := tlsutil.ParseVersion(cfg.TlsMinVersion)
	if err != nil {
		return err
	}
	maxVersion, err := tlsutil.ParseVersion(cfg.TlsMaxVersion)
	if err != nil {
		return err
	}
	if maxVersion != 0 && minVersion > maxVersion {
		return fmt.Errorf("min version (%s) is greater than max version (%s)", cfg.TlsMinVersion, cfg.TlsMaxVersion)
	}
	if minVersion == tls.VersionTLS13 && len(cfg.CipherSuites) > 0 {
		return errors.New("cipher suites cannot be configured when only TLS1.3 is enabled")
	}
	if _, err := tlsutil.CipherSuites(cfg.CipherSuites); err != nil {
		return err
	}
	for _, info := range []tlsutil.Info{cfg.ClientTLSInfo, cfg.PeerTLSInfo} {
		if len(info.AllowedCNs) > 0 && len(info.AllowedHostnames) > 0 {
			return fmt.Errorf("AllowedCNs and AllowedHostnames are mutually exclusive (cns=%q, hostnames=%q)", info.AllowedCNs, info.AllowedHostnames)
		}
	}
	return nil
}

// validateSchemes refuses https URLs without certificates (etcd refuses
// them when it creates the listeners).
func (cfg *Config) validateSchemes() error {
	clientCerts := !cfg.ClientTLSInfo.Empty() || cfg.ClientAutoTLS
	for _, u := range append(slices.Clone(cfg.ListenClientUrls), cfg.ListenClientHttpUrls...) {
		if (u.Scheme == "https" || u.Scheme == "unixs") && !clientCerts {
			return fmt.Errorf("TLS key/cert (--cert-file, --key-file) must be provided for client url %s with HTTPS scheme", u.String())
		}
	}
	peerCerts := !cfg.PeerTLSInfo.Empty() || cfg.PeerAutoTLS
	for _, u := range cfg.ListenPeerUrls {
		if (u.Scheme == "unix" || u.Scheme == "unixs") && u.Path != "" {
			// Peers reach the socket named by the host (etcd's transport
			// dials unix://<host>): a path would never be reached.
			return fmt.Errorf(`unix socket peer URL %s must name its socket as the host ("unix://name:port"), without a path`, u.String())
		}
		if (u.Scheme == "https" || u.Scheme == "unixs") && !peerCerts {
			return fmt.Errorf("cannot listen on TLS for %s: KeyFile and CertFile are not presented", u.Host)
		}
	}
	for _, u := range cfg.ListenMetricsUrls {
		if (u.Scheme == "https" || u.Scheme == "unixs") && !clientCerts {
			return errors.New("client TLS key/cert (--cert-file, --key-file) must be provided for metrics secure url")
		}
	}
	return nil
}

// checkBindURLs refuses listen URLs with host names other than
// localhost: a member binds to IP addresses.
func checkBindURLs(urls []url.URL) error {
	for _, u := range urls {
		if u.Scheme == "unix" || u.Scheme == "unixs" {
			continue
		}
		host, _, err := net.SplitHostPort(u.Host)
		if err != nil {
			return err
		}
		if host == "localhost" {
			continue
		}
		if net.ParseIP(host) == nil {
			return fmt.Errorf("expected IP in URL for binding (%s)", u.String())
		}
	}
	return nil
}

func checkHostURLs(urls []url.URL) error {
	for _, u := range urls {
		if u.Scheme == "unix" || u.Scheme == "unixs" {
			continue
		}
		host, _, err := net.SplitHostPort(u.Host)
		if err != nil {
			return err
		}
		if host == "" {
			return fmt.Errorf("unexpected empty host (%s)", u.String())
		}
	}
	return nil
}

// ParseInitialCluster parses --initial-cluster ("name=url,name=url"; a
// name may repeat for several URLs).
func ParseInitialCluster(s string) (map[string][]url.URL, error) { return flags.ParseURLsMap(s) }

// VerifyBootstrap checks, for a member starting without data, that
// --initial-cluster names it with exactly its advertised peer URLs and
// has no URL twice.
func (cfg *Config) VerifyBootstrap() error {
	cluster, err := ParseInitialCluster(cfg.InitialCluster)
	if err != nil {
		return fmt.Errorf("error setting up initial cluster: %w", err)
	}
	// etcd checks for this member first, so an empty initial cluster is
	// reported as missing it.
	mine, ok := cluster[cfg.Name]
	if !ok {
		return fmt.Errorf("couldn't find local name %q in the initial cluster configuration", cfg.Name)
	}
	seen := map[string]bool{}
	for _, name := range sortedNames(cluster) {
		for _, u := range cluster[name] {
			if seen[u.String()] {
				return fmt.Errorf("initial cluster %s has duplicate url", clusterString(cluster))
			}
			seen[u.String()] = true
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	same, err := netutil.URLsEqual(ctx, cfg.AdvertisePeerUrls, mine)
	if same {
		return nil
	}
	adv := netutil.URLStrings(cfg.AdvertisePeerUrls)
	var missing []string
	for _, u := range netutil.URLStrings(mine) {
		if !slices.Contains(adv, u) {
			missing = append(missing, cfg.Name+"="+u)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("--initial-cluster has %s but missing from --initial-advertise-peer-urls=%s (%w)", strings.Join(missing, ","), strings.Join(adv, ","), err)
	}
	mineStr := netutil.URLStrings(mine)
	for _, u := range adv {
		if !slices.Contains(mineStr, u) {
			missing = append(missing, u)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("--initial-advertise-peer-urls has %s but missing from --initial-cluster=%s", strings.Join(missing, ","), clusterString(map[string][]url.URL{cfg.Name: cfg.AdvertisePeerUrls}))
	}
	return fmt.Errorf("failed to resolve %s to match --initial-cluster=%s (%w)", strings.Join(adv, ","), clusterString(map[string][]url.URL{cfg.Name: cfg.AdvertisePeerUrls}), err)
}

func sortedNames(m map[string][]url.URL) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func clusterString(m map[string][]url.URL) string {
	var pairs []string
	for _, n := range sortedNames(m) {
		for _, u := range m[n] {
			pairs = append(pairs, n+"="+u.String())
		}
	}
	slices.Sort(pairs)
	return strings.Join(pairs, ",")
}
