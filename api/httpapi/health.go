package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// Member is what the health endpoints need of the member; v3rpc.Member
// has it all.
type Member interface {
	Alarms() []*pb.AlarmMember
	// Leader is the raft leader's ID, 0 when there is none.
	Leader() uint64
	Range(ctx context.Context, r *pb.RangeRequest) (*pb.RangeResponse, error)
	// WithRoot is ctx for a request the member makes as root: the health
	// reads pass whatever auth allows, as etcd's.
	WithRoot(ctx context.Context) context.Context
}

// learner is implemented by a member that can be a raft learner.
type learner interface {
	IsLearner() bool
}

// etcd's health metrics.
var (
	healthSuccess = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "etcd", Subsystem: "server", Name: "health_success",
		Help: "The total number of successful health checks",
	})
	healthFailed = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "etcd", Subsystem: "server", Name: "health_failures",
		Help: "The total number of failed health checks",
	})
	healthCheckGauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "etcd", Subsystem: "server", Name: "healthcheck",
		Help: "The result of each kind of healthcheck.",
	}, []string{"type", "name"})
	healthCheckCounter = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "etcd", Subsystem: "server", Name: "healthchecks_total",
		Help: "The total number of each kind of healthcheck.",
	}, []string{"type", "name", "status"})

	registerOnce sync.Once
)

func registerMetrics(lg *zap.Logger) {
	registerOnce.Do(func() {
		for _, c := range []prometheus.Collector{healthSuccess, healthFailed, healthCheckGauge, healthCheckCounter} {
			if err := prometheus.Register(c); err != nil {
				var already prometheus.AlreadyRegisteredError
				if !errors.As(err, &already) {
					lg.Warn("failed to register health metrics", zap.Error(err))
				}
			}
		}
	})
}

// health is /health's answer.
type health struct {
	Health string `json:"health"`
	Reason string `json:"reason"`
}

// healthCheckRange is the read /health, /livez and /readyz make: one key
// at most, keys only.
func healthCheckRange(serializable bool) *pb.RangeRequest {
	return &pb.RangeRequest{Key: []byte{0}, KeysOnly: true, Limit: 1, Serializable: serializable}
}

// querySet returns the non-empty values of a repeated query parameter.
func querySet(r *http.Request, name string) map[string]struct{} {
	set := map[string]struct{}{}
	for _, v := range r.URL.Query()[name] {
		if v != "" {
			set[v] = struct{}{}
		}
	}
	return set
}

// healthHandler serves /health: {"health":"true"} when the member has no
// alarm (but those excluded by ?exclude=NOSPACE...), has a leader (unless
// ?serializable=true) and answers a read (linearizable unless
// ?serializable=true) within the request timeout; else 503 with the
// reason.
func (h *handler) health(w http.ResponseWriter, r *http.Request) {
	if !allowMethod(w, r, http.MethodGet) {
		h.lg.Warn("/health error", zap.Int("status-code", http.StatusMethodNotAllowed))
		return
	}
	serializable := r.URL.Query().Get("serializable") == "true"
	res := h.checkHealth(r.Context(), querySet(r, "exclude"), serializable)
	if res.Health == "true" {
		healthSuccess.Inc()
	} else {
		healthFailed.Inc()
	}
	body, _ := json.Marshal(res)
	if res.Health != "true" {
		http.Error(w, string(body), http.StatusServiceUnavailable)
		h.lg.Warn("/health error", zap.String("output", string(body)), zap.Int("status-code", http.StatusServiceUnavailable))
		return
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

func (h *handler) checkHealth(ctx context.Context, excluded map[string]struct{}, serializable bool) health {
	for _, a := range h.m.Alarms() {
		name := a.Alarm.String()
		if _, ok := excluded[name]; ok {
			continue
		}
		reason := "ALARM UNKNOWN"
		switch a.Alarm {
		case pb.AlarmType_NOSPACE:
			reason = "ALARM NOSPACE"
		case pb.AlarmType_CORRUPT:
			reason = "ALARM CORRUPT"
		}
		h.lg.Warn("serving /health false due to an alarm", zap.String("alarm", name))
		return health{Health: "false", Reason: reason}
	}
	if !serializable && h.m.Leader() == 0 {
		h.lg.Warn("serving /health false; no leader")
		return health{Health: "false", Reason: "RAFT NO LEADER"}
	}
	ctx, cancel := context.WithTimeout(ctx, h.requestTimeout)
	defer cancel()
	if _, err := h.m.Range(h.m.WithRoot(ctx), healthCheckRange(serializable)); err != nil {
		h.lg.Warn("serving /health false; Range fails", zap.Error(err))
		return health{Health: "false", Reason: fmt.Sprintf("RANGE ERROR:%s", err)}
	}
	return health{Health: "true"}
}

// check is one named probe of /livez or /readyz.
type check struct {
	name string
	run  func(context.Context) error
}

// probe is /livez or /readyz: a list of checks, each also served alone at
// /livez/<name>.
type probe struct {
	kind   string // "livez" or "readyz"
	checks []check
}

func (h *handler) livez() probe {
	return probe{kind: "livez", checks: []check{
		{"serializable_read", h.readCheck(true)},
	}}
}

func (h *handler) readyz() probe {
	return probe{kind: "readyz", checks: []check{
		{"data_corruption", h.alarmCheck(pb.AlarmType_CORRUPT)},
		// A failing linearizable read with a working serializable one
		// points at consensus rather than at the member itself.
		{"linearizable_read", h.readCheck(false)},
		{"non_learner", h.learnerCheck},
		{"serializable_read", h.readCheck(true)},
	}}
}

func (h *handler) readCheck(serializable bool) func(context.Context) error {
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, h.requestTimeout)
		defer cancel()
		_, err := h.m.Range(h.m.WithRoot(ctx), healthCheckRange(serializable))
		return err
	}
}

func (h *handler) alarmCheck(t pb.AlarmType) func(context.Context) error {
	return func(context.Context) error {
		for _, a := range h.m.Alarms() {
			if a.Alarm == t {
				return fmt.Errorf("alarm activated: %s", t)
			}
		}
		return nil
	}
}

func (h *handler) learnerCheck(context.Context) error {
	if l, ok := h.m.(learner); ok && l.IsLearner() {
		return errors.New("not supported for learner")
	}
	return nil
}

// install serves the probe at /<kind> (every check but those named by
// ?exclude=) and each check at /<kind>/<name>.
func (p probe) install(mux *http.ServeMux, h *handler) {
	mux.HandleFunc("/"+p.kind, func(w http.ResponseWriter, r *http.Request) {
		excluded := querySet(r, "exclude")
		var run []check
		for _, c := range p.checks {
			if _, ok := excluded[c.name]; ok {
				delete(excluded, c.name)
				continue
			}
			run = append(run, c)
		}
		if len(excluded) > 0 {
			// Excluding an unknown check is not an error: a newer client
			// may know checks this member does not.
			var missing []string
			for name := range excluded {
				missing = append(missing, fmt.Sprintf("%q", name))
			}
			slices.Sort(missing)
			h.lg.Warn("some health checks cannot be excluded", zap.String("missing-health-checks", strings.Join(missing, ",")))
		}
		p.serve(w, r, h, run)
	})
	for _, c := range p.checks {
		mux.HandleFunc("/"+p.kind+"/"+c.name, func(w http.ResponseWriter, r *http.Request) {
			p.serve(w, r, h, []check{c})
		})
	}
}

// serve runs checks and answers "ok" (with one line per check first, for
// ?verbose), or 503 with one line per check.
func (p probe) serve(w http.ResponseWriter, r *http.Request, h *handler, checks []check) {
	if !allowMethod(w, r, http.MethodGet) {
		h.lg.Warn("Health request error", zap.String("path", r.URL.Path), zap.Int("status-code", http.StatusMethodNotAllowed))
		return
	}
	var out strings.Builder
	failed := false
	for _, c := range checks {
		status := "success"
		if err := c.run(r.Context()); err != nil {
			fmt.Fprintf(&out, "[-]%s failed: %v\n", c.name, err)
			failed = true
			status = "error"
		} else {
			fmt.Fprintf(&out, "[+]%s ok\n", c.name)
		}
		val := 0.0
		if status == "success" {
			val = 1
		}
		healthCheckGauge.WithLabelValues(p.kind, c.name).Set(val)
		healthCheckCounter.WithLabelValues(p.kind, c.name, status).Inc()
	}
	if failed {
		http.Error(w, out.String(), http.StatusServiceUnavailable)
		h.lg.Error("Health check error", zap.String("path", r.URL.Path), zap.String("reason", out.String()), zap.Int("status-code", http.StatusServiceUnavailable))
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if _, verbose := r.URL.Query()["verbose"]; verbose {
		fmt.Fprint(w, out.String())
	}
	fmt.Fprint(w, "ok\n")
}

// allowMethod answers 405 to any other method than m.
func allowMethod(w http.ResponseWriter, r *http.Request, m string) bool {
	if r.Method == m {
		return true
	}
	w.Header().Set("Allow", m)
	http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
	return false
}
