package httpproxy

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are etcd's etcd_proxy_* families.
type metrics struct {
	requests    *prometheus.CounterVec
	handledReqs *prometheus.CounterVec
	droppedReqs *prometheus.CounterVec
	handling    *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "etcd", Subsystem: "proxy", Name: "requests_total",
			Help: "Counter requests incoming by method.",
		}, []string{"method"}),
		handledReqs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "etcd", Subsystem: "proxy", Name: "handled_total",
			Help: "Counter of requests fully handled (by authoratitave servers)",
		}, []string{"method", "code"}),
		droppedReqs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "etcd", Subsystem: "proxy", Name: "dropped_total",
			Help: "Counter of requests dropped on the proxy.",
		}, []string{"method", "proxying_error"}),
		handling: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "etcd", Subsystem: "proxy", Name: "handling_duration_seconds",
			Help:    "Bucketed histogram of handling time of successful events (non-watches), by method (GET/PUT etc.).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 13),
		}, []string{"method"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.requests, m.handledReqs, m.droppedReqs, m.handling} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *metrics) incoming(r *http.Request) { m.requests.WithLabelValues(r.Method).Inc() }

func (m *metrics) handled(r *http.Request, code int, start time.Time) {
	m.handledReqs.WithLabelValues(r.Method, strconv.Itoa(code)).Inc()
	m.handling.WithLabelValues(r.Method).Observe(time.Since(start).Seconds())
}

func (m *metrics) dropped(r *http.Request, why string) {
	m.droppedReqs.WithLabelValues(r.Method, why).Inc()
}
