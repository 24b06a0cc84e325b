package embed

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/basaltkv/basalt/pkg/flags"
	"github.com/basaltkv/basalt/server"
	"github.com/basaltkv/basalt/server/discovery"
	"go.uber.org/zap"
)

// ParseCompactionRetention reads --auto-compaction-retention: a whole
// number is hours (periodic) or revisions (revision); otherwise a
// duration (periodic only — basalt refuses a duration in revision mode,
// which etcd would read as a revision count in nanoseconds).
func ParseCompactionRetention(mode, retention string) (time.Duration, error) {
	if retention == "" {
		retention = DefaultAutoCompactionRetention
	}
	if n, err := strconv.Atoi(retention); err == nil && n >= 0 {
		switch mode {
		case CompactorModeRevision:
			return time.Duration(n), nil
		case CompactorModePeriodic:
			return time.Duration(n) * time.Hour, nil
		case "":
			return 0, errors.New("--auto-compaction-mode is undefined")
		}
	}
	if mode == CompactorModeRevision {
		return 0, fmt.Errorf("invalid --auto-compaction-retention %q: revision mode needs a number of revisions", retention)
	}
	d, err := time.ParseDuration(retention)
	if err != nil {
		return 0, fmt.Errorf("error parsing CompactionRetention: %w", err)
	}
	if d < 0 {
		return 0, fmt.Errorf("invalid --auto-compaction-retention %q: must not be negative", retention)
	}
	return d, nil
}

// ServerConfig is the member's configuration. peerTLS is PeerDialTLS's.
func (cfg *Config) ServerConfig(lg *zap.Logger) (server.Config, error) {
	cluster, err := ParseInitialCluster(cfg.InitialCluster)
	if err != nil {
		return server.Config{}, fmt.Errorf("error setting up initial cluster: %w", err)
	}
	peerTLS, err := cfg.PeerDialTLS()
	if err != nil {
		return server.Config{}, err
	}
	gates, err := ParseFeatureGates(cfg.FeatureGates)
	if err != nil {
		return server.Config{}, err
	}
	var disc *discovery.Config
	if cfg.ShouldDiscoverV3() {
		disc = &cfg.DiscoveryCfg
	}
	retention := cfg.AutoCompactionRetention
	if retention == "" {
		retention = DefaultAutoCompactionRetention
	}
	return server.Config{
		Name:                       cfg.Name,
		DataDir:                    cfg.Dir,
		WALDir:                     cfg.WalDir,
		SnapshotCount:              cfg.SnapshotCount,
		SnapshotCatchUpEntries:     cfg.SnapshotCatchUpEntries,
		MaxSnapshots:               cfg.MaxSnapFiles,
		MaxWALs:                    cfg.MaxWalFiles,
		TickMs:                     cfg.TickMs,
		ElectionTicks:              cfg.ElectionTicks(),
		PreVote:                    cfg.PreVote,
		InitialElectionTickAdvance: cfg.InitialElectionTickAdvance,
		InitialCluster:             cluster,
		InitialClusterToken:        cfg.InitialClusterToken,
		NewCluster:                 cfg.IsNewCluster(),
		Discovery:                  disc,
		DiscoveryURL:               cfg.Durl,
		DiscoveryProxy:             cfg.Dproxy,
		CheckDataDirCluster: cfg.IsNewCluster() &&
			(cfg.ExplicitlySet["initial-cluster"] || cfg.ExplicitlySet["initial-cluster-token"]),
		ForceNewCluster:            cfg.ForceNewCluster,
		StrictReconfigCheck:        cfg.StrictReconfigCheck,
		MaxLearners:                cfg.MaxLearners,
		CorruptCheckTime:           cfg.CorruptCheckTime,
		CompactHashCheck:           gates.Enabled(GateCompactHashCheck),
		CompactHashCheckTime:       cfg.CompactHashCheckTime,
		FastLeaseKeepAlive:         gates.Enabled(GateFastLeaseKeepAlive),
		LeaseCheckpoint:            gates.Enabled(GateLeaseCheckpoint),
		PriorityRequest:            gates.Enabled(GatePriorityRequest),
		Features:                   gates.serverFeatures(),
		PeerURLs:                   cfg.AdvertisePeerUrls,
		ClientURLs:                 cfg.AdvertiseClientUrls,
		QuotaBackendBytes:          cfg.QuotaBackendBytes,
		BackendBatchInterval:       cfg.BackendBatchInterval,
		BackendBatchLimit:          cfg.BackendBatchLimit,
		MaxRequestBytes:            cfg.MaxRequestBytes,
		MaxTxnOps:                  cfg.MaxTxnOps,
		AutoCompactionMode:         cfg.AutoCompactionMode,
		AutoCompactionRetention:    retention,
		PeerTLS:                    peerTLS,
		RaftReadTimeout:            cfg.RaftReadTimeout,
		RaftWriteTimeout:           cfg.RaftWriteTimeout,
		WarningApplyDuration:       cfg.WarningApplyDuration,
		UnsafeNoFsync:              cfg.UnsafeNoFsync,
		BackendFreelistArray:       cfg.BackendFreelistType == "array",
		BootstrapDefragThresholdMB: cfg.BootstrapDefragThresholdMegabytes,
		CompactionBatchLimit:       cfg.CompactionBatchLimit,
		MemoryMlock:                cfg.MemoryMlock,
		CompactionSleepInterval:    cfg.CompactionSleepInterval,
		AuthToken:                  cfg.AuthToken,
		AuthTokenTTL:               time.Duration(cfg.AuthTokenTTL) * time.Second,
		BcryptCost:                 int(cfg.BcryptCost),
		PeerLocalIP:                cfg.InferLocalAddr(lg),
		Logger:                     lg,
	}, nil
}

// InferLocalAddr is the address connections to peers come from, as etcd
// picks it with the SetMemberLocalAddr gate: the first advertised peer
// URL whose host is an IP address neither loopback nor unspecified. ""
// (the system's choice) without the gate or such a URL.
func (cfg *Config) InferLocalAddr(lg *zap.Logger) string {
	if !cfg.FeatureEnabled(GateSetMemberLocalAddr) {
		return ""
	}
	if lg == nil {
		lg = zap.NewNop()
	}
	adv := flags.URLsString(cfg.AdvertisePeerUrls)
	lg.Info("searching for a suitable member local address in AdvertisePeerURLs", zap.String("advertise-peer-urls", adv))
	for _, u := range cfg.AdvertisePeerUrls {
		if addr, err := netip.ParseAddr(u.Hostname()); err == nil && !addr.IsLoopback() && !addr.IsUnspecified() {
			lg.Info("setting member local address", zap.String("LocalAddr", addr.String()))
			return addr.String()
		}
	}
	lg.Warn("unable to set a member local address due to lack of suitable local addresses", zap.String("advertise-peer-urls", adv))
	return ""
}
