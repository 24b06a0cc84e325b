package v2client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorded is one request a test server saw.
type recorded struct {
	method, path, query, body, contentType, user, pass string
}

// fakeServer answers with a handler and records what it was sent.
type fakeServer struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []recorded
}

func newFakeServer(t *testing.T, h http.HandlerFunc) *fakeServer {
	t.Helper()
	s := &fakeServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		u, p, _ := r.BasicAuth()
		s.mu.Lock()
		s.reqs = append(s.reqs, recorded{r.Method, r.URL.Path, r.URL.RawQuery, string(b), r.Header.Get("Content-Type"), u, p})
		s.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *fakeServer) requests() []recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]recorded(nil), s.reqs...)
}

func answer(code int, body string, header ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(code)
		io.WriteString(w, body)
	}
}

func newTestClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// closedURL is the URL of a port nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

func TestFailover(t *testing.T) {
	ok := newFakeServer(t, answer(200, `{"action":"get","node":{"key":"/a","value":"1","modifiedIndex":3,"createdIndex":3}}`, "X-Etcd-Index", "7"))
	noLeader := newFakeServer(t, answer(503, ""))
	down := closedURL(t)
	tests := []struct {
		name      string
		endpoints []string
		// create is a prevExist=false set: tried on one endpoint only.
		create  bool
		wantErr string
		wantAll bool // a *ClusterError
	}{
		{name: "first answers", endpoints: []string{ok.URL, down}},
		{name: "down then ok", endpoints: []string{down, ok.URL}},
		{name: "no leader then ok", endpoints: []string{noLeader.URL, ok.URL}},
		{name: "all down", endpoints: []string{down, noLeader.URL}, wantAll: true,
			wantErr: "client: etcd cluster is unavailable or misconfigured; error #0: dial tcp " + strings.TrimPrefix(down, "http://") + ": connect: connection refused\n; error #1: client: etcd member " + noLeader.URL + " has no leader\n"},
		{name: "one-shot is not retried", endpoints: []string{noLeader.URL, ok.URL}, create: true,
			wantErr: "client: etcd member " + noLeader.URL + " has no leader"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestClient(t, Config{Endpoints: tt.endpoints, HeaderTimeout: 5 * time.Second})
			var err error
			var resp *Response
			if tt.create {
				resp, err = c.Create(context.Background(), "/a", "1")
			} else {
				resp, err = c.Get(context.Background(), "/a", GetOptions{})
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if resp.Index != 7 || resp.Node.Value != "1" {
					t.Fatalf("response %+v, node %+v", resp, resp.Node)
				}
				return
			}
			if err == nil || err.Error() != tt.wantErr {
				t.Fatalf("error %q, want %q", err, tt.wantErr)
			}
			var cerr *ClusterError
			if errors.As(err, &cerr) != tt.wantAll {
				t.Fatalf("error %T: cluster error %v, want %v", err, !tt.wantAll, tt.wantAll)
			}
		})
	}
}

func TestPinnedEndpoint(t *testing.T) {
	ok := newFakeServer(t, answer(200, `{"action":"get","node":{"key":"/a"}}`))
	down := closedURL(t)
	c := newTestClient(t, Config{Endpoints: []string{down, ok.URL}})
	for i := 0; i < 2; i++ {
		if _, err := c.Get(context.Background(), "/a", GetOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// The second request starts at the endpoint that answered.
	var dbg bytes.Buffer
	c.curl = &dbg
	if _, err := c.Get(context.Background(), "/a", GetOptions{}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(dbg.String(), down) {
		t.Fatalf("request went to the endpoint that was down first:\n%s", dbg.String())
	}
}

func TestHeaderTimeout(t *testing.T) {
	release := make(chan struct{})
	slow := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	c := newTestClient(t, Config{Endpoints: []string{slow.URL}, HeaderTimeout: 50 * time.Millisecond})
	_, err := c.Get(context.Background(), "/a", GetOptions{})
	want := fmt.Sprintf("client: etcd cluster is unavailable or misconfigured; error #0: client: endpoint %s exceeded header timeout\n", slow.URL)
	if err == nil || err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
	// A context ending first is the context's error, not a cluster error.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	c2 := newTestClient(t, Config{Endpoints: []string{slow.URL}})
	if _, err := c2.Get(ctx, "/a", GetOptions{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want the context's deadline", err)
	}
}

func TestBasicAuthAndCURL(t *testing.T) {
	s := newFakeServer(t, answer(201, `{"action":"set","node":{"key":"/a","value":"v"}}`))
	var dbg bytes.Buffer
	c := newTestClient(t, Config{Endpoints: []string{s.URL}, Username: "root", Password: "pw", CURLDebug: &dbg})
	if _, err := c.Set(context.Background(), "a", "v", SetOptions{TTL: 5 * time.Second}); err != nil {
		t.Fatal(err)
	}
	r := s.requests()[0]
	if r.user != "root" || r.pass != "pw" {
		t.Fatalf("basic auth %q:%q", r.user, r.pass)
	}
	want := fmt.Sprintf("cURL Command: curl -X PUT %s/v2/keys/a -d \"ttl=5&value=v\"\n", s.URL)
	if dbg.String() != want {
		t.Fatalf("curl line %q, want %q", dbg.String(), want)
	}
}

func TestSync(t *testing.T) {
	var other *fakeServer
	other = newFakeServer(t, answer(200, `{"action":"get","node":{"key":"/"}}`))
	s := newFakeServer(t, answer(200, fmt.Sprintf(`{"members":[{"id":"1","name":"a","peerURLs":["http://p"],"clientURLs":[%q]}]}`, other.URL)))
	c := newTestClient(t, Config{Endpoints: []string{s.URL}})
	if err := c.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := c.Endpoints(); len(got) != 1 || got[0] != other.URL {
		t.Fatalf("endpoints after sync %v, want [%s]", got, other.URL)
	}
	none := newFakeServer(t, answer(200, `{"members":[{"id":"1","name":"a","peerURLs":["http://p"],"clientURLs":[]}]}`))
	c2 := newTestClient(t, Config{Endpoints: []string{none.URL}})
	if err := c2.Sync(context.Background()); !errors.Is(err, ErrNoEndpoints) {
		t.Fatalf("sync with no client URLs: %v, want ErrNoEndpoints", err)
	}
}

func TestTLS(t *testing.T) {
	s := httptest.NewTLSServer(answer(200, `{"action":"get","node":{"key":"/a","value":"1"}}`))
	defer s.Close()
	pool := x509.NewCertPool()
	pool.AddCert(s.Certificate())
	c := newTestClient(t, Config{Endpoints: []string{s.URL}, TLS: &tls.Config{RootCAs: pool}})
	if resp, err := c.Get(context.Background(), "/a", GetOptions{}); err != nil || resp.Node.Value != "1" {
		t.Fatalf("get over TLS: %v, %v", resp, err)
	}
	// Without the server's CA the handshake fails on every endpoint.
	c2 := newTestClient(t, Config{Endpoints: []string{s.URL}})
	var cerr *ClusterError
	if _, err := c2.Get(context.Background(), "/a", GetOptions{}); !errors.As(err, &cerr) {
		t.Fatalf("get without the CA: %v, want a cluster error", err)
	}
}

// TestProxy sends requests through Config.Proxy: a forward proxy gets
// the whole URL of the endpoint it stands in front of.
func TestProxy(t *testing.T) {
	s := newFakeServer(t, answer(200, `{"action":"get","node":{"key":"/a","value":"1"}}`))
	var mu sync.Mutex
	var seen []string
	proxy := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		mu.Lock()
		seen = append(seen, r.In.URL.String())
		mu.Unlock()
		r.Out.URL = r.In.URL
	}})
	defer proxy.Close()
	pu, err := url.Parse(proxy.URL)
	if err != nil {
		t.Fatal(err)
	}
	c := newTestClient(t, Config{Endpoints: []string{s.URL}, Proxy: http.ProxyURL(pu)})
	if resp, err := c.Get(context.Background(), "/a", GetOptions{}); err != nil || resp.Node.Value != "1" {
		t.Fatalf("get through the proxy: %v, %v", resp, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := s.URL + "/v2/keys/a?quorum=false&recursive=false&sorted=false"; len(seen) != 1 || seen[0] != want {
		t.Fatalf("proxy saw %q, want [%q]", seen, want)
	}
}
