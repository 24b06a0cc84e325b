package embed

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/basaltkv/basalt/pkg/netutil"
	"go.uber.org/zap"
)

// ErrConflictBootstrapFlags is etcd's error for more than one way to find
// the initial cluster. It names etcd 3.7's three ways; basalt also has
// etcd 3.4's discovery URL, and a conflict that involves it gets etcd
// 3.6's message, which names all four (ErrConflictBootstrapFlagsV2).
var ErrConflictBootstrapFlags = errors.New(`multiple discovery or bootstrap flags are set. Choose one of "initial-cluster", "discovery-endpoints" or "discovery-srv"`)

// ErrConflictBootstrapFlagsV2 is etcd 3.6's error for more than one way
// to find the initial cluster, one of them --discovery.
var ErrConflictBootstrapFlagsV2 = errors.New(`multiple discovery or bootstrap flags are set. Choose one of "initial-cluster", "discovery", "discovery-endpoints" or "discovery-srv"`)

// srvLookupTimeout bounds the DNS SRV lookups of --discovery-srv.
const srvLookupTimeout = 30 * time.Second

// ShouldDiscover reports whether a new member finds its cluster by
// discovery: etcd's v3 discovery, or etcd 3.4's discovery URL.
func (cfg *Config) ShouldDiscover() bool { return cfg.ShouldDiscoverV3() || cfg.Durl != "" }

// ShouldDiscoverV3 reports whether a new member finds its cluster by
// etcd's v3 discovery (--discovery-endpoints).
func (cfg *Config) ShouldDiscoverV3() bool { return len(cfg.DiscoveryCfg.Endpoints) > 0 }

// UsesDiscovery reports whether the initial cluster comes from discovery
// (v3, v2 or DNS) rather than --initial-cluster.
func (cfg *Config) UsesDiscovery() bool {
	return cfg.ShouldDiscover() || cfg.DNSCluster != "" || cfg.DNSClusterServiceName != ""
}

// validateDiscovery checks the bootstrap settings as etcd does.
func (cfg *Config) validateDiscovery() error {
	n := 0
	for _, set := range []bool{cfg.InitialCluster != "", cfg.DNSCluster != "", cfg.ShouldDiscoverV3(), cfg.Durl != ""} {
		if set {
			n++
		}
	}
	if n > 1 {
		if cfg.Durl != "" {
			return ErrConflictBootstrapFlagsV2
		}
		return ErrConflictBootstrapFlags
	}
	// etcd 3.6's check, whose v2 side is --discovery-proxy alone.
	v3 := cfg.ShouldDiscoverV3() || cfg.DiscoveryCfg.Token != "" || cfg.DiscoveryCfg.Secure.Cert != "" ||
		cfg.DiscoveryCfg.Secure.Key != "" || cfg.DiscoveryCfg.Secure.Cacert != "" ||
		cfg.DiscoveryCfg.Auth.Username != "" || cfg.DiscoveryCfg.Auth.Password != ""
	if cfg.Dproxy != "" && v3 {
		return errors.New("both v2 discovery settings (discovery, discovery-proxy) " +
			"and v3 discovery settings (discovery-token, discovery-endpoints, discovery-cert, " +
			"discovery-key, discovery-cacert, discovery-user, discovery-password) are set")
	}
	if (cfg.DiscoveryCfg.Token != "") != cfg.ShouldDiscoverV3() {
		return errors.New("both --discovery-token and --discovery-endpoints must be set")
	}
	for _, ep := range cfg.DiscoveryCfg.Endpoints {
		if strings.TrimSpace(ep) == "" {
			return errors.New("--discovery-endpoints must not contain empty endpoints")
		}
	}
	return nil
}

// ResolveInitialCluster sets the initial cluster of a member that has no
// data yet, as etcd does: with v3 discovery, only this member (the others
// are found when it starts) and the discovery token as the cluster token
// (with a discovery URL, the URL is the token);
// with --discovery-srv, the members the SRV records list, which must
// include this one.
func (cfg *Config) ResolveInitialCluster(lg *zap.Logger) error {
	switch {
	case cfg.ShouldDiscoverV3():
		cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
		cfg.InitialClusterToken = cfg.DiscoveryCfg.Token
	case cfg.Durl != "":
		// etcd 3.4's rule: the cluster token is the discovery URL itself.
		cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
		cfg.InitialClusterToken = cfg.Durl
	case cfg.DNSCluster != "":
		ctx, cancel := context.WithTimeout(context.Background(), srvLookupTimeout)
		defer cancel()
		pairs, err := netutil.SRVCluster(ctx, cfg.DNSCluster, cfg.DNSClusterServiceName, cfg.Name, cfg.AdvertisePeerUrls)
		if err != nil {
			lg.Warn("failed to resolve during SRV discovery", zap.Error(err))
		}
		if len(pairs) == 0 {
			return fmt.Errorf("error setting up initial cluster: %w", err)
		}
		for _, p := range pairs {
			lg.Info("got bootstrap from DNS for etcd-server", zap.String("node", p))
		}
		cfg.InitialCluster = strings.Join(pairs, ",")
		if strings.Contains(cfg.InitialCluster, "https://") && cfg.PeerTLSInfo.TrustedCAFile == "" {
			cfg.PeerTLSInfo.ServerName = cfg.DNSCluster
		}
		cluster, err := ParseInitialCluster(cfg.InitialCluster)
		if err != nil {
			return fmt.Errorf("error setting up initial cluster: %w", err)
		}
		if _, ok := cluster[cfg.Name]; !ok {
			return fmt.Errorf("error setting up initial cluster: cannot find local etcd member %q in SRV records", cfg.Name)
		}
	}
	return nil
}
