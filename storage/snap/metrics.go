package snap

import "github.com/prometheus/client_golang/prometheus"

// The snapshotter's metrics carry etcd's names, help, types and buckets.
// They are process-wide, registered in the default registry with the
// package, as etcd's are.
var (
	// saveMarshalSec is the encoding of a raft snapshot before it is
	// written.
	saveMarshalSec = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "etcd_debugging",
		Subsystem: "snap",
		Name:      "save_marshalling_duration_seconds",
		Help:      "The marshalling cost distributions of save called by snapshot.",
		// 1 ms to 8.192 s.
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
	})

	// saveSec is a whole successful SaveSnap.
	saveSec = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "etcd_debugging",
		Subsystem: "snap",
		Name:      "save_total_duration_seconds",
		Help:      "The total latency distributions of save called by snapshot.",
		Buckets:   prometheus.ExponentialBuckets(0.001, 2, 14),
	})

	// fsyncSec is the fsync of a raft snapshot file.
	fsyncSec = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "etcd",
		Subsystem: "snap",
		Name:      "fsync_duration_seconds",
		Help:      "The latency distributions of fsync called by snap.",
		Buckets:   prometheus.ExponentialBuckets(0.001, 2, 14),
	})

	// dbSaveSec is a whole successful SaveDBFrom: receiving the leader's
	// database, syncing, verifying and renaming it.
	dbSaveSec = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "etcd",
		Subsystem: "snap_db",
		Name:      "save_total_duration_seconds",
		Help:      "The total latency distributions of v3 snapshot save",
		// 100 ms to 51.2 s.
		Buckets: prometheus.ExponentialBuckets(0.1, 2, 10),
	})

	// dbFsyncSec is the fsync of a received database file.
	dbFsyncSec = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "etcd",
		Subsystem: "snap_db",
		Name:      "fsync_duration_seconds",
		Help:      "The latency distributions of fsyncing .snap.db file",
		Buckets:   prometheus.ExponentialBuckets(0.001, 2, 14),
	})
)

func init() {
	prometheus.MustRegister(saveMarshalSec, saveSec, fsyncSec, dbSaveSec, dbFsyncSec)
}
