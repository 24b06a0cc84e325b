package lease

import "github.com/prometheus/client_golang/prometheus"

// The lessor's metrics carry etcd's names, help, types and buckets. They
// are process-wide, registered in the default registry with the package,
// as etcd's are. Grants and revocations are counted on every member, as
// they are applied; renewals on the primary, which alone renews.
var (
	grantedCounter = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "etcd_debugging",
		Subsystem: "lease",
		Name:      "granted_total",
		Help:      "The total number of granted leases.",
	})
	revokedCounter = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "etcd_debugging",
		Subsystem: "lease",
		Name:      "revoked_total",
		Help:      "The total number of revoked leases.",
	})
	renewedCounter = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "etcd_debugging",
		Subsystem: "lease",
		Name:      "renewed_total",
		Help:      "The number of renewed leases seen by the leader.",
	})
	// ttlHist is the TTL granted, in seconds, after raising it to the
	// minimum.
	ttlHist = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "etcd_debugging",
		Subsystem: "lease",
		Name:      "ttl_total",
		Help:      "Bucketed histogram of lease TTLs.",
		// 1 s to about 97 days.
		Buckets: prometheus.ExponentialBuckets(1, 2, 24),
	})
)

func init() {
	prometheus.MustRegister(grantedCounter, revokedCounter, renewedCounter, ttlHist)
}
