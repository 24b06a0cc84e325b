package v2client

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strconv"
	"testing"
	"time"
)

// TestKeysRequests checks each keys call's request against what etcd's
// client sends.
func TestKeysRequests(t *testing.T) {
	tests := []struct {
		name string
		call func(c *Client) error
		want recorded
		// prefix is Config.KeysPrefix; endpointPath follows the endpoint's
		// host.
		prefix, endpointPath string
	}{
		{"get", func(c *Client) error {
			_, err := c.Get(bg, "/a/b", GetOptions{Recursive: true, Sort: true})
			return err
		},
			recorded{method: "GET", path: "/v2/keys/a/b", query: "quorum=false&recursive=true&sorted=true"}, "", ""},
		{"get root, quorum", func(c *Client) error { _, err := c.Get(bg, "", GetOptions{Quorum: true}); return err },
			recorded{method: "GET", path: "/v2/keys", query: "quorum=true&recursive=false&sorted=false"}, "", ""},
		{"get cleans the path", func(c *Client) error { _, err := c.Get(bg, "a//b/../c/", GetOptions{}); return err },
			recorded{method: "GET", path: "/v2/keys/a/c/", query: "quorum=false&recursive=false&sorted=false"}, "", ""},
		{"set", func(c *Client) error { _, err := c.Set(bg, "/a", "v 1", SetOptions{}); return err },
			recorded{method: "PUT", path: "/v2/keys/a", body: "value=v+1", contentType: formType}, "", ""},
		{"compare and swap", func(c *Client) error {
			_, err := c.Set(bg, "/a", "v", SetOptions{PrevValue: "old", PrevIndex: 4, TTL: 1500 * time.Millisecond})
			return err
		}, recorded{method: "PUT", path: "/v2/keys/a", query: "prevIndex=4&prevValue=old", body: "ttl=1&value=v", contentType: formType}, "", ""},
		{"create", func(c *Client) error { _, err := c.Create(bg, "/a", "v"); return err },
			recorded{method: "PUT", path: "/v2/keys/a", query: "prevExist=false", body: "value=v", contentType: formType}, "", ""},
		{"update", func(c *Client) error { _, err := c.Update(bg, "/a", "v"); return err },
			recorded{method: "PUT", path: "/v2/keys/a", query: "prevExist=true", body: "value=v", contentType: formType}, "", ""},
		{"dir: no value, no prevValue", func(c *Client) error {
			_, err := c.Set(bg, "/d", "ignored", SetOptions{Dir: true, PrevValue: "x", PrevExist: PrevNoExist})
			return err
		}, recorded{method: "PUT", path: "/v2/keys/d", query: "dir=true&prevExist=false", contentType: formType}, "", ""},
		{"refresh", func(c *Client) error {
			_, err := c.Set(bg, "/a", "", SetOptions{Refresh: true, TTL: 10 * time.Second, PrevExist: PrevExists, NoValueOnSuccess: true})
			return err
		}, recorded{method: "PUT", path: "/v2/keys/a", query: "noValueOnSuccess=true&prevExist=true", body: "refresh=true&ttl=10&value=", contentType: formType}, "", ""},
		{"in order", func(c *Client) error {
			_, err := c.CreateInOrder(bg, "/q", "job", CreateInOrderOptions{TTL: 3 * time.Second})
			return err
		}, recorded{method: "POST", path: "/v2/keys/q", body: "ttl=3&value=job", contentType: formType}, "", ""},
		{"delete", func(c *Client) error {
			_, err := c.Delete(bg, "/a", DeleteOptions{PrevValue: "v", PrevIndex: 2, Dir: true, Recursive: true})
			return err
		}, recorded{method: "DELETE", path: "/v2/keys/a", query: "dir=true&prevIndex=2&prevValue=v&recursive=true", contentType: formType}, "", ""},
		{"watch after index", func(c *Client) error {
			_, err := c.Watch("/a", WatchOptions{AfterIndex: 9, Recursive: true}).Next(bg)
			return err
		}, recorded{method: "GET", path: "/v2/keys/a", query: "recursive=true&wait=true&waitIndex=10"}, "", ""},
		{"discovery URL: keys under the endpoint's path", func(c *Client) error { _, err := c.Create(bg, "/8e2f", "m0=http://p"); return err },
			recorded{method: "PUT", path: "/token/8e2f", query: "prevExist=false", body: "value=m0%3Dhttp%3A%2F%2Fp", contentType: formType}, "/", "/token"},
		{"another prefix", func(c *Client) error { _, err := c.Get(bg, "_config/size", GetOptions{}); return err },
			recorded{method: "GET", path: "/v2/keys/token/_config/size", query: "quorum=false&recursive=false&sorted=false"}, "/v2/keys/token", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newFakeServer(t, answer(200, `{"action":"x","node":{"key":"/a","modifiedIndex":5}}`))
			c := newTestClient(t, Config{Endpoints: []string{s.URL}, KeysPrefix: tt.prefix})
			if tt.endpointPath != "" {
				c = newTestClient(t, Config{Endpoints: []string{s.URL + tt.endpointPath}, KeysPrefix: tt.prefix})
			}
			if err := tt.call(c); err != nil {
				t.Fatal(err)
			}
			if got := s.requests(); len(got) != 1 || got[0] != tt.want {
				t.Fatalf("requests %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

var bg = context.Background()

func TestKeysResponses(t *testing.T) {
	exp := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	tests := []struct {
		name    string
		code    int
		body    string
		want    *Response
		wantErr error
	}{
		{name: "set with prevNode", code: 200,
			body: `{"action":"set","node":{"key":"/a","value":"2","modifiedIndex":9,"createdIndex":9},"prevNode":{"key":"/a","value":"1","modifiedIndex":8,"createdIndex":8}}`,
			want: &Response{Action: "set", Index: 9, ClusterID: "cid",
				Node:     &Node{Key: "/a", Value: "2", ModifiedIndex: 9, CreatedIndex: 9},
				PrevNode: &Node{Key: "/a", Value: "1", ModifiedIndex: 8, CreatedIndex: 8}}},
		{name: "dir listing with ttl", code: 200,
			body: `{"action":"get","node":{"key":"/d","dir":true,"nodes":[{"key":"/d/x","value":"1","expiration":"2026-01-02T03:04:05.000000006Z","ttl":30,"modifiedIndex":4,"createdIndex":4}],"modifiedIndex":3,"createdIndex":3}}`,
			want: &Response{Action: "get", Index: 9, ClusterID: "cid",
				Node: &Node{Key: "/d", Dir: true, ModifiedIndex: 3, CreatedIndex: 3, Nodes: []*Node{{Key: "/d/x", Value: "1", Expiration: &exp, TTL: 30, ModifiedIndex: 4, CreatedIndex: 4}}}}},
		{name: "created", code: 201, body: `{"action":"create","node":{"key":"/a","value":"","modifiedIndex":9,"createdIndex":9}}`,
			want: &Response{Action: "create", Index: 9, ClusterID: "cid", Node: &Node{Key: "/a", ModifiedIndex: 9, CreatedIndex: 9}}},
		{name: "key not found", code: 404, body: `{"errorCode":100,"message":"Key not found","cause":"/foo","index":12}`,
			wantErr: &Error{Code: ErrorCodeKeyNotFound, Message: "Key not found", Cause: "/foo", Index: 12}},
		{name: "compare failed", code: 412, body: `{"errorCode":101,"message":"Compare failed","cause":"[x != y]","index":3}`,
			wantErr: &Error{Code: ErrorCodeTestFailed, Message: "Compare failed", Cause: "[x != y]", Index: 3}},
		{name: "not json", code: 404, body: `404 page not found`, wantErr: ErrInvalidJSON},
		{name: "empty", code: 200, body: ``, wantErr: ErrEmptyBody},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newFakeServer(t, answer(tt.code, tt.body, "X-Etcd-Index", strconv.Itoa(9), "X-Etcd-Cluster-ID", "cid"))
			c := newTestClient(t, Config{Endpoints: []string{s.URL}})
			got, err := c.Get(bg, "/a", GetOptions{})
			if tt.wantErr != nil {
				if !reflect.DeepEqual(err, tt.wantErr) && !errors.Is(err, tt.wantErr) {
					t.Fatalf("error %#v, want %#v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			gb, _ := json.Marshal(got)
			wb, _ := json.Marshal(tt.want)
			if string(gb) != string(wb) || got.Index != tt.want.Index || got.ClusterID != tt.want.ClusterID {
				t.Fatalf("response %s (index %d, cluster %q)\nwant %s", gb, got.Index, got.ClusterID, wb)
			}
		})
	}
}

// TestErrorText is etcd's wording, which etcdctl prints after "Error:  ".
func TestErrorText(t *testing.T) {
	err := &Error{Code: 100, Message: "Key not found", Cause: "/foo", Index: 12}
	if got, want := err.Error(), "100: Key not found (/foo) [12]"; got != want {
		t.Fatalf("%q, want %q", got, want)
	}
	b, _ := json.Marshal(err)
	if got, want := string(b), `{"errorCode":100,"message":"Key not found","cause":"/foo","index":12}`; got != want {
		t.Fatalf("%s, want %s", got, want)
	}
}

// TestResponseJSON is the marshalling etcdctl's json output prints.
func TestResponseJSON(t *testing.T) {
	r := &Response{Action: "get", Index: 4, Node: &Node{Key: "/foo", Value: "bar", CreatedIndex: 4, ModifiedIndex: 4}}
	b, _ := json.Marshal(r)
	want := `{"action":"get","node":{"key":"/foo","value":"bar","nodes":null,"createdIndex":4,"modifiedIndex":4},"prevNode":null}`
	if string(b) != want {
		t.Fatalf("%s\nwant %s", b, want)
	}
}

// TestWatcherNext follows the index from event to event and asks again
// after an empty answer (the server's end of an idle wait).
func TestWatcherNext(t *testing.T) {
	n := 0
	s := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		n++
		switch n {
		case 1:
			w.WriteHeader(200)
		case 2:
			w.Write([]byte(`{"action":"set","node":{"key":"/a","value":"1","modifiedIndex":20,"createdIndex":20}}`))
		default:
			w.Write([]byte(`{"action":"delete","node":{"key":"/a","modifiedIndex":21,"createdIndex":20}}`))
		}
	})
	c := newTestClient(t, Config{Endpoints: []string{s.URL}, HeaderTimeout: time.Nanosecond})
	w := c.Watch("/a", WatchOptions{})
	for _, want := range []string{"set", "delete"} {
		resp, err := w.Next(bg)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Action != want {
			t.Fatalf("action %q, want %q", resp.Action, want)
		}
	}
	var idx []string
	for _, r := range s.requests() {
		idx = append(idx, r.query)
	}
	want := []string{"recursive=false&wait=true&waitIndex=0", "recursive=false&wait=true&waitIndex=0", "recursive=false&wait=true&waitIndex=21"}
	if !reflect.DeepEqual(idx, want) {
		t.Fatalf("queries %q, want %q (a wait is not bounded by the header timeout)", idx, want)
	}
}

// TestWatcherEventWithoutNode: an answer to a wait that has no node is
// not the keys API's.
func TestWatcherEventWithoutNode(t *testing.T) {
	s := newFakeServer(t, answer(200, `{"action":"get"}`))
	c := newTestClient(t, Config{Endpoints: []string{s.URL}})
	if _, err := c.Watch("/a", WatchOptions{AfterIndex: 3}).Next(bg); !errors.Is(err, ErrInvalidJSON) {
		t.Fatalf("error %v, want %v", err, ErrInvalidJSON)
	}
}
