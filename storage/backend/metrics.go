package backend

import "github.com/prometheus/client_golang/prometheus"

// The backend's metrics carry etcd's names, help, types and buckets, so
// that dashboards written for etcd read them unchanged. They are
// process-wide, registered in the default registry with the package, as
// etcd's are: the backends of several members in one process (tests)
// add to the same series.
var (
	commitSec = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "etcd",
		Subsystem: "disk",
		Name:      "backend_commit_duration_seconds",
		Help:      "The latency distributions of commit called by backend.",
		// 1 ms to 8.192 s.
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
	})

	// rebalanceSec, spillSec and writeSec split a commit into bbolt's
	// phases, from the transaction's own statistics.
	rebalanceSec = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "etcd_debugging",
		Subsystem: "disk",
		Name:      "backend_commit_rebalance_duration_seconds",
		Help:      "The latency distributions of commit.rebalance called by bboltdb backend.",
		Buckets:   prometheus.ExponentialBuckets(0.001, 2, 14),
	})
	spillSec = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "etcd_debugging",
		Subsystem: "disk",
		Name:      "backend_commit_spill_duration_seconds",
		Help:      "The latency distributions of commit.spill called by bboltdb backend.",
		Buckets:   prometheus.ExponentialBuckets(0.001, 2, 14),
	})
	writeSec = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "etcd_debugging",
		Subsystem: "disk",
		Name:      "backend_commit_write_duration_seconds",
		Help:      "The latency distributions of commit.write called by bboltdb backend.",
		Buckets:   prometheus.ExponentialBuckets(0.001, 2, 14),
	})

	defragSec = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "etcd",
		Subsystem: "disk",
		Name:      "backend_defrag_duration_seconds",
		Help:      "The latency distribution of backend defragmentation.",
		// 100 ms to 409.6 s.
		Buckets: prometheus.ExponentialBuckets(.1, 2, 13),
	})

	// snapshotSec is the life of a Snapshot, from its transaction's start
	// to Close: the time to stream the database to a client or a peer.
	snapshotSec = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "etcd",
		Subsystem: "disk",
		Name:      "backend_snapshot_duration_seconds",
		Help:      "The latency distribution of backend snapshots.",
		// 10 ms to 655.36 s.
		Buckets: prometheus.ExponentialBuckets(.01, 2, 17),
	})

	defragInflight = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "etcd",
		Subsystem: "disk",
		Name:      "defrag_inflight",
		Help:      "Whether or not defrag is active on the member. 1 means active, 0 means not.",
	})
)

func init() {
	prometheus.MustRegister(commitSec, rebalanceSec, spillSec, writeSec, defragSec, snapshotSec, defragInflight)
}
