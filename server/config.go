package server

import (
	"crypto/tls"
	"net/url"
	"time"

	"github.com/basaltkv/basalt/server/datadir"
	"github.com/basaltkv/basalt/server/discovery"
	"github.com/basaltkv/basalt/server/schema"
	"go.uber.org/zap"
)

// EtcdVersion is the etcd release whose API basalt implements. Clients
// gate features on the version a server reports, so Status.version,
// /version's etcdserver and the cluster version report this, not basalt's
// own version (which is reported beside it).
const EtcdVersion = "3.7.0"

// EtcdClusterVersion is the cluster version reported (major.minor.0).
const EtcdClusterVersion = "3.7.0"

// StorageVersion is the version of etcd's on-disk schema the backend
// follows (see package schema).
const StorageVersion = schema.StorageVersion

// Version is basalt's own version.
const Version = "0.1.0-dev"

// Config is everything a member needs; cmd/basalt builds it from etcd's
// flags, environment variables and config file. Zero values are not
// defaults: cmd/basalt applies etcd's defaults.
type Config struct {
	Name    string
	DataDir string
	// WALDir, if set, holds the WAL instead of DataDir/member/wal.
	WALDir string

	// SnapshotCount is the number of applied entries between snapshots.
	SnapshotCount uint64
	// SnapshotCatchUpEntries is how many entries a snapshot leaves in the
	// log for slow followers to catch up from.
	SnapshotCatchUpEntries uint64
	MaxSnapshots           uint
	MaxWALs                uint

	// TickMs is the heartbeat interval; ElectionTicks the election
	// timeout in heartbeats.
	TickMs        uint
	ElectionTicks int
	PreVote       bool
	// InitialElectionTickAdvance fast-forwards the election timer at boot
	// once peers are connected (a single member always does).
	InitialElectionTickAdvance bool

	// InitialCluster maps member names to peer URLs.
	InitialCluster      map[string][]url.URL
	InitialClusterToken string
	// NewCluster is true for --initial-cluster-state=new.
	NewCluster bool
	// Discovery, when set, makes a new member find the other members of
	// its new cluster through etcd's v3 discovery (--discovery-token and
	// --discovery-endpoints): InitialCluster then holds only this member,
	// and InitialClusterToken is the discovery token.
	Discovery *discovery.Config
	// DiscoveryURL, when set, makes a new member find the other members
	// of its new cluster through etcd 3.4's discovery URL (--discovery),
	// reached through the HTTP proxy DiscoveryProxy if set: InitialCluster
	// then holds only this member, and InitialClusterToken is the URL.
	DiscoveryURL   string
	DiscoveryProxy string
	// CheckDataDirCluster refuses, on restart, a data dir bootstrapped as
	// another member or cluster than InitialCluster and its token make.
	// Set when those were given explicitly: a restart with none of them
	// uses the data dir's own identity, as etcd does.
	CheckDataDirCluster bool
	// ForceNewCluster restarts an existing data dir as the only voter of
	// its cluster (--force-new-cluster): see forceNewCluster.
	ForceNewCluster bool
	// StrictReconfigCheck refuses membership changes that would leave the
	// cluster without a quorum of started, connected members
	// (--strict-reconfig-check); MaxLearners bounds the learners
	// (--max-learners).
	StrictReconfigCheck bool
	MaxLearners         int

	// CorruptCheckTime is the interval of the leader's hash comparison with
	// its peers (--corrupt-check-time, 0: off); CompactHashCheckTime that
	// of its comparison of the hashes stored at compactions, done when
	// CompactHashCheck (the feature gate) is set.
	CorruptCheckTime     time.Duration
	CompactHashCheck     bool
	CompactHashCheckTime time.Duration

	// The feature gates the member itself honours (etcd's): a leader's
	// renewal of a known lease does not wait for the applied index
	// (FastLeaseKeepAlive); the leader checkpoints leases' remaining TTLs
	// (LeaseCheckpoint); a lease revocation is accepted twice as far behind
	// the commit index as other requests (PriorityRequest).
	FastLeaseKeepAlive bool
	LeaseCheckpoint    bool
	PriorityRequest    bool
	// Features are every feature gate's value with its stage, as
	// etcd_server_feature_enabled reports them.
	Features []Feature

	// PeerURLs are this member's advertised peer URLs; ClientURLs its
	// advertised client URLs.
	PeerURLs   []url.URL
	ClientURLs []url.URL

	QuotaBackendBytes    int64
	BackendBatchInterval time.Duration
	BackendBatchLimit    int
	MaxRequestBytes      uint
	MaxTxnOps            uint

	// AutoCompactionMode is "periodic" or "revision"; Retention its
	// argument (a duration, or a number of revisions as a string).
	AutoCompactionMode      string
	AutoCompactionRetention string

	// AuthToken is --auth-token ("simple", or "jwt,<options>"; empty:
	// simple), AuthTokenTTL a simple token's life unused
	// (--auth-token-ttl), BcryptCost the cost passwords are hashed with
	// (--bcrypt-cost).
	AuthToken    string
	AuthTokenTTL time.Duration
	BcryptCost   int

	// WarningApplyDuration: an apply, or a read served outside the log,
	// slower than this is logged and counted (--warning-apply-duration;
	// 0: 100ms).
	WarningApplyDuration time.Duration

	// CompactionBatchLimit is the number of revisions a compaction
	// deletes from the backend per batch, CompactionSleepInterval the
	// pause between batches (--compaction-batch-limit,
	// --compaction-sleep-interval; 0: 1,000 and 10ms, etcd's).
	CompactionBatchLimit    int
	CompactionSleepInterval time.Duration
	// BootstrapDefragThresholdMB: at start, the backend is defragmented
	// if at least this many megabytes of it are free
	// (--bootstrap-defrag-threshold-megabytes; 0: never).
	BootstrapDefragThresholdMB uint
	// MemoryMlock locks the backend's pages in memory (--memory-mlock).
	MemoryMlock bool
	// BackendFreelistArray is --backend-bbolt-freelist-type=array.
	BackendFreelistArray bool
	// UnsafeNoFsync skips the WAL's and the backend's fsyncs
	// (--unsafe-no-fsync, for tests).
	UnsafeNoFsync bool

	// RaftReadTimeout and RaftWriteTimeout bound every read and write on
	// a peer connection (--raft-read-timeout, --raft-write-timeout; 0:
	// 5s).
	RaftReadTimeout, RaftWriteTimeout time.Duration

	// PeerLocalIP, if set, is the address the member's connections to its
	// peers come from (etcd's SetMemberLocalAddr gate).
	PeerLocalIP string

	// PeerTLS secures peer traffic (nil: plain). PeerTLSInfo checks
	// allowed CN/hostname of peers.
	PeerTLS *tls.Config

	Logger *zap.Logger
}

// Layout is where the data dir's files are.
func (c *Config) Layout() datadir.Layout { return datadir.Layout{DataDir: c.DataDir, WALDir: c.WALDir} }

// Feature is a feature gate's value (etcd's name and stage: ALPHA or
// BETA).
type Feature struct {
	Name, Stage string
	Enabled     bool
}

// ElectionTimeout is the election timeout as a duration.
func (c *Config) ElectionTimeout() time.Duration {
	return time.Duration(c.ElectionTicks) * time.Duration(c.TickMs) * time.Millisecond
}

// DefaultWarningApplyDuration is etcd's --warning-apply-duration.
const DefaultWarningApplyDuration = 100 * time.Millisecond

func (c *Config) warningApplyDuration() time.Duration {
	if c.WarningApplyDuration <= 0 {
		return DefaultWarningApplyDuration
	}
	return c.WarningApplyDuration
}
