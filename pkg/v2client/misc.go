package v2client

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"path"
)

func splitHostPort(hostport string) (string, string, error) { return net.SplitHostPort(hostport) }

func plainURL(p string) func(url.URL) *url.URL {
	return func(ep url.URL) *url.URL {
		ep.Path = path.Join(ep.Path, p)
		return &ep
	}
}

// Versions is /version's answer.
type Versions struct {
	Server  string `json:"etcdserver"`
	Cluster string `json:"etcdcluster"`
}

// Version asks the first endpoint that answers for its versions.
func (c *Client) Version(ctx context.Context) (*Versions, error) {
	var v Versions
	if _, err := c.call(ctx, jsonRequest(http.MethodGet, plainURL("/version"), nil), []int{http.StatusOK}, nil, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// Health is /health's answer. Health is "true" for a healthy member;
// older servers send a JSON boolean, which decodes to "true" or "false".
type Health struct {
	Health string `json:"health"`
	Reason string `json:"reason,omitempty"`
}

// UnmarshalJSON accepts {"health":"true"} and {"health":true}.
func (h *Health) UnmarshalJSON(b []byte) error {
	var s struct {
		Health json.RawMessage `json:"health"`
		Reason string          `json:"reason"`
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	h.Reason = s.Reason
	var str string
	if err := json.Unmarshal(s.Health, &str); err == nil {
		h.Health = str
		return nil
	}
	var b2 bool
	if err := json.Unmarshal(s.Health, &b2); err != nil {
		return err
	}
	h.Health = "false"
	if b2 {
		h.Health = "true"
	}
	return nil
}

// CheckHealth asks the first endpoint that answers for /health. A member
// without a leader answers 503, which moves on to the next endpoint as
// any 5xx does.
func (c *Client) CheckHealth(ctx context.Context) (*Health, error) {
	var h Health
	if _, err := c.call(ctx, jsonRequest(http.MethodGet, plainURL("/health"), nil), []int{http.StatusOK}, nil, &h); err != nil {
		return nil, err
	}
	return &h, nil
}

// Stats returns /v2/stats/<kind> as the server sent it: kind is "self",
// "leader" or "store".
func (c *Client) Stats(ctx context.Context, kind string) (json.RawMessage, error) {
	var raw json.RawMessage
	if _, err := c.call(ctx, jsonRequest(http.MethodGet, plainURL("/v2/stats/"+kind), nil), []int{http.StatusOK}, []int{http.StatusForbidden, http.StatusNotFound}, &raw); err != nil {
		return nil, err
	}
	return raw, nil
}
