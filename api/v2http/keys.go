package v2http

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/basaltkv/basalt/api/v2auth"
	"github.com/basaltkv/basalt/server"
	"github.com/basaltkv/basalt/storage/v2store"
	"go.uber.org/zap"
)

const keysPrefix = "/v2/keys"

// watchTimeout bounds a wait: etcd's is unbounded, the client's
// connection ends it.
const watchTimeout = time.Duration(math.MaxInt64)

type keysHandler struct {
	lg      *zap.Logger
	m       Member
	timeout time.Duration
	// access judges the request by v2 auth; nil lets everything through.
	access *v2auth.Access
}

func (h *keysHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !allowMethod(w, r.Method, "HEAD", "GET", "PUT", "POST", "DELETE") {
		return
	}
	w.Header().Set("X-Etcd-Cluster-ID", fmt.Sprintf("%x", h.m.ClusterID()))
	ctx, cancel := context.WithTimeout(context.Background(), h.timeout)
	defer cancel()
	start := time.Now()
	req, noValueOnSuccess, err := parseKeyRequest(r, time.Now())
	if err != nil {
		writeKeyError(h.lg, w, err)
		return
	}
	// The key as the client wrote it, uncleaned, is what roles match.
	if h.access != nil && !h.access.Key(r, r.URL.Path[len(keysPrefix):], req.Recursive) {
		writeKeyNoAuth(h.lg, w)
		return
	}
	if !req.Wait {
		httpMetrics.received.WithLabelValues(method(req)).Inc()
	}
	resp, err := h.m.DoV2(ctx, req)
	if err != nil {
		err = trimErrorPrefix(err)
		writeKeyError(h.lg, w, err)
		httpMetrics.failed(req, err)
		return
	}
	switch {
	case resp.Event != nil:
		if err := writeKeyEvent(w, resp, noValueOnSuccess); err != nil {
			h.lg.Warn("failed to write key event", zap.Error(err))
		}
		httpMetrics.succeeded(req, start)
	case resp.Watcher != nil:
		ctx, cancel := context.WithTimeout(r.Context(), watchTimeout)
		defer cancel()
		serveWatch(ctx, h.lg, w, resp, req.Stream)
	default:
		writeKeyError(h.lg, w, errors.New("received response with no Event/Watcher"))
	}
}

// parseKeyRequest reads a /v2/keys request's form and query into a v2
// request, with etcd's checks in etcd's order; now turns a TTL into an
// expiry time.
func parseKeyRequest(r *http.Request, now time.Time) (*v2store.Request, bool, error) {
	if err := r.ParseForm(); err != nil {
		return nil, false, requestError(v2store.EcodeInvalidForm, err.Error())
	}
	if !strings.HasPrefix(r.URL.Path, keysPrefix) {
		return nil, false, requestError(v2store.EcodeInvalidForm, "incorrect key prefix")
	}
	req := &v2store.Request{Method: r.Method, Path: path.Join(server.V2KeysPrefix, r.URL.Path[len(keysPrefix):])}
	var err error
	if req.PrevIndex, err = formUint(r.Form, "prevIndex"); err != nil {
		return nil, false, requestError(v2store.EcodeIndexNaN, `invalid value for "prevIndex"`)
	}
	if req.Since, err = formUint(r.Form, "waitIndex"); err != nil {
		return nil, false, requestError(v2store.EcodeIndexNaN, `invalid value for "waitIndex"`)
	}
	for _, b := range []struct {
		name string
		dst  *bool
	}{
		{"recursive", &req.Recursive}, {"sorted", &req.Sorted}, {"wait", &req.Wait},
		{"dir", &req.Dir}, {"quorum", &req.Quorum}, {"stream", &req.Stream},
	} {
		if *b.dst, err = formBool(r.Form, b.name); err != nil {
			return nil, false, requestError(v2store.EcodeInvalidField, fmt.Sprintf("invalid value for %q", b.name))
		}
	}
	if req.Wait && r.Method != http.MethodGet {
		return nil, false, requestError(v2store.EcodeInvalidField, `"wait" can only be used with GET requests`)
	}
	req.PrevValue = r.FormValue("prevValue")
	if _, ok := r.Form["prevValue"]; ok && req.PrevValue == "" {
		return nil, false, requestError(v2store.EcodePrevValueRequired, `"prevValue" cannot be empty`)
	}
	noValueOnSuccess, err := formBool(r.Form, "noValueOnSuccess")
	if err != nil {
		return nil, false, requestError(v2store.EcodeInvalidField, `invalid value for "noValueOnSuccess"`)
	}
	var ttl *uint64
	if r.FormValue("ttl") != "" {
		v, err := formUint(r.Form, "ttl")
		if err != nil {
			return nil, false, requestError(v2store.EcodeTTLNaN, `invalid value for "ttl"`)
		}
		ttl = &v
	}
	if _, ok := r.Form["prevExist"]; ok {
		v, err := formBool(r.Form, "prevExist")
		if err != nil {
			return nil, false, requestError(v2store.EcodeInvalidField, "invalid value for prevExist")
		}
		req.PrevExist = &v
	}
	if _, ok := r.Form["refresh"]; ok {
		v, err := formBool(r.Form, "refresh")
		if err != nil {
			return nil, false, requestError(v2store.EcodeInvalidField, "invalid value for refresh")
		}
		req.Refresh = &v
		if v {
			if val, ok := r.Form["value"]; ok && len(val) > 0 && r.FormValue("value") != "" {
				return nil, false, requestError(v2store.EcodeRefreshValue, "A value was provided on a refresh")
			}
			if ttl == nil {
				return nil, false, requestError(v2store.EcodeRefreshTTLRequired, "No TTL value set")
			}
		}
	}
	req.Val = r.FormValue("value")
	if ttl != nil {
		req.Expiration = now.Add(time.Duration(*ttl) * time.Second).UnixNano()
	}
	return req, noValueOnSuccess, nil
}

func requestError(code int, cause string) *v2store.Error { return v2store.NewError(code, cause, 0) }

// formUint is a form value as an unsigned integer, 0 if absent.
func formUint(form url.Values, key string) (uint64, error) {
	if vals, ok := form[key]; ok {
		return strconv.ParseUint(vals[0], 10, 64)
	}
	return 0, nil
}

// formBool is a form value as a boolean, false if absent.
func formBool(form url.Values, key string) (bool, error) {
	if vals, ok := form[key]; ok {
		return strconv.ParseBool(vals[0])
	}
	return false, nil
}

// writeKeyEvent answers with an event: 201 for what it created, its keys
// without the store's /1.
func writeKeyEvent(w http.ResponseWriter, resp server.V2Response, noValueOnSuccess bool) error {
	ev := resp.Event
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Etcd-Index", strconv.FormatUint(ev.EtcdIndex, 10))
	w.Header().Set("X-Raft-Index", strconv.FormatUint(resp.Index, 10))
	w.Header().Set("X-Raft-Term", strconv.FormatUint(resp.Term, 10))
	if ev.IsCreated() {
		w.WriteHeader(http.StatusCreated)
	}
	out := *ev
	out.Refresh = false
	if noValueOnSuccess {
		switch ev.Action {
		case v2store.Set, v2store.CompareAndSwap, v2store.Create, v2store.Update:
			out.Node, out.PrevNode = nil, nil
		}
	}
	return writeEventLine(w, &out)
}

// writeEventLine writes an event's JSON, its keys as clients name them,
// and a newline (as json.Encoder would, which would scan it again).
func writeEventLine(w http.ResponseWriter, ev *v2store.Event) error {
	b, err := ev.AppendJSON(make([]byte, 0, 256), server.V2KeysPrefix)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// writeKeyError answers with a v2 error; any other error is etcd's 300
// (Raft Internal Error) with the error as its cause.
func writeKeyError(lg *zap.Logger, w http.ResponseWriter, err error) {
	var e *v2store.Error
	if !errors.As(err, &e) {
		lg.Warn("v2 response error", zap.String("internal-server-error", err.Error()))
		e = v2store.NewError(v2store.EcodeRaftInternal, err.Error(), 0)
	}
	if err := e.WriteTo(w); err != nil {
		lg.Debug("failed to write v2 error", zap.Error(err))
	}
}

// serveWatch streams a watcher's events: one, or all until the client
// goes (stream).
func serveWatch(ctx context.Context, lg *zap.Logger, w http.ResponseWriter, resp server.V2Response, stream bool) {
	wa := resp.Watcher
	defer wa.Remove()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Etcd-Index", fmt.Sprint(wa.StartIndex()))
	w.Header().Set("X-Raft-Index", strconv.FormatUint(resp.Index, 10))
	w.Header().Set("X-Raft-Term", strconv.FormatUint(resp.Term, 10))
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	if flusher != nil {
		flusher.Flush()
	}
	events := wa.EventChan()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			out := *ev
			out.Refresh = false
			if err := writeEventLine(w, &out); err != nil {
				lg.Warn("failed to encode event", zap.Error(err))
				return
			}
			if !stream {
				return
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
	}
}

// trimErrorPrefix names the key in a store error's cause as clients do.
func trimErrorPrefix(err error) error {
	var e *v2store.Error
	if errors.As(err, &e) {
		e.Cause = strings.TrimPrefix(e.Cause, server.V2KeysPrefix)
	}
	return err
}

// allowMethod answers 405 with the allowed methods unless m is one.
func allowMethod(w http.ResponseWriter, m string, ms ...string) bool {
	for _, allowed := range ms {
		if m == allowed {
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(ms, ","))
	http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
	return false
}
