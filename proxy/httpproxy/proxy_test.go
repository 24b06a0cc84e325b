package httpproxy

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// fakeCluster is a peer answering /members for the given client URLs.
func fakeCluster(t *testing.T, clientURLs ...string) *httptest.Server {
	t.Helper()
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/members" {
			http.NotFound(w, r)
			return
		}
		var ms []member
		for i, u := range clientURLs {
			ms = append(ms, member{ID: uint64(i + 1), Name: fmt.Sprint("m", i), PeerURLs: []string{srv.URL}, ClientURLs: []string{u}})
		}
		w.Header().Set("X-Etcd-Cluster-ID", "cdf818194e3a8c32")
		_ = json.NewEncoder(w).Encode(ms)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func newTestProxy(t *testing.T, peer string, readOnly bool) (*Proxy, string) {
	t.Helper()
	dir := t.TempDir()
	tr := NewTransport(nil, time.Second, 0, 5*time.Second, maxIdleConnsPerHost)
	p, err := New(Config{Dir: dir, PeerURLs: []string{peer}, ClientTransport: tr, PeerTransport: tr,
		FailureWait: time.Hour, RefreshInterval: time.Hour, ReadOnly: readOnly})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p, dir
}

func TestProxyForwardsAndFailsOver(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Etcd-Index", "7")
		w.Header().Set("Connection", "close-me")
		fmt.Fprintf(w, "%s %s %s xff=%s", r.Method, r.URL.RequestURI(), b, r.Header.Get("X-Forwarded-For"))
	}))
	defer backend.Close()
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	peer := fakeCluster(t, backend.URL, deadURL)
	p, dir := newTestProxy(t, peer.URL, false)
	front := httptest.NewServer(p.Handler())
	defer front.Close()

	// Every request reaches the live backend, whichever order the
	// endpoints were shuffled in; the dead one is then left out.
	for i := range 3 {
		req, _ := http.NewRequest(http.MethodPut, front.URL+"/v2/keys/a?prevExist=false", strings.NewReader("value=1"))
		req.Header.Set("X-Forwarded-For", "10.0.0.1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := "PUT /v2/keys/a?prevExist=false value=1 xff=10.0.0.1, 127.0.0.1"
		if resp.StatusCode != http.StatusOK || string(b) != want {
			t.Fatalf("request %d: %d %q, want 200 %q", i, resp.StatusCode, b, want)
		}
		if resp.Header.Get("X-Etcd-Index") != "7" || resp.Header.Get("Connection") == "close-me" {
			t.Fatalf("headers not passed as etcd's proxy does: %v", resp.Header)
		}
	}
	resp, err := http.Get(front.URL + "/v2/config/local/proxy")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// The dead endpoint is listed only if the shuffle never put it first.
	var cfg struct{ Endpoints []string }
	if err := json.Unmarshal(b, &cfg); err != nil || !slices.Contains(cfg.Endpoints, backend.URL) {
		t.Fatalf("config: %s (%v), want %s among the endpoints", b, err, backend.URL)
	}
	urls, err := ReadClusterFile(dir)
	if err != nil || !slices.Equal(urls, []string{peer.URL, peer.URL}) {
		t.Fatalf("cluster file: %v %v", urls, err)
	}
}

func TestProxyErrors(t *testing.T) {
	tests := []struct {
		name     string
		peer     func(t *testing.T) string
		readOnly bool
		method   string
		wantCode int
		wantBody string
	}{
		{name: "readonly refuses a write", readOnly: true, method: http.MethodPut, wantCode: http.StatusNotImplemented, wantBody: "",
			peer: func(t *testing.T) string { return fakeCluster(t, "http://127.0.0.1:1").URL }},
		{name: "no endpoints", method: http.MethodGet, wantCode: http.StatusServiceUnavailable,
			wantBody: `{"message":"httpproxy: zero endpoints currently available"}`,
			peer:     func(t *testing.T) string { return "http://127.0.0.1:1" }},
		{name: "every endpoint fails", method: http.MethodGet, wantCode: http.StatusBadGateway,
			wantBody: `{"message":"httpproxy: unable to get response from 1 endpoint(s)"}`,
			peer:     func(t *testing.T) string { return fakeCluster(t, "http://127.0.0.1:1").URL }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, dir := newTestProxy(t, tt.peer(t), tt.readOnly)
			front := httptest.NewServer(p.Handler())
			defer front.Close()
			req, _ := http.NewRequest(tt.method, front.URL+"/v2/keys/a", nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantCode || string(b) != tt.wantBody {
				t.Fatalf("got %d %q, want %d %q", resp.StatusCode, b, tt.wantCode, tt.wantBody)
			}
			if tt.name == "no endpoints" {
				if _, err := os.Stat(ClusterFile(dir)); !os.IsNotExist(err) {
					t.Fatalf("cluster file written without an answer: %v", err)
				}
			}
		})
	}
}
