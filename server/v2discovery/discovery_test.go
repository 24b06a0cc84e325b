package v2discovery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/basaltkv/basalt/pkg/v2client"
	"go.uber.org/zap"
)

// fakeKeys is the part of a v2 keys API discovery uses, over one token
// directory /tok: size, registrations, creates, and waits.
type fakeKeys struct {
	mu       sync.Mutex
	size     string
	nodes    []*v2client.Node
	index    uint64
	failures int // answer 503 to this many requests first
	changed  chan struct{}
}

func newFakeKeys(size string, regs ...string) *fakeKeys {
	f := &fakeKeys{size: size, index: 1, changed: make(chan struct{})}
	for i, r := range regs {
		f.add(fmt.Sprint(i+100), r)
	}
	return f
}

func (f *fakeKeys) add(id, value string) *v2client.Node {
	f.index++
	n := &v2client.Node{Key: "/tok/" + id, Value: value, CreatedIndex: f.index, ModifiedIndex: f.index}
	f.nodes = append(f.nodes, n)
	close(f.changed)
	f.changed = make(chan struct{})
	return n
}

func (f *fakeKeys) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	if f.failures > 0 {
		f.failures--
		f.mu.Unlock()
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("X-Etcd-Index", fmt.Sprint(f.index))
	answer := func(code int, v any) {
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(v)
	}
	switch {
	case r.URL.Path == "/tok/_config/size":
		defer f.mu.Unlock()
		if f.size == "" {
			answer(http.StatusNotFound, v2client.Error{Code: 100, Message: "Key not found", Cause: "/tok/_config", Index: f.index})
			return
		}
		answer(http.StatusOK, v2client.Response{Action: "get", Node: &v2client.Node{Key: r.URL.Path, Value: f.size}})
	case r.URL.Query().Get("wait") == "true":
		// A wait on the directory (recursive) or on one key.
		after, _ := strconv.ParseUint(r.URL.Query().Get("waitIndex"), 10, 64)
		for {
			for _, n := range f.nodes {
				if n.CreatedIndex >= after && (r.URL.Path == "/tok" || n.Key == r.URL.Path) {
					f.mu.Unlock()
					answer(http.StatusOK, v2client.Response{Action: "create", Node: n})
					return
				}
			}
			ch := f.changed
			f.mu.Unlock()
			select {
			case <-ch:
			case <-r.Context().Done():
				return
			}
			f.mu.Lock()
		}
	case r.URL.Path == "/tok":
		defer f.mu.Unlock()
		answer(http.StatusOK, v2client.Response{Action: "get", Node: &v2client.Node{Key: "/tok", Dir: true, Nodes: slices.Clone(f.nodes)}})
	case r.Method == http.MethodPut:
		defer f.mu.Unlock()
		id := strings.TrimPrefix(r.URL.Path, "/tok/")
		for _, n := range f.nodes {
			if n.Key == r.URL.Path {
				answer(http.StatusPreconditionFailed, v2client.Error{Code: v2client.ErrorCodeNodeExist, Message: "Key already exists", Cause: r.URL.Path, Index: f.index})
				return
			}
		}
		answer(http.StatusCreated, v2client.Response{Action: "create", Node: f.add(id, r.FormValue("value"))})
	default:
		f.mu.Unlock()
		http.NotFound(w, r)
	}
}

func newTestDiscovery(t *testing.T, f *fakeKeys, id uint64) (*discovery, *[]time.Duration) {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	d, err := newDiscovery(zap.NewNop(), srv.URL+"/tok", "", id)
	if err != nil {
		t.Fatal(err)
	}
	var slept []time.Duration
	d.sleep = func(_ context.Context, wait time.Duration) error {
		slept = append(slept, wait)
		return nil
	}
	return d, &slept
}

func TestJoinCluster(t *testing.T) {
	tests := []struct {
		name      string
		size      string
		regs      []string
		failures  int
		want      string
		wantErr   error
		wantSlept []time.Duration
	}{
		{name: "last to register", size: "2", regs: []string{"a=http://a:2380"}, want: "a=http://a:2380,self=http://s:2380"},
		{name: "full", size: "1", regs: []string{"a=http://a:2380"}, wantErr: ErrFullCluster},
		{name: "bad size", size: "x", wantErr: ErrBadSizeKey},
		{name: "duplicate name", size: "2", regs: []string{"self=http://other:2380"}, wantErr: ErrDuplicateName},
		{name: "unavailable, then up: etcd's backoff", size: "1", failures: 3, want: "self=http://s:2380",
			wantSlept: []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeKeys(tt.size, tt.regs...)
			f.failures = tt.failures
			d, slept := newTestDiscovery(t, f, 0xabc)
			got, err := d.joinCluster(context.Background(), "self=http://s:2380")
			if !errors.Is(err, tt.wantErr) || (err == nil && got != tt.want) {
				t.Fatalf("joinCluster = %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
			if !slices.Equal(*slept, tt.wantSlept) {
				t.Fatalf("backoffs %v, want %v", *slept, tt.wantSlept)
			}
		})
	}
}

func TestJoinClusterMissingSize(t *testing.T) {
	d, _ := newTestDiscovery(t, newFakeKeys(""), 1)
	_, err := d.joinCluster(context.Background(), "self=http://s:2380")
	// etcd 3.4 reports the v2 error itself (see checkCluster).
	if err == nil || !strings.HasPrefix(err.Error(), "100: Key not found (/tok/_config)") {
		t.Fatalf("err = %v", err)
	}
}

func TestJoinClusterDuplicateID(t *testing.T) {
	f := newFakeKeys("3")
	f.add("abc", "self=http://s:2380")
	d, _ := newTestDiscovery(t, f, 0xabc)
	if _, err := d.joinCluster(context.Background(), "self=http://s:2380"); !errors.Is(err, ErrDuplicateID) {
		t.Fatalf("err = %v, want %v", err, ErrDuplicateID)
	}
}

// TestJoinClusterWaits registers first of two and waits for the second.
func TestJoinClusterWaits(t *testing.T) {
	f := newFakeKeys("2")
	d, _ := newTestDiscovery(t, f, 0xabc)
	done := make(chan error, 1)
	var got string
	go func() {
		var err error
		got, err = d.joinCluster(context.Background(), "self=http://s:2380")
		done <- err
	}()
	// Register the second member once the first has registered.
	deadline := time.Now().Add(10 * time.Second)
	for {
		f.mu.Lock()
		n := len(f.nodes)
		ch := f.changed
		f.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("first member never registered")
		}
		select {
		case <-ch:
		case <-time.After(time.Until(deadline)):
		}
	}
	f.mu.Lock()
	f.add("def", "b=http://b:2380")
	f.mu.Unlock()
	if err := <-done; err != nil || got != "self=http://s:2380,b=http://b:2380" {
		t.Fatalf("joinCluster = %q, %v", got, err)
	}
}

func TestGetClusterOfFullCluster(t *testing.T) {
	d, _ := newTestDiscovery(t, newFakeKeys("2", "a=http://a:2380", "b=http://b:2380", "c=http://c:2380"), 0)
	got, err := d.getCluster(context.Background())
	if err != nil || got != "a=http://a:2380,b=http://b:2380" {
		t.Fatalf("getCluster = %q, %v", got, err)
	}
}

// TestNotAKeysAPI: a size read answered with anything but the keys API's
// JSON, a node included, is etcd's "bad discovery endpoint".
func TestNotAKeysAPI(t *testing.T) {
	for _, tt := range []struct {
		name string
		code int
		body string
	}{
		{"not json", http.StatusNotFound, "404 page not found\n"},
		{"no node", http.StatusOK, `{"action":"get"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.code)
				fmt.Fprint(w, tt.body)
			}))
			defer srv.Close()
			d, err := newDiscovery(zap.NewNop(), srv.URL+"/version", "", 1)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := d.joinCluster(context.Background(), "self=http://s:2380"); !errors.Is(err, ErrBadDiscoveryEndpoint) {
				t.Fatalf("err = %v, want %v", err, ErrBadDiscoveryEndpoint)
			}
		})
	}
}

// TestProxyFunc is --discovery-proxy as etcd reads it; without one no
// proxy is used, whatever the environment says.
func TestProxyFunc(t *testing.T) {
	req := httptest.NewRequest(http.MethodGet, "http://discovery.example/tok", nil)
	for _, tt := range []struct{ flag, want string }{
		{"", ""},
		{"127.0.0.1:3128", "http://127.0.0.1:3128"},
		{"https://proxy.example:8443", "https://proxy.example:8443"},
	} {
		pf, err := proxyFunc(zap.NewNop(), tt.flag)
		if err != nil {
			t.Fatalf("%q: %v", tt.flag, err)
		}
		u, err := pf(req)
		if err != nil {
			t.Fatalf("%q: %v", tt.flag, err)
		}
		got := ""
		if u != nil {
			got = u.String()
		}
		if got != tt.want {
			t.Fatalf("proxy for %q = %v, want %q", tt.flag, u, tt.want)
		}
	}
}
