package v2http

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/basaltkv/basalt/api/v2auth"
	"github.com/basaltkv/basalt/server/membership"
	"github.com/basaltkv/basalt/server/serverr"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.uber.org/zap"
)

const (
	membersPrefix  = "/v2/members"
	machinesPrefix = "/v2/machines"
)

// memberJSON is a member in the v2 members API.
type memberJSON struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	PeerURLs   []string `json:"peerURLs"`
	ClientURLs []string `json:"clientURLs"`
}

func newMemberJSON(m *pb.Member) memberJSON {
	j := memberJSON{ID: fmt.Sprintf("%x", m.ID), Name: m.Name, PeerURLs: m.PeerURLs, ClientURLs: m.ClientURLs}
	if j.PeerURLs == nil {
		j.PeerURLs = []string{}
	}
	if j.ClientURLs == nil {
		j.ClientURLs = []string{}
	}
	return j
}

// httpError is etcd's v2 HTTP error body, {"message": ...}.
type httpError struct {
	Message string `json:"message"`
	code    int
}

func (e *httpError) Error() string { return e.Message }

func (e *httpError) writeTo(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.code)
	b, _ := json.Marshal(e)
	_, _ = w.Write(b)
}

// writeError answers with an httpError as it is, any other error as
// etcd's 500 Internal Server Error.
func writeError(lg *zap.Logger, w http.ResponseWriter, err error) {
	var he *httpError
	if !errors.As(err, &he) {
		lg.Warn("v2 members request failed", zap.Error(err))
		he = &httpError{Message: "Internal Server Error", code: http.StatusInternalServerError}
		if errors.Is(err, serverr.ErrTimeoutDueToLeaderFail) || errors.Is(err, serverr.ErrTimeoutDueToConnectionLost) || errors.Is(err, serverr.ErrTimeout) {
			he.Message = err.Error()
		}
	}
	he.writeTo(w)
}

type membersHandler struct {
	lg      *zap.Logger
	m       Member
	timeout time.Duration
	// access lets only root change members while v2 auth is on; nil
	// lets everything through.
	access *v2auth.Access
}

func (h *membersHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !allowMethod(w, r.Method, "GET", "POST", "DELETE", "PUT") {
		return
	}
	if h.access != nil && !h.access.RootOrRead(r) {
		writeNoAuth(w)
		return
	}
	w.Header().Set("X-Etcd-Cluster-ID", fmt.Sprintf("%x", h.m.ClusterID()))
	ctx, cancel := context.WithTimeout(context.Background(), h.timeout)
	defer cancel()
	switch r.Method {
	case http.MethodGet:
		h.get(ctx, w, r)
	case http.MethodPost:
		peerURLs, ok := decodePeerURLs(w, r)
		if !ok {
			return
		}
		resp, err := h.m.MemberAdd(ctx, peerURLs, false)
		if errors.Is(err, membership.ErrIDExists) || errors.Is(err, membership.ErrPeerURLExists) {
			err = &httpError{Message: err.Error(), code: http.StatusConflict}
		}
		if err != nil {
			writeError(h.lg, w, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(newMemberJSON(resp.Member))
	case http.MethodDelete:
		id, ok := memberID(w, r)
		if !ok {
			return
		}
		_, err := h.m.MemberRemove(ctx, id)
		switch {
		case errors.Is(err, membership.ErrIDRemoved):
			err = &httpError{Message: fmt.Sprintf("Member permanently removed: %x", id), code: http.StatusGone}
		case errors.Is(err, membership.ErrIDNotFound):
			err = &httpError{Message: fmt.Sprintf("No such member: %x", id), code: http.StatusNotFound}
		}
		if err != nil {
			writeError(h.lg, w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case http.MethodPut:
		id, ok := memberID(w, r)
		if !ok {
			return
		}
		peerURLs, ok := decodePeerURLs(w, r)
		if !ok {
			return
		}
		_, err := h.m.MemberUpdate(ctx, id, peerURLs)
		switch {
		case errors.Is(err, membership.ErrPeerURLExists):
			err = &httpError{Message: err.Error(), code: http.StatusConflict}
		case errors.Is(err, membership.ErrIDNotFound):
			err = &httpError{Message: fmt.Sprintf("No such member: %x", id), code: http.StatusNotFound}
		}
		if err != nil {
			writeError(h.lg, w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

func (h *membersHandler) get(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	list, err := h.m.MemberList(ctx, false)
	if err != nil {
		writeError(h.lg, w, err)
		return
	}
	switch strings.Trim(strings.TrimPrefix(r.URL.Path, membersPrefix), "/") {
	case "":
		out := struct {
			Members []memberJSON `json:"members"`
		}{Members: []memberJSON{}}
		for _, m := range list.Members {
			out.Members = append(out.Members, newMemberJSON(m))
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	case "leader":
		lead := h.m.Leader()
		for _, m := range list.Members {
			if m.ID == lead && lead != 0 {
				w.Header().Set("Content-Type", "application/json")
				_ = json.NewEncoder(w).Encode(newMemberJSON(m))
				return
			}
		}
		(&httpError{Message: "During election", code: http.StatusServiceUnavailable}).writeTo(w)
	default:
		(&httpError{Message: "Not found", code: http.StatusNotFound}).writeTo(w)
	}
}

// memberID reads the member ID (hex) after /v2/members/.
func memberID(w http.ResponseWriter, r *http.Request) (uint64, bool) {
	s := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, membersPrefix), "/")
	if s == "" {
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return 0, false
	}
	id, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		(&httpError{Message: fmt.Sprintf("No such member: %s", s), code: http.StatusNotFound}).writeTo(w)
		return 0, false
	}
	return id, true
}

// decodePeerURLs reads a member request's {"peerURLs": [...]} and checks
// the URLs, answering etcd's error if it cannot.
func decodePeerURLs(w http.ResponseWriter, r *http.Request) ([]string, bool) {
	var req struct {
		PeerURLs []string `json:"peerURLs"`
	}
	if !decodeJSON(w, r, &req) {
		return nil, false
	}
	if err := validURLs(req.PeerURLs); err != nil {
		(&httpError{Message: err.Error(), code: http.StatusBadRequest}).writeTo(w)
		return nil, false
	}
	return req.PeerURLs, true
}

// decodeJSON reads a JSON body, answering etcd's 415 or 400 if it cannot.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	ctype, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ctype != "application/json" {
		(&httpError{Message: fmt.Sprintf("Bad Content-Type %s, accept application/json", strings.ToLower(strings.TrimSpace(strings.Split(r.Header.Get("Content-Type"), ";")[0]))), code: http.StatusUnsupportedMediaType}).writeTo(w)
		return false
	}
	b, err := io.ReadAll(r.Body)
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		(&httpError{Message: err.Error(), code: http.StatusBadRequest}).writeTo(w)
		return false
	}
	return true
}

// validURLs checks peer URLs as etcd's types.NewURLs does.
func validURLs(urls []string) error {
	if len(urls) == 0 {
		return errors.New("no valid URLs given")
	}
	for _, s := range urls {
		u, err := url.Parse(strings.TrimSpace(s))
		if err != nil {
			return err
		}
		switch u.Scheme {
		case "http", "https", "unix", "unixs":
		default:
			return fmt.Errorf("URL scheme must be http, https, unix, or unixs: %s", s)
		}
		if u.Path != "" {
			return fmt.Errorf("URL must not contain a path: %s", s)
		}
	}
	return nil
}

type machinesHandler struct{ m Member }

// ServeHTTP lists the members' client URLs, comma separated.
func (h *machinesHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !allowMethod(w, r.Method, "GET", "HEAD") {
		return
	}
	list, err := h.m.MemberList(r.Context(), false)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	var urls []string
	for _, m := range list.Members {
		urls = append(urls, m.ClientURLs...)
	}
	slices.Sort(urls)
	_, _ = w.Write([]byte(strings.Join(urls, ", ")))
}
