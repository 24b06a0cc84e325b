package v2http

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/basaltkv/basalt/storage/v2store"
	"github.com/prometheus/client_golang/prometheus"
)

// v2Metrics are etcd's etcd_http_* families of the v2 keys API.
type v2Metrics struct {
	received   *prometheus.CounterVec
	failedVec  *prometheus.CounterVec
	successSec *prometheus.HistogramVec
}

var httpMetrics = v2Metrics{
	received: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "etcd", Subsystem: "http", Name: "received_total",
		Help: "Counter of requests received into the system (successfully parsed and authd)."}, []string{"method"}),
	failedVec: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "etcd", Subsystem: "http", Name: "failed_total",
		Help: "Counter of handle failures of requests (non-watches), by method (GET/PUT etc.) and code (400, 500 etc.)."}, []string{"method", "code"}),
	successSec: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "etcd", Subsystem: "http", Name: "successful_duration_seconds",
		Help:    "Bucketed histogram of processing time (s) of successfully handled requests (non-watches), by method (GET/PUT etc.).",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 13)}, []string{"method"}),
}

func init() {
	prometheus.MustRegister(httpMetrics.received, httpMetrics.failedVec, httpMetrics.successSec)
}

// failed counts a failed request by its method (QGET for a quorum GET)
// and HTTP status.
func (m *v2Metrics) failed(r *v2store.Request, err error) {
	code := http.StatusInternalServerError
	var e *v2store.Error
	if errors.As(err, &e) {
		code = e.StatusCode()
	}
	m.failedVec.WithLabelValues(method(r), strconv.Itoa(code)).Inc()
}

func (m *v2Metrics) succeeded(r *v2store.Request, start time.Time) {
	m.successSec.WithLabelValues(method(r)).Observe(time.Since(start).Seconds())
}

func method(r *v2store.Request) string {
	if r.Method == http.MethodGet && r.Quorum {
		return "QGET"
	}
	return r.Method
}
