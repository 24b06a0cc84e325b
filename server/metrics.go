package server

import (
	"errors"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/basaltkv/basalt/server/membership"
	"github.com/basaltkv/basalt/storage/mvcc"
	"github.com/prometheus/client_golang/prometheus"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// metrics are the member's Prometheus metrics, with etcd's names, help,
// types, labels and buckets: users' dashboards and alerts work unchanged.
// The storage packages, the lessor, the peer transport and the API layer
// define and observe the metrics of their own work.
type metrics struct {
	hasLeader        prometheus.Gauge
	isLeader         prometheus.Gauge
	leaderChanges    prometheus.Counter
	proposalsPending prometheus.Gauge
	proposalsFailed  prometheus.Counter
	applied          prometheus.Gauge

	learnerPromoteSucceed prometheus.Counter
	learnerPromoteFailed  *prometheus.CounterVec
	slowApplies           prometheus.Counter

	heartbeatSendFailures   prometheus.Counter
	snapshotApplyInProgress prometheus.Gauge
	leaseExpired            prometheus.Counter
	slowReadIndexes         prometheus.Counter
	readIndexesFailed       prometheus.Counter

	// requestSec is a client request's handling by the member: a read
	// (Range, ReadonlyTxn) or a proposal, labelled with etcd's request
	// type; applySec a log entry's application, labelled with its op;
	// rangeSec a Range's read of the store.
	requestSec *prometheus.HistogramVec
	applySec   *prometheus.HistogramVec
	rangeSec   *prometheus.HistogramVec

	alarms         *prometheus.GaugeVec
	serverID       *prometheus.GaugeVec
	clusterVersion *prometheus.GaugeVec
	featureEnabled *prometheus.GaugeVec
	fdUsed         prometheus.Gauge
	fdLimit        prometheus.Gauge
}

// The collectors are process-wide, as etcd's are: several members in one
// process (tests) share them.
var (
	metricsOnce sync.Once
	shared      *metrics
	// dynamic gauges read from the most recently registered member.
	currentMu     sync.RWMutex
	currentMember *Member
)

func newMetrics() *metrics {
	metricsOnce.Do(func() {
		shared = &metrics{
			hasLeader: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "etcd", Subsystem: "server", Name: "has_leader",
				Help: "Whether or not a leader exists. 1 is existence, 0 is not."}),
			isLeader: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "etcd", Subsystem: "server", Name: "is_leader",
				Help: "Whether or not this member is a leader. 1 if is, 0 otherwise."}),
			leaderChanges: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "etcd", Subsystem: "server", Name: "leader_changes_seen_total",
				Help: "The number of leader changes seen."}),
			proposalsPending: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "etcd", Subsystem: "server", Name: "proposals_pending",
				Help: "The current number of pending proposals to commit."}),
			proposalsFailed: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "etcd", Subsystem: "server", Name: "proposals_failed_total",
				Help: "The total number of failed proposals seen."}),
			applied: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "etcd", Subsystem: "server", Name: "proposals_applied_total",
				Help: "The total number of consensus proposals applied."}),
			learnerPromoteSucceed: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "etcd", Subsystem: "server", Name: "learner_promote_successes",
				Help: "The total number of successful learner promotions while this member is leader."}),
			learnerPromoteFailed: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "etcd", Subsystem: "server", Name: "learner_promote_failures",
				Help: "The total number of failed learner promotions (likely learner not ready) while this member is leader."}, []string{"Reason"}),
			slowApplies: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "etcd", Subsystem: "server", Name: "slow_apply_total",
				Help: "The total number of slow apply requests (likely overloaded from slow disk)."}),
			heartbeatSendFailures: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "etcd", Subsystem: "server", Name: "heartbeat_send_failures_total",
				Help: "The total number of leader heartbeat send failures (likely overloaded from slow disk)."}),
			snapshotApplyInProgress: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "etcd", Subsystem: "server", Name: "snapshot_apply_in_progress_total",
				Help: "1 if the server is applying the incoming snapshot. 0 if none."}),
			leaseExpired: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "etcd_debugging", Subsystem: "server", Name: "lease_expired_total",
				Help: "The total number of expired leases."}),
			slowReadIndexes: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "etcd", Subsystem: "server", Name: "slow_read_indexes_total",
				Help: "The total number of pending read indexes not in sync with leader's or timed out read index requests."}),
			readIndexesFailed: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "etcd", Subsystem: "server", Name: "read_indexes_failed_total",
				Help: "The total number of failed read indexes seen."}),
			requestSec: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "etcd", Subsystem: "server", Name: "request_duration_seconds",
				Help: "Response latency distribution in seconds for each type.",
				// 1 ms to 8.192 s.
				Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}, []string{"type", "success"}),
			applySec: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "etcd", Subsystem: "server", Name: "apply_duration_seconds",
				// etcd's help still says v2; the series are labelled v3.
				Help: "The latency distributions of v2 apply called by backend.",
				// 0.1 ms to 52.4288 s.
				Buckets: prometheus.ExponentialBuckets(0.0001, 2, 20)}, []string{"version", "op", "success"}),
			rangeSec: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "etcd", Subsystem: "server", Name: "range_duration_seconds",
				Help:    "The latency distributions of txn.Range",
				Buckets: prometheus.ExponentialBuckets(0.0001, 2, 20)}, []string{"success"}),
			alarms: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "etcd_debugging", Subsystem: "server", Name: "alarms",
				Help: "Alarms for every member in cluster. 1 for 'server_id' label with current ID. 2 for 'alarm_type' label with type of this alarm"},
				[]string{"server_id", "alarm_type"}),
			serverID: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "etcd", Subsystem: "server", Name: "id",
				Help: "Server or member ID in hexadecimal format. 1 for 'server_id' label with current ID."}, []string{"server_id"}),
			clusterVersion: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "etcd", Subsystem: "cluster", Name: "version",
				Help: "Which version is running. 1 for 'cluster_version' label with current cluster version"}, []string{"cluster_version"}),
			featureEnabled: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "etcd_server_feature_enabled",
				Help: "Whether or not a feature is enabled. 1 is enabled, 0 is not."}, []string{"name", "stage"}),
			fdUsed: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "os", Subsystem: "fd", Name: "used",
				Help: "The number of used file descriptors."}),
			fdLimit: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "os", Subsystem: "fd", Name: "limit",
				Help: "The file descriptor limit."}),
		}
		serverVersion := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "etcd", Subsystem: "server", Name: "version",
			Help: "Which version is running. 1 for 'server_version' label with current version."}, []string{"server_version"})
		serverVersion.WithLabelValues(EtcdVersion).Set(1)
		goVersion := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "etcd", Subsystem: "server", Name: "go_version",
			Help: "Which Go version server is running with. 1 for 'server_go_version' label with current version."}, []string{"server_go_version"})
		goVersion.WithLabelValues(runtime.Version()).Set(1)
		prometheus.MustRegister(shared.hasLeader, shared.isLeader, shared.leaderChanges, shared.proposalsPending,
			shared.proposalsFailed, shared.applied,
			shared.learnerPromoteSucceed, shared.learnerPromoteFailed, shared.slowApplies,
			shared.heartbeatSendFailures, shared.snapshotApplyInProgress, shared.leaseExpired,
			shared.slowReadIndexes, shared.readIndexesFailed, shared.requestSec, shared.applySec, shared.rangeSec,
			shared.alarms, shared.serverID, shared.clusterVersion, shared.featureEnabled, shared.fdUsed, shared.fdLimit,
			serverVersion, goVersion, knownPeersCollector{})
		gauge := func(namespace, sub, name, help string, f func(m *Member) float64) {
			prometheus.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: namespace, Subsystem: sub, Name: name, Help: help},
				func() float64 {
					m := current()
					if m == nil {
						return 0
					}
					return f(m)
				}))
		}
		gauge("etcd", "server", "proposals_committed_total", "The total number of consensus proposals committed.",
			func(m *Member) float64 { return float64(m.raft.committed.Load()) })
		gauge("etcd", "mvcc", "db_total_size_in_bytes", "Total size of the underlying database physically allocated in bytes.",
			func(m *Member) float64 { return float64(m.st.be.Size()) })
		gauge("etcd", "mvcc", "db_total_size_in_use_in_bytes", "Total size of the underlying database logically in use in bytes.",
			func(m *Member) float64 { return float64(m.st.be.SizeInUse()) })
		gauge("etcd", "mvcc", "db_open_read_transactions", "The number of currently open read transactions",
			func(m *Member) float64 { return float64(m.st.be.OpenReadTxN()) })
		gauge("etcd", "server", "is_learner", "Whether or not this member is a learner. 1 if is, 0 otherwise.",
			func(m *Member) float64 { return boolGauge(m.IsLearner()) })
		gauge("etcd", "server", "quota_backend_bytes", "Current backend storage quota size in bytes.",
			func(m *Member) float64 { return float64(m.quotaBytes()) })
		gauge("etcd_debugging", "mvcc", "current_revision", "The current revision of store.",
			func(m *Member) float64 { return float64(m.st.kv.Rev()) })
		gauge("etcd_debugging", "mvcc", "compact_revision", "The revision of the last compaction in store.",
			func(m *Member) float64 { return float64(m.st.kv.CompactRev()) })
		gauge("etcd_debugging", "mvcc", "keys_total", "Total number of keys.",
			func(m *Member) float64 { return float64(m.st.kv.KeyCount()) })
		gauge("etcd_debugging", "mvcc", "slow_watcher_total", "Total number of unsynced slow watchers.",
			func(m *Member) float64 { return float64(m.st.kv.SlowWatchers()) })
		gauge("etcd_debugging", "auth", "revision", "The current revision of auth store.",
			func(m *Member) float64 { return float64(m.st.auth.Revision()) })
	})
	return shared
}

// current is the member the per-member gauges read, nil before one
// starts.
func current() *Member {
	currentMu.RLock()
	defer currentMu.RUnlock()
	return currentMember
}

// registerMetrics makes m the member the per-member gauges read, and sets
// what it knows at start: its ID, the cluster version, the feature gates.
func (m *Member) registerMetrics() {
	currentMu.Lock()
	currentMember = m
	currentMu.Unlock()
	mt := m.metrics
	mt.serverID.WithLabelValues(idString(m.id)).Set(1)
	mt.clusterVersion.WithLabelValues(majorMinor(EtcdClusterVersion)).Set(1)
	for _, f := range m.cfg.Features {
		mt.featureEnabled.WithLabelValues(f.Name, f.Stage).Set(boolGauge(f.Enabled))
	}
}

// majorMinor is a version's "major.minor", as etcd labels the cluster
// version.
func majorMinor(v string) string {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return v
	}
	return parts[0] + "." + parts[1]
}

// knownPeersDesc is etcd_network_known_peers: 1 for each member of the
// cluster (this one too), 0 for each removed, as this member knows them.
var knownPeersDesc = prometheus.NewDesc("etcd_network_known_peers", "The current number of known peers.", []string{"Local", "Remote"}, nil)

// knownPeersCollector reads the current member's membership when scraped.
type knownPeersCollector struct{}

func (knownPeersCollector) Describe(ch chan<- *prometheus.Desc) { ch <- knownPeersDesc }

func (knownPeersCollector) Collect(ch chan<- prometheus.Metric) {
	m := current()
	if m == nil {
		return
	}
	local := idString(m.id)
	for _, mem := range m.st.cluster.Members() {
		ch <- prometheus.MustNewConstMetric(knownPeersDesc, prometheus.GaugeValue, 1, local, membership.IDString(mem.ID))
	}
	for _, id := range m.st.cluster.RemovedIDs() {
		ch <- prometheus.MustNewConstMetric(knownPeersDesc, prometheus.GaugeValue, 0, local, membership.IDString(id))
	}
}

// observeRequest observes a client request's handling since start.
func (mt *metrics) observeRequest(typ string, start time.Time, err error) {
	mt.requestSec.WithLabelValues(typ, strconv.FormatBool(err == nil)).Observe(time.Since(start).Seconds())
}

// observeRange observes a Range's read of the store since start.
func (mt *metrics) observeRange(start time.Time, err error) {
	mt.rangeSec.WithLabelValues(strconv.FormatBool(err == nil)).Observe(time.Since(start).Seconds())
}

// requestType is etcd's name of a request's type, as the request and
// apply histograms label it.
func requestType(r *pb.InternalRaftRequest) string {
	switch {
	case r.Range != nil:
		return "Range"
	case r.Put != nil:
		return "Put"
	case r.DeleteRange != nil:
		return "DeleteRange"
	case r.Txn != nil:
		return "Txn"
	case r.Compaction != nil:
		return "Compaction"
	case r.LeaseGrant != nil:
		return "LeaseGrant"
	case r.LeaseRevoke != nil:
		return "LeaseRevoke"
	case r.LeaseCheckpoint != nil:
		return "LeaseCheckpoint"
	case r.Alarm != nil:
		return "Alarm"
	case r.Authenticate != nil:
		return "Authenticate"
	case r.AuthEnable != nil:
		return "AuthEnable"
	case r.AuthDisable != nil:
		return "AuthDisable"
	case r.AuthStatus != nil:
		return "AuthStatus"
	case r.AuthUserAdd != nil:
		return "AuthUserAdd"
	case r.AuthUserDelete != nil:
		return "AuthUserDelete"
	case r.AuthUserChangePassword != nil:
		return "AuthUserChangePassword"
	case r.AuthUserGrantRole != nil:
		return "AuthUserGrantRole"
	case r.AuthUserGet != nil:
		return "AuthUserGet"
	case r.AuthUserRevokeRole != nil:
		return "AuthUserRevokeRole"
	case r.AuthRoleAdd != nil:
		return "AuthRoleAdd"
	case r.AuthRoleGrantPermission != nil:
		return "AuthRoleGrantPermission"
	case r.AuthRoleGet != nil:
		return "AuthRoleGet"
	case r.AuthRoleRevokePermission != nil:
		return "AuthRoleRevokePermission"
	case r.AuthRoleDelete != nil:
		return "AuthRoleDelete"
	case r.AuthUserList != nil:
		return "AuthUserList"
	case r.AuthRoleList != nil:
		return "AuthRoleList"
	case r.ClusterVersionSet != nil:
		return "ClusterVersionSet"
	case r.ClusterMemberAttrSet != nil:
		return "ClusterMemberAttrSet"
	case r.DowngradeInfoSet != nil:
		return "DowngradeInfoSet"
	case r.DowngradeVersionTest != nil:
		return "DowngradeVersionTest"
	}
	return "Unknown"
}

// applyOp is etcd's label of an applied request's op: its request type,
// but that etcd's applier leaves AuthStatus "unknown" (it names no op for
// it), and basalt keeps the series etcd has.
func applyOp(r *pb.InternalRaftRequest) string {
	if r.AuthStatus != nil {
		return "unknown"
	}
	return requestType(r)
}

// observeApply observes an entry's application since start: a success
// unless it failed with other than ErrCompacted, as etcd counts.
func (mt *metrics) observeApply(r *pb.InternalRaftRequest, start time.Time, err error) {
	success := err == nil || isCompacted(err)
	mt.applySec.WithLabelValues("v3", applyOp(r), strconv.FormatBool(success)).Observe(time.Since(start).Seconds())
}

func isCompacted(err error) bool { return errors.Is(err, mvcc.ErrCompacted) }
