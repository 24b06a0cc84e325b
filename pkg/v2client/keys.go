package v2client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"time"
)

// DefaultKeysPrefix is where the keys API is under a member's URL.
const DefaultKeysPrefix = "/v2/keys"

// Node is a key or a directory of the v2 store.
type Node struct {
	Key           string     `json:"key"`
	Dir           bool       `json:"dir,omitempty"`
	Value         string     `json:"value"`
	Nodes         []*Node    `json:"nodes"`
	CreatedIndex  uint64     `json:"createdIndex"`
	ModifiedIndex uint64     `json:"modifiedIndex"`
	Expiration    *time.Time `json:"expiration,omitempty"`
	// TTL is the node's remaining time to live in seconds (0: none).
	TTL int64 `json:"ttl,omitempty"`
}

// Response is a keys API answer.
type Response struct {
	// Action is "get", "set", "create", "update", "compareAndSwap",
	// "delete", "compareAndDelete" or "expire".
	Action   string `json:"action"`
	Node     *Node  `json:"node"`
	PrevNode *Node  `json:"prevNode"`
	// Index is the store's index when it answered (X-Etcd-Index).
	Index uint64 `json:"-"`
	// ClusterID is the X-Etcd-Cluster-ID header.
	ClusterID string `json:"-"`
}

// PrevExist conditions a Set on the key's existence.
type PrevExist string

const (
	PrevIgnore  PrevExist = ""
	PrevExists  PrevExist = "true"
	PrevNoExist PrevExist = "false"
)

// GetOptions are a Get's query parameters.
type GetOptions struct {
	Recursive bool
	Sort      bool
	// Quorum reads through consensus instead of the member's store.
	Quorum bool
}

// SetOptions are a Set's conditions and attributes.
type SetOptions struct {
	PrevValue string
	PrevIndex uint64
	PrevExist PrevExist
	// TTL is rounded down to seconds; 0 is no TTL.
	TTL time.Duration
	// Refresh resets the TTL without changing the value (or notifying
	// watchers).
	Refresh bool
	// Dir makes the node a directory; the value is not sent.
	Dir bool
	// NoValueOnSuccess asks the server to leave the node out of a
	// successful answer.
	NoValueOnSuccess bool
}

// DeleteOptions are a Delete's conditions.
type DeleteOptions struct {
	PrevValue string
	PrevIndex uint64
	Dir       bool
	Recursive bool
}

// CreateInOrderOptions are the attributes of an in-order key.
type CreateInOrderOptions struct {
	TTL time.Duration
}

// WatchOptions choose what a Watcher sees.
type WatchOptions struct {
	// AfterIndex: the first event seen is the first one after this index
	// (0: the next one to happen).
	AfterIndex uint64
	Recursive  bool
}

// canonicalPath cleans p as etcd's pathutil does, keeping one trailing
// slash.
func canonicalPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		np += "/"
	}
	return np
}

func (c *Client) keysURL(key string, q url.Values) func(url.URL) *url.URL {
	return func(ep url.URL) *url.URL {
		if key != "" && key[0] != '/' {
			key = "/" + key
		}
		ep.Path = canonicalPath(ep.Path + c.keysPrefix + key)
		if q != nil {
			ep.RawQuery = q.Encode()
		}
		return &ep
	}
}

const formType = "application/x-www-form-urlencoded"

// Get reads key (a directory lists its children; Recursive, all of them).
func (c *Client) Get(ctx context.Context, key string, opts GetOptions) (*Response, error) {
	q := url.Values{}
	q.Set("recursive", strconv.FormatBool(opts.Recursive))
	q.Set("sorted", strconv.FormatBool(opts.Sort))
	q.Set("quorum", strconv.FormatBool(opts.Quorum))
	return c.keysDo(ctx, &request{method: http.MethodGet, url: c.keysURL(key, q)})
}

// Set writes key under opts' conditions.
func (c *Client) Set(ctx context.Context, key, value string, opts SetOptions) (*Response, error) {
	q := url.Values{}
	form := url.Values{}
	if opts.Dir {
		q.Set("dir", "true")
	} else {
		if opts.PrevValue != "" {
			q.Set("prevValue", opts.PrevValue)
		}
		form.Add("value", value)
	}
	if opts.PrevIndex != 0 {
		q.Set("prevIndex", strconv.FormatUint(opts.PrevIndex, 10))
	}
	if opts.PrevExist != PrevIgnore {
		q.Set("prevExist", string(opts.PrevExist))
	}
	if opts.TTL > 0 {
		form.Add("ttl", strconv.FormatUint(uint64(opts.TTL.Seconds()), 10))
	}
	if opts.Refresh {
		form.Add("refresh", "true")
	}
	if opts.NoValueOnSuccess {
		q.Set("noValueOnSuccess", "true")
	}
	return c.keysDo(ctx, &request{
		method:      http.MethodPut,
		url:         c.keysURL(key, q),
		body:        []byte(form.Encode()),
		contentType: formType,
		oneShot:     opts.PrevExist == PrevNoExist,
	})
}

// Create writes key only if it does not exist.
func (c *Client) Create(ctx context.Context, key, value string) (*Response, error) {
	return c.Set(ctx, key, value, SetOptions{PrevExist: PrevNoExist})
}

// Update writes key only if it exists.
func (c *Client) Update(ctx context.Context, key, value string) (*Response, error) {
	return c.Set(ctx, key, value, SetOptions{PrevExist: PrevExists})
}

// CreateInOrder creates a key in dir named after the store's index, so
// that a sorted listing of dir lists keys in the order they were made.
func (c *Client) CreateInOrder(ctx context.Context, dir, value string, opts CreateInOrderOptions) (*Response, error) {
	form := url.Values{}
	form.Add("value", value)
	if opts.TTL > 0 {
		form.Add("ttl", strconv.FormatUint(uint64(opts.TTL.Seconds()), 10))
	}
	return c.keysDo(ctx, &request{
		method:      http.MethodPost,
		url:         c.keysURL(dir, nil),
		body:        []byte(form.Encode()),
		contentType: formType,
	})
}

// Delete removes key under opts' conditions.
func (c *Client) Delete(ctx context.Context, key string, opts DeleteOptions) (*Response, error) {
	q := url.Values{}
	if opts.PrevValue != "" {
		q.Set("prevValue", opts.PrevValue)
	}
	if opts.PrevIndex != 0 {
		q.Set("prevIndex", strconv.FormatUint(opts.PrevIndex, 10))
	}
	if opts.Dir {
		q.Set("dir", "true")
	}
	if opts.Recursive {
		q.Set("recursive", "true")
	}
	return c.keysDo(ctx, &request{
		method:      http.MethodDelete,
		url:         c.keysURL(key, q),
		contentType: formType,
		oneShot:     true,
	})
}

func (c *Client) keysDo(ctx context.Context, r *request) (*Response, error) {
	resp, body, err := c.do(ctx, r)
	if err != nil {
		return nil, err
	}
	return decodeKeysResponse(resp.StatusCode, resp.Header, body)
}

func decodeKeysResponse(code int, h http.Header, body []byte) (*Response, error) {
	if code != http.StatusOK && code != http.StatusCreated {
		var e Error
		if err := json.Unmarshal(body, &e); err != nil {
			return nil, ErrInvalidJSON
		}
		return nil, &e
	}
	if len(body) == 0 {
		return nil, ErrEmptyBody
	}
	var res Response
	if err := json.Unmarshal(body, &res); err != nil {
		return nil, ErrInvalidJSON
	}
	if s := h.Get("X-Etcd-Index"); s != "" {
		idx, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return nil, err
		}
		res.Index = idx
	}
	res.ClusterID = h.Get("X-Etcd-Cluster-ID")
	return &res, nil
}

// Watcher waits for the changes of a key (or, recursive, of a directory's
// keys), one at a time.
type Watcher struct {
	c         *Client
	key       string
	recursive bool
	waitIndex uint64
}

// Watch returns a watcher of key; nothing is sent before Next.
func (c *Client) Watch(key string, opts WatchOptions) *Watcher {
	w := &Watcher{c: c, key: key, recursive: opts.Recursive}
	if opts.AfterIndex > 0 {
		w.waitIndex = opts.AfterIndex + 1
	}
	return w
}

// Next waits for the next change and returns it; the following call waits
// for the change after it. An event without a node is ErrInvalidJSON: it
// is not the keys API's (etcd's client would fail on it with a nil
// pointer).
func (w *Watcher) Next(ctx context.Context) (*Response, error) {
	for {
		q := url.Values{}
		q.Set("wait", "true")
		q.Set("waitIndex", strconv.FormatUint(w.waitIndex, 10))
		q.Set("recursive", strconv.FormatBool(w.recursive))
		resp, err := w.c.keysDo(ctx, &request{method: http.MethodGet, url: w.c.keysURL(w.key, q), wait: true})
		if err == ErrEmptyBody {
			// The server ends an idle wait with an empty body: ask again.
			continue
		}
		if err != nil {
			return nil, err
		}
		if resp.Node == nil {
			return nil, ErrInvalidJSON
		}
		w.waitIndex = resp.Node.ModifiedIndex + 1
		return resp, nil
	}
}
