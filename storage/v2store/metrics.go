package v2store

import "github.com/prometheus/client_golang/prometheus"

// getRecursive is the read action of a recursive get in the metrics.
const getRecursive = "getRecursive"

// storeMetrics are etcd's etcd_debugging_store_* families, process-wide.
type storeMetrics struct {
	reads, readsFailed, writes, writesFailed *prometheus.CounterVec
	expires, watchRequests                   prometheus.Counter
	watchers                                 prometheus.Gauge
}

var metrics = storeMetrics{
	reads: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "etcd_debugging", Subsystem: "store", Name: "reads_total",
		Help: "Total number of reads action by (get/getRecursive), local to this member."}, []string{"action"}),
	readsFailed: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "etcd_debugging", Subsystem: "store", Name: "reads_failed_total",
		Help: "Failed read actions by (get/getRecursive), local to this member."}, []string{"action"}),
	writes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "etcd_debugging", Subsystem: "store", Name: "writes_total",
		Help: "Total number of writes (e.g. set/compareAndDelete) seen by this member."}, []string{"action"}),
	writesFailed: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "etcd_debugging", Subsystem: "store", Name: "writes_failed_total",
		Help: "Failed write actions (e.g. set/compareAndDelete), seen by this member."}, []string{"action"}),
	expires: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "etcd_debugging", Subsystem: "store", Name: "expires_total",
		Help: "Total number of expired keys."}),
	watchRequests: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "etcd_debugging", Subsystem: "store", Name: "watch_requests_total",
		Help: "Total number of incoming watch requests (new or reestablished)."}),
	watchers: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "etcd_debugging", Subsystem: "store", Name: "watchers",
		Help: "Count of currently active watchers."}),
}

func init() {
	prometheus.MustRegister(metrics.reads, metrics.readsFailed, metrics.writes, metrics.writesFailed,
		metrics.expires, metrics.watchRequests, metrics.watchers)
}

func (m *storeMetrics) read(action string, ok bool) {
	m.reads.WithLabelValues(action).Inc()
	if !ok {
		m.readsFailed.WithLabelValues(action).Inc()
	}
}

func (m *storeMetrics) write(action string, ok bool) {
	m.writes.WithLabelValues(action).Inc()
	if !ok {
		m.writesFailed.WithLabelValues(action).Inc()
	}
}
