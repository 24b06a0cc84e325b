package mvcc

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The store's metrics carry etcd's names, help, types and buckets. They
// are process-wide, registered in the default registry with the package,
// as etcd's are. What describes one store's state (revisions, live keys,
// slow watchers) is not here: the member reads it from its store (Rev,
// CompactRev, KeyCount, SlowWatchers) when scraped.
var (
	// rangeCounter, putCounter and deleteCounter count the Range, Put and
	// DeleteRange calls of every transaction, the member's own included;
	// txnCounter the transactions with more than one of them.
	rangeCounter = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "etcd",
		Subsystem: "mvcc",
		Name:      "range_total",
		Help:      "Total number of ranges seen by this member.",
	})
	putCounter = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "etcd",
		Subsystem: "mvcc",
		Name:      "put_total",
		Help:      "Total number of puts seen by this member.",
	})
	deleteCounter = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "etcd",
		Subsystem: "mvcc",
		Name:      "delete_total",
		Help:      "Total number of deletes seen by this member.",
	})
	txnCounter = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "etcd",
		Subsystem: "mvcc",
		Name:      "txn_total",
		Help:      "Total number of txns seen by this member.",
	})
	// totalPutSize sums the key and value lengths of every put. A gauge,
	// as etcd's.
	totalPutSize = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "etcd_debugging",
		Subsystem: "mvcc",
		Name:      "total_put_size_in_bytes",
		Help:      "The total size of put kv pairs seen by this member.",
	})

	watchStreamGauge = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "etcd_debugging",
		Subsystem: "mvcc",
		Name:      "watch_stream_total",
		Help:      "Total number of watch streams.",
	})
	// watcherGauge counts the watchers of open streams, from Watch to
	// Cancel or the stream's Close: one dropped for compaction counts
	// until its client cancels it, as in etcd.
	watcherGauge = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "etcd_debugging",
		Subsystem: "mvcc",
		Name:      "watcher_total",
		Help:      "Total number of watchers.",
	})
	// pendingEventsGauge counts the events handed to streams' channels
	// that the API layer has not taken yet (EventsReceived); eventsCounter
	// those it has.
	pendingEventsGauge = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "etcd_debugging",
		Subsystem: "mvcc",
		Name:      "pending_events_total",
		Help:      "Total number of pending events to be sent.",
	})
	eventsCounter = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "etcd_debugging",
		Subsystem: "mvcc",
		Name:      "events_total",
		Help:      "Total number of events sent by this member.",
	})

	indexCompactionPauseMs = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "etcd_debugging",
		Subsystem: "mvcc",
		Name:      "index_compaction_pause_duration_milliseconds",
		Help:      "Bucketed histogram of index compaction pause duration.",
		// 0.5 ms to 4.096 s.
		Buckets: prometheus.ExponentialBuckets(0.5, 2, 14),
	})
	// dbCompactionPauseMs is one batch of a compaction's backend cleaning,
	// from taking the batch to releasing it (and committing, but the
	// last).
	dbCompactionPauseMs = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "etcd_debugging",
		Subsystem: "mvcc",
		Name:      "db_compaction_pause_duration_milliseconds",
		Help:      "Bucketed histogram of db compaction pause duration.",
		// 1 ms to 4.096 s.
		Buckets: prometheus.ExponentialBuckets(1, 2, 13),
	})
	dbCompactionTotalMs = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "etcd_debugging",
		Subsystem: "mvcc",
		Name:      "db_compaction_total_duration_milliseconds",
		Help:      "Bucketed histogram of db compaction total duration.",
		// 100 ms to 819.2 s.
		Buckets: prometheus.ExponentialBuckets(100, 2, 14),
	})
	dbCompactionLast = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "etcd_debugging",
		Subsystem: "mvcc",
		Name:      "db_compaction_last",
		Help:      "The unix time of the last db compaction. Resets to 0 on start.",
	})
	dbCompactionKeys = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "etcd_debugging",
		Subsystem: "mvcc",
		Name:      "db_compaction_keys_total",
		Help:      "Total number of db keys compacted.",
	})

	hashSec = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "etcd",
		Subsystem: "mvcc",
		Name:      "hash_duration_seconds",
		Help:      "The latency distribution of storage hash operation.",
		// 10 ms to 163.84 s.
		Buckets: prometheus.ExponentialBuckets(.01, 2, 15),
	})
	// hashRevSec is a HashKV computed, not one a compaction stored.
	hashRevSec = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "etcd",
		Subsystem: "mvcc",
		Name:      "hash_rev_duration_seconds",
		Help:      "The latency distribution of storage hash by revision operation.",
		Buckets:   prometheus.ExponentialBuckets(.01, 2, 15),
	})
)

func init() {
	prometheus.MustRegister(rangeCounter, putCounter, deleteCounter, txnCounter, totalPutSize,
		watchStreamGauge, watcherGauge, pendingEventsGauge, eventsCounter,
		indexCompactionPauseMs, dbCompactionPauseMs, dbCompactionTotalMs, dbCompactionLast, dbCompactionKeys,
		hashSec, hashRevSec)
}

// EventsReceived tells the store's metrics that the API layer took n
// events from a WatchStream's channel, to send or to drop: each event a
// watcher was handed must be reported once.
func EventsReceived(n int) {
	if n == 0 {
		return
	}
	pendingEventsGauge.Sub(float64(n))
	eventsCounter.Add(float64(n))
}

// txnOps counts a transaction's operations, added to the counters at End.
type txnOps struct {
	ranges, puts, deletes int
	putSize               int
}

func (o *txnOps) report() {
	if o.ranges+o.puts+o.deletes > 1 {
		txnCounter.Inc()
	}
	if o.ranges > 0 {
		rangeCounter.Add(float64(o.ranges))
	}
	if o.puts > 0 {
		putCounter.Add(float64(o.puts))
		totalPutSize.Add(float64(o.putSize))
	}
	if o.deletes > 0 {
		deleteCounter.Add(float64(o.deletes))
	}
}

func milliseconds(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
