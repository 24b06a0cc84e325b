package wal

import (
	"time"

	"github.com/basaltkv/basalt/storage/vfs"
	"github.com/prometheus/client_golang/prometheus"
)

// The WAL's metrics carry etcd's names, help, types and buckets. They are
// process-wide, registered in the default registry with the package, as
// etcd's are.
var (
	fsyncSec = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "etcd",
		Subsystem: "disk",
		Name:      "wal_fsync_duration_seconds",
		Help:      "The latency distributions of fsync called by WAL.",
		// 1 ms to 8.192 s.
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
	})

	// writeSec is one write of encoded records: a Save's whole batch, or
	// a new segment's header records.
	writeSec = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "etcd",
		Subsystem: "disk",
		Name:      "wal_write_duration_seconds",
		Help:      "The latency distributions of write called by WAL.",
		Buckets:   prometheus.ExponentialBuckets(0.001, 2, 14),
	})

	// writeBytes is a gauge in etcd, though it only grows: kept so, a
	// change of type would break queries written for etcd.
	writeBytes = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "etcd",
		Subsystem: "disk",
		Name:      "wal_write_bytes_total",
		Help:      "Total number of bytes written in WAL.",
	})
)

func init() {
	prometheus.MustRegister(fsyncSec, writeSec, writeBytes)
}

// writeAt writes buf to f at off, for the metrics timed and counted.
func writeAt(f vfs.File, buf []byte, off int64) error {
	start := time.Now()
	n, err := f.WriteAt(buf, off)
	writeSec.Observe(time.Since(start).Seconds())
	writeBytes.Add(float64(n))
	return err
}
