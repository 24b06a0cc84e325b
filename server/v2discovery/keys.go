package v2discovery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The small part of the v2 keys API that discovery uses: a node, a
// response, and the errors etcd's v2 client tells apart.

// errorCodeNodeExist is the v2 error of a create over an existing key.
const errorCodeNodeExist = 105

// errInvalidJSON is an answer that is not the keys API's JSON.
var errInvalidJSON = errors.New("client: response is invalid json. The endpoint is probably not valid etcd cluster endpoint")

// errClusterUnavailable heads a clusterError, as etcd's client words it.
var errClusterUnavailable = errors.New("client: etcd cluster is unavailable or misconfigured")

type node struct {
	Key           string  `json:"key"`
	Value         string  `json:"value"`
	Dir           bool    `json:"dir"`
	Nodes         []*node `json:"nodes"`
	CreatedIndex  uint64  `json:"createdIndex"`
	ModifiedIndex uint64  `json:"modifiedIndex"`
}

type response struct {
	Action string `json:"action"`
	Node   *node  `json:"node"`
	// Index is X-Etcd-Index: the store's index when it answered.
	Index uint64 `json:"-"`
}

// keysError is a v2 error answer; it prints as etcd's client prints it.
type keysError struct {
	Code    int    `json:"errorCode"`
	Message string `json:"message"`
	Cause   string `json:"cause"`
	Index   uint64 `json:"index"`
}

func (e *keysError) Error() string {
	return fmt.Sprintf("%v: %v (%v) [%v]", e.Code, e.Message, e.Cause, e.Index)
}

// clusterError is a service that could not be reached or answered with a
// server error: the cases etcd retries with backoff.
type clusterError struct{ errs []error }

func (e *clusterError) Error() string {
	s := errClusterUnavailable.Error()
	for i, err := range e.errs {
		s += fmt.Sprintf("; error #%d: %s\n", i, err)
	}
	return s
}

func (e *clusterError) detail() string {
	var s string
	for i, err := range e.errs {
		s += fmt.Sprintf("error #%d: %s\n", i, err)
	}
	return s
}

// do sends one keys API request for key (a path under the discovery
// service's root) and decodes the answer.
func (d *discovery) do(ctx context.Context, method, key string, query, form url.Values) (*response, error) {
	u := *d.base
	u.Path = key
	u.RawQuery = query.Encode()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("discovery request %s %s: %w", method, key, err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := d.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &clusterError{errs: []error{err}}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &clusterError{errs: []error{err}}
	}
	switch {
	case resp.StatusCode == http.StatusInternalServerError || resp.StatusCode == http.StatusServiceUnavailable:
		return nil, &clusterError{errs: []error{fmt.Errorf("client: etcd member %s has no leader", d.base)}}
	case resp.StatusCode/100 == 5:
		return nil, &clusterError{errs: []error{fmt.Errorf("client: etcd member %s returns server error [%s]", d.base, http.StatusText(resp.StatusCode))}}
	case resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusCreated:
		if len(b) == 0 {
			return nil, errors.New("client: response body is empty")
		}
		var r response
		if err := json.Unmarshal(b, &r); err != nil || r.Node == nil {
			return nil, errInvalidJSON
		}
		if h := resp.Header.Get("X-Etcd-Index"); h != "" {
			if r.Index, err = strconv.ParseUint(h, 10, 64); err != nil {
				return nil, fmt.Errorf("discovery: bad X-Etcd-Index %q: %w", h, err)
			}
		}
		return &r, nil
	default:
		var kerr keysError
		if err := json.Unmarshal(b, &kerr); err != nil {
			return nil, errInvalidJSON
		}
		return nil, &kerr
	}
}

// netDialer dials with a timeout and TCP keepalives, as etcd's
// transports do.
type netDialer struct{ timeout time.Duration }

func (n *netDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: n.timeout, KeepAlive: 30 * time.Second}
	return d.DialContext(ctx, network, addr)
}
