package v2http

import (
	"context"
	"net/http"
	"time"

	"github.com/basaltkv/basalt/api/v2auth"
	"github.com/basaltkv/basalt/server"
	"github.com/basaltkv/basalt/storage/v2store"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.uber.org/zap"
)

// Member is what the v2 API needs of the member (server.Member).
type Member interface {
	ID() uint64
	ClusterID() uint64
	Leader() uint64
	DoV2(ctx context.Context, r *v2store.Request) (server.V2Response, error)
	V2Store() *v2store.Store
	V2SelfStats() []byte
	V2LeaderStats() []byte
	MemberList(ctx context.Context, linearizable bool) (*pb.MemberListResponse, error)
	MemberAdd(ctx context.Context, peerURLs []string, isLearner bool) (*pb.MemberAddResponse, error)
	MemberRemove(ctx context.Context, id uint64) (*pb.MemberRemoveResponse, error)
	MemberUpdate(ctx context.Context, id uint64, peerURLs []string) (*pb.MemberUpdateResponse, error)
}

// Handlers are the v2 API's handlers by path pattern, for the client
// port's mux; timeout bounds a request (etcd's request timeout);
// clientCertAuth (--client-cert-auth) lets a verified certificate's
// common name name the user when v2 auth is on.
func Handlers(lg *zap.Logger, m Member, timeout time.Duration, clientCertAuth bool) map[string]http.Handler {
	if lg == nil {
		lg = zap.NewNop()
	}
	access := v2auth.NewAccess(lg, v2auth.NewStore(lg, m, timeout), clientCertAuth)
	kh := &keysHandler{lg: lg, m: m, timeout: timeout, access: access}
	mh := &membersHandler{lg: lg, m: m, timeout: timeout, access: access}
	sh := &statsHandler{m: m}
	ah := &authHandler{lg: lg, m: m, access: access}
	hs := map[string]http.Handler{
		keysPrefix:          kh,
		keysPrefix + "/":    kh,
		membersPrefix:       mh,
		membersPrefix + "/": mh,
		machinesPrefix:      &machinesHandler{m: m},
		"/v2/stats/store":   http.HandlerFunc(sh.serveStore),
		"/v2/stats/self":    http.HandlerFunc(sh.serveSelf),
		"/v2/stats/leader":  http.HandlerFunc(sh.serveLeader),
	}
	for pattern, h := range ah.handlers() {
		hs[pattern] = h
	}
	return hs
}

type statsHandler struct{ m Member }

func (h *statsHandler) serveStore(w http.ResponseWriter, r *http.Request) {
	if !allowMethod(w, r.Method, "GET") {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(h.m.V2Store().JSONStats())
}

// serveSelf answers /v2/stats/self.
func (h *statsHandler) serveSelf(w http.ResponseWriter, r *http.Request) {
	if !allowMethod(w, r.Method, "GET") {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(h.m.V2SelfStats())
}

// serveLeader answers /v2/stats/leader; a member that does not lead
// answers etcd's 403.
func (h *statsHandler) serveLeader(w http.ResponseWriter, r *http.Request) {
	if !allowMethod(w, r.Method, "GET") {
		return
	}
	stats := h.m.V2LeaderStats()
	if stats == nil {
		(&httpError{Message: "not current leader", code: http.StatusForbidden}).writeTo(w)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(stats)
}
