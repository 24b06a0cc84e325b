package rafthttp

import "github.com/prometheus/client_golang/prometheus"

// The metrics carry etcd's names, help texts and labels so that existing
// dashboards and alerts work unchanged. Member IDs in labels are
// hexadecimal, as etcd prints them.
var (
	activePeers = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "etcd",
		Subsystem: "network",
		Name:      "active_peers",
		Help:      "The current number of active peer connections.",
	}, []string{"Local", "Remote"})

	disconnectedPeers = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "etcd",
		Subsystem: "network",
		Name:      "disconnected_peers_total",
		Help:      "The total number of disconnected peers.",
	}, []string{"Local", "Remote"})

	sentBytes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "etcd",
		Subsystem: "network",
		Name:      "peer_sent_bytes_total",
		Help:      "The total number of bytes sent to peers.",
	}, []string{"To"})

	receivedBytes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "etcd",
		Subsystem: "network",
		Name:      "peer_received_bytes_total",
		Help:      "The total number of bytes received from peers.",
	}, []string{"From"})

	sentFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "etcd",
		Subsystem: "network",
		Name:      "peer_sent_failures_total",
		Help:      "The total number of send failures from peers.",
	}, []string{"To"})

	recvFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "etcd",
		Subsystem: "network",
		Name:      "peer_received_failures_total",
		Help:      "The total number of receive failures from peers.",
	}, []string{"From"})

	snapshotSend = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "etcd",
		Subsystem: "network",
		Name:      "snapshot_send_success",
		Help:      "Total number of successful snapshot sends",
	}, []string{"To"})

	snapshotSendInflights = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "etcd",
		Subsystem: "network",
		Name:      "snapshot_send_inflights_total",
		Help:      "Total number of inflight snapshot sends",
	}, []string{"To"})

	snapshotSendFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "etcd",
		Subsystem: "network",
		Name:      "snapshot_send_failures",
		Help:      "Total number of snapshot send failures",
	}, []string{"To"})

	snapshotSendSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "etcd",
		Subsystem: "network",
		Name:      "snapshot_send_total_duration_seconds",
		Help:      "Total latency distributions of v3 snapshot sends",
		// 100 ms to 51.2 s.
		Buckets: prometheus.ExponentialBuckets(0.1, 2, 10),
	}, []string{"To"})

	snapshotReceive = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "etcd",
		Subsystem: "network",
		Name:      "snapshot_receive_success",
		Help:      "Total number of successful snapshot receives",
	}, []string{"From"})

	snapshotReceiveInflights = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "etcd",
		Subsystem: "network",
		Name:      "snapshot_receive_inflights_total",
		Help:      "Total number of inflight snapshot receives",
	}, []string{"From"})

	snapshotReceiveFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "etcd",
		Subsystem: "network",
		Name:      "snapshot_receive_failures",
		Help:      "Total number of snapshot receive failures",
	}, []string{"From"})

	snapshotReceiveSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "etcd",
		Subsystem: "network",
		Name:      "snapshot_receive_total_duration_seconds",
		Help:      "Total latency distributions of v3 snapshot receives",
		// 100 ms to 51.2 s.
		Buckets: prometheus.ExponentialBuckets(0.1, 2, 10),
	}, []string{"From"})

	rttSec = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "etcd",
		Subsystem: "network",
		Name:      "peer_round_trip_time_seconds",
		Help:      "Round-Trip-Time histogram between peers",
		// 0.1 ms to 3.2768 s.
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
	}, []string{"To"})
)

func init() {
	prometheus.MustRegister(
		activePeers,
		disconnectedPeers,
		sentBytes,
		receivedBytes,
		sentFailures,
		recvFailures,
		snapshotSend,
		snapshotSendInflights,
		snapshotSendFailures,
		snapshotSendSeconds,
		snapshotReceive,
		snapshotReceiveInflights,
		snapshotReceiveFailures,
		snapshotReceiveSeconds,
		rttSec,
	)
}

// unknownSnapshotSender labels snapshot receive failures that happen before
// the sender is known, as etcd does.
const unknownSnapshotSender = "UNKNOWN_SNAPSHOT_SENDER"
