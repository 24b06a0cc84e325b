package v2client

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures a Client.
type Config struct {
	// Endpoints are the members' client URLs ("http://127.0.0.1:2379").
	Endpoints []string
	// Transport carries the requests; nil builds one from TLS and
	// DialTimeout.
	Transport http.RoundTripper
	// TLS configures https endpoints when Transport is nil.
	TLS *tls.Config
	// DialTimeout bounds a connection's set-up when Transport is nil
	// (default 30s, as etcd's transport).
	DialTimeout time.Duration
	// DialContext, if set, makes connections when Transport is nil (for
	// a resolver of the caller's own); the default dials as net.Dialer.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// Proxy chooses the HTTP proxy of each request when Transport is nil,
	// as http.Transport.Proxy does; nil is the environment's
	// (http.ProxyFromEnvironment). A func answering nil, nil uses none,
	// as etcd's discovery does without --discovery-proxy.
	Proxy func(*http.Request) (*url.URL, error)
	// HeaderTimeout bounds the wait for each response's headers, except
	// for waits (watches); 0 waits as long as the context allows.
	HeaderTimeout time.Duration
	// Username and Password, if Username is set, are sent as basic auth.
	Username, Password string
	// KeysPrefix is the keys API's path under each endpoint; empty is
	// DefaultKeysPrefix. "/" addresses keys right under the endpoint's own
	// path, as a v2 discovery URL (https://host/<token>) needs.
	KeysPrefix string
	// CURLDebug, if set, receives each request as a curl command line
	// ("cURL Command: curl -X GET http://...") before it is sent.
	CURLDebug io.Writer
}

// Client talks to a cluster through its endpoints. It is safe for
// concurrent use.
type Client struct {
	hc            *http.Client
	headerTimeout time.Duration
	username      string
	password      string
	keysPrefix    string
	curl          io.Writer
	curlMu        sync.Mutex

	mu        sync.Mutex
	endpoints []url.URL
	pinned    int
}

// New returns a client of cfg.Endpoints.
func New(cfg Config) (*Client, error) {
	eps, err := parseEndpoints(cfg.Endpoints)
	if err != nil {
		return nil, err
	}
	tr := cfg.Transport
	if tr == nil {
		dt := cfg.DialTimeout
		if dt == 0 {
			dt = 30 * time.Second
		}
		dial := cfg.DialContext
		if dial == nil {
			dial = (&net.Dialer{Timeout: dt, KeepAlive: 30 * time.Second}).DialContext
		}
		proxy := cfg.Proxy
		if proxy == nil {
			proxy = http.ProxyFromEnvironment
		}
		tr = &http.Transport{
			Proxy:               proxy,
			DialContext:         dial,
			TLSHandshakeTimeout: 10 * time.Second,
			TLSClientConfig:     cfg.TLS,
		}
	}
	c := &Client{
		hc: &http.Client{Transport: tr, CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > 10 {
				return ErrTooManyRedirects
			}
			return nil
		}},
		headerTimeout: cfg.HeaderTimeout,
		username:      cfg.Username,
		password:      cfg.Password,
		keysPrefix:    cfg.KeysPrefix,
		curl:          cfg.CURLDebug,
		endpoints:     eps,
	}
	switch c.keysPrefix {
	case "":
		c.keysPrefix = DefaultKeysPrefix
	case "/":
		c.keysPrefix = ""
	}
	return c, nil
}

func parseEndpoints(eps []string) ([]url.URL, error) {
	if len(eps) == 0 {
		return nil, ErrNoEndpoints
	}
	out := make([]url.URL, len(eps))
	for i, ep := range eps {
		u, err := url.Parse(ep)
		if err != nil {
			return nil, err
		}
		out[i] = *u
	}
	return out, nil
}

// Endpoints are the URLs the client sends requests to.
func (c *Client) Endpoints() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, len(c.endpoints))
	for i, u := range c.endpoints {
		out[i] = u.String()
	}
	return out
}

// SetEndpoints replaces the endpoints.
func (c *Client) SetEndpoints(eps []string) error {
	neps, err := parseEndpoints(eps)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.endpoints, c.pinned = neps, 0
	return nil
}

// Sync replaces the endpoints with the client URLs the cluster's members
// publish. A cluster that publishes none is ErrNoEndpoints.
func (c *Client) Sync(ctx context.Context) error {
	ms, err := c.ListMembers(ctx)
	if err != nil {
		return err
	}
	var eps []string
	for _, m := range ms {
		eps = append(eps, m.ClientURLs...)
	}
	return c.SetEndpoints(eps)
}

// request is one API call, turned into an http.Request per endpoint.
type request struct {
	method string
	// url builds the request's URL from an endpoint.
	url         func(ep url.URL) *url.URL
	body        []byte
	contentType string
	// oneShot requests are not retried on another endpoint.
	oneShot bool
	// wait requests are not bounded by the header timeout.
	wait bool
}

func (r *request) build(ctx context.Context, ep url.URL) (*http.Request, error) {
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, r.url(ep).String(), body)
	if err != nil {
		return nil, err
	}
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	return req, nil
}

// do sends r to the endpoints in turn, from the pinned one, and returns
// the first answer that is not a 5xx, with its body read.
func (c *Client) do(ctx context.Context, r *request) (*http.Response, []byte, error) {
	c.mu.Lock()
	eps := append([]url.URL(nil), c.endpoints...)
	pinned := c.pinned
	c.mu.Unlock()
	if len(eps) == 0 {
		return nil, nil, ErrNoEndpoints
	}
	cerr := &ClusterError{}
	for i := pinned; i < pinned+len(eps); i++ {
		k := i % len(eps)
		resp, body, err := c.doOne(ctx, r, eps[k])
		if err != nil {
			cerr.Errors = append(cerr.Errors, err)
			if ctx.Err() != nil {
				return nil, nil, ctx.Err()
			}
		} else if resp.StatusCode/100 == 5 {
			switch resp.StatusCode {
			case http.StatusInternalServerError, http.StatusServiceUnavailable:
				err = fmt.Errorf("client: etcd member %s has no leader", eps[k].String())
			default:
				err = fmt.Errorf("client: etcd member %s returns server error [%s]", eps[k].String(), http.StatusText(resp.StatusCode))
			}
			cerr.Errors = append(cerr.Errors, err)
			// etcd's client reports the first failure of a one-shot
			// request as it is, not wrapped.
			err = cerr.Errors[0]
		}
		if err != nil {
			if !r.oneShot {
				continue
			}
			c.mu.Lock()
			c.pinned = (k + 1) % len(eps)
			c.mu.Unlock()
			return nil, nil, err
		}
		if k != pinned {
			c.mu.Lock()
			c.pinned = k
			c.mu.Unlock()
		}
		return resp, body, nil
	}
	return nil, nil, cerr
}

// doOne sends r to one endpoint.
func (c *Client) doOne(ctx context.Context, r *request, ep url.URL) (*http.Response, []byte, error) {
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := r.build(rctx, ep)
	if err != nil {
		return nil, nil, err
	}
	if c.username != "" {
		req.SetBasicAuth(c.username, c.password)
	}
	c.logCURL(req, r.body)
	var timedOut atomic.Bool
	var timer *time.Timer
	if !r.wait && c.headerTimeout > 0 {
		timer = time.AfterFunc(c.headerTimeout, func() {
			timedOut.Store(true)
			cancel()
		})
	}
	resp, err := c.hc.Do(req)
	if timer != nil {
		timer.Stop()
	}
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return nil, nil, ctx.Err()
		case timedOut.Load():
			return nil, nil, fmt.Errorf("client: endpoint %s exceeded header timeout", ep.String())
		}
		// net/http wraps the transport's error in a *url.Error; etcd's
		// client, calling the transport directly, sees it bare.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		return nil, nil, fmt.Errorf("read response from %s: %w", ep.String(), err)
	}
	return resp, body, nil
}

func (c *Client) logCURL(req *http.Request, body []byte) {
	if c.curl == nil {
		return
	}
	line := fmt.Sprintf("curl -X %s %s", req.Method, req.URL.String())
	if body != nil {
		line += fmt.Sprintf(" -d %q", string(body))
	}
	c.curlMu.Lock()
	defer c.curlMu.Unlock()
	fmt.Fprintf(c.curl, "cURL Command: %s\n", line)
}

// HTTPClient is the HTTP client the requests go through (its transport
// carries Config's TLS), for requests of the caller's own, such as each
// member's /health.
func (c *Client) HTTPClient() *http.Client { return c.hc }
