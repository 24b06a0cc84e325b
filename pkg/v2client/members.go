package v2client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"slices"
)

const membersPrefix = "/v2/members"

// Member is a cluster member as /v2/members describes it. An unstarted
// member has no name and no client URLs.
type Member struct {
	// ID is the member's ID in hex.
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	PeerURLs   []string `json:"peerURLs"`
	ClientURLs []string `json:"clientURLs"`
}

func membersURL(elem ...string) func(url.URL) *url.URL {
	return func(ep url.URL) *url.URL {
		ep.Path = path.Join(append([]string{ep.Path, membersPrefix}, elem...)...)
		return &ep
	}
}

// call sends r and accepts the statuses in ok, decoding the body into out
// (if not nil). A status in withMessage is a *StatusError carrying the
// message of the server's {"message": ...} body; any other status is a
// *StatusError without one.
func (c *Client) call(ctx context.Context, r *request, ok, withMessage []int, out any) (int, error) {
	resp, body, err := c.do(ctx, r)
	if err != nil {
		return 0, err
	}
	code := resp.StatusCode
	switch {
	case slices.Contains(ok, code):
		if out != nil {
			if err := json.Unmarshal(body, out); err != nil {
				return code, fmt.Errorf("decode %s %s response: %w", r.method, r.url(url.URL{}).Path, err)
			}
		}
		return code, nil
	case slices.Contains(withMessage, code) || slices.Contains(withMessage, anyStatus):
		var m struct {
			Message string `json:"message"`
		}
		if err := json.Unmarshal(body, &m); err != nil {
			return code, fmt.Errorf("decode %s %s error (status %d): %w", r.method, r.url(url.URL{}).Path, code, err)
		}
		return code, &StatusError{StatusCode: code, Message: m.Message}
	}
	return code, &StatusError{StatusCode: code}
}

func jsonRequest(method string, u func(url.URL) *url.URL, v any) *request {
	r := &request{method: method, url: u}
	if v != nil {
		b, err := json.Marshal(v)
		if err != nil {
			// Only the package's own request types are marshalled.
			panic(err)
		}
		r.body, r.contentType = b, "application/json"
	}
	return r
}

// ListMembers lists the cluster's members.
func (c *Client) ListMembers(ctx context.Context) ([]Member, error) {
	var out struct {
		Members []Member `json:"members"`
	}
	if _, err := c.call(ctx, jsonRequest(http.MethodGet, membersURL(), nil), []int{http.StatusOK}, nil, &out); err != nil {
		return nil, err
	}
	if out.Members == nil {
		out.Members = []Member{}
	}
	return out.Members, nil
}

type peerURLsRequest struct {
	PeerURLs []string `json:"peerURLs"`
}

// checkURLs rejects what etcd's types.NewURLs rejects before sending.
func checkURLs(urls []string) error {
	for _, s := range urls {
		u, err := url.Parse(s)
		if err != nil {
			return err
		}
		if u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "unix" && u.Scheme != "unixs" {
			return fmt.Errorf("URL scheme must be http, https, unix, or unixs: %s", s)
		}
		if _, _, err := splitHostPort(u.Host); err != nil {
			return fmt.Errorf(`URL address does not have the form "host:port": %s`, s)
		}
		if u.Path != "" {
			return fmt.Errorf("URL must not contain a path: %s", s)
		}
	}
	return nil
}

// AddMember adds a member with one peer URL; it starts unstarted.
func (c *Client) AddMember(ctx context.Context, peerURL string) (*Member, error) {
	if err := checkURLs([]string{peerURL}); err != nil {
		return nil, err
	}
	var m Member
	r := jsonRequest(http.MethodPost, membersURL(), peerURLsRequest{PeerURLs: []string{peerURL}})
	if _, err := c.call(ctx, r, []int{http.StatusCreated}, []int{http.StatusConflict}, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// UpdateMember replaces the peer URLs of the member with hex ID id.
func (c *Client) UpdateMember(ctx context.Context, id string, peerURLs []string) error {
	if err := checkURLs(peerURLs); err != nil {
		return err
	}
	// etcd's client sends the URLs sorted.
	sorted := slices.Clone(peerURLs)
	slices.Sort(sorted)
	r := jsonRequest(http.MethodPut, membersURL(id), peerURLsRequest{PeerURLs: sorted})
	_, err := c.call(ctx, r, []int{http.StatusNoContent}, []int{http.StatusNotFound, http.StatusConflict}, nil)
	return err
}

// RemoveMember removes the member with hex ID id. A member already
// removed (410 Gone) is not an error.
func (c *Client) RemoveMember(ctx context.Context, id string) error {
	_, err := c.call(ctx, jsonRequest(http.MethodDelete, membersURL(id), nil), []int{http.StatusNoContent, http.StatusGone}, nil, nil)
	return err
}

// Leader is the member the answering member knows as leader.
func (c *Client) Leader(ctx context.Context) (*Member, error) {
	var m Member
	if _, err := c.call(ctx, jsonRequest(http.MethodGet, membersURL("leader"), nil), []int{http.StatusOK}, nil, &m); err != nil {
		return nil, err
	}
	return &m, nil
}
