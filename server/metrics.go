package server

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the member's Prometheus metrics, with etcd's names: users'
// dashboards and alerts work unchanged.
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
		}
		prometheus.MustRegister(shared.hasLeader, shared.isLeader, shared.leaderChanges, shared.proposalsPending,
			shared.proposalsFailed, shared.applied,
			shared.learnerPromoteSucceed, shared.learnerPromoteFailed, shared.slowApplies)
		gauge := func(sub, name, help string, f func(m *Member) float64) {
			prometheus.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "etcd", Subsystem: sub, Name: name, Help: help},
				func() float64 {
					currentMu.RLock()
					m := currentMember
					currentMu.RUnlock()
					if m == nil {
						return 0
					}
					return f(m)
				}))
		}
		gauge("server", "proposals_committed_total", "The total number of consensus proposals committed.",
			func(m *Member) float64 { return float64(m.raft.committed.Load()) })
		gauge("mvcc", "db_total_size_in_bytes", "Total size of the underlying database physically allocated in bytes.",
			func(m *Member) float64 { return float64(m.st.be.Size()) })
		gauge("mvcc", "db_total_size_in_use_in_bytes", "Total size of the underlying database logically in use in bytes.",
			func(m *Member) float64 { return float64(m.st.be.SizeInUse()) })
		gauge("server", "is_learner", "Whether or not this member is a learner. 1 if is, 0 otherwise.",
			func(m *Member) float64 { return boolGauge(m.IsLearner()) })
		gauge("server", "quota_backend_bytes", "Current backend storage quota size in bytes.",
			func(m *Member) float64 { return float64(m.quotaBytes()) })
	})
	return shared
}

func (m *Member) registerMetrics() {
	currentMu.Lock()
	currentMember = m
	currentMu.Unlock()
}
