package v2client

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestAPICalls checks the membership, auth and misc calls: the request
// sent, and how each answer is read.
func TestAPICalls(t *testing.T) {
	tests := []struct {
		name       string
		code       int
		body       string
		call       func(c *Client) (any, error)
		wantReq    recorded
		want       any
		wantErrMsg string
	}{
		{name: "member list", code: 200,
			body:    `{"members":[{"id":"a1","name":"e0","peerURLs":["http://p:2380"],"clientURLs":["http://c:2379"]},{"id":"b2","name":"","peerURLs":["http://q:2380"],"clientURLs":[]}]}`,
			call:    func(c *Client) (any, error) { return c.ListMembers(bg) },
			wantReq: recorded{method: "GET", path: "/v2/members"},
			want: []Member{{ID: "a1", Name: "e0", PeerURLs: []string{"http://p:2380"}, ClientURLs: []string{"http://c:2379"}},
				{ID: "b2", PeerURLs: []string{"http://q:2380"}, ClientURLs: []string{}}}},
		{name: "member list, none", code: 200, body: `{}`,
			call: func(c *Client) (any, error) { return c.ListMembers(bg) }, wantReq: recorded{method: "GET", path: "/v2/members"}, want: []Member{}},
		{name: "member list refused", code: 401, body: `{"message":"Insufficient credentials"}`,
			call: func(c *Client) (any, error) { return c.ListMembers(bg) }, wantReq: recorded{method: "GET", path: "/v2/members"}, wantErrMsg: "unexpected status code 401"},
		{name: "member add", code: 201, body: `{"id":"c3","name":"","peerURLs":["http://n:2380"],"clientURLs":[]}`,
			call:    func(c *Client) (any, error) { return c.AddMember(bg, "http://n:2380") },
			wantReq: recorded{method: "POST", path: "/v2/members", body: `{"peerURLs":["http://n:2380"]}`, contentType: "application/json"},
			want:    &Member{ID: "c3", PeerURLs: []string{"http://n:2380"}, ClientURLs: []string{}}},
		{name: "member add conflict", code: 409, body: `{"message":"peerURL exists"}`,
			call:    func(c *Client) (any, error) { return c.AddMember(bg, "http://n:2380") },
			wantReq: recorded{method: "POST", path: "/v2/members", body: `{"peerURLs":["http://n:2380"]}`, contentType: "application/json"}, wantErrMsg: "peerURL exists"},
		{name: "member add bad url", call: func(c *Client) (any, error) { return c.AddMember(bg, "nourl") },
			wantErrMsg: "URL scheme must be http, https, unix, or unixs: nourl"},
		{name: "member update", code: 204,
			call: func(c *Client) (any, error) {
				return nil, c.UpdateMember(bg, "c3", []string{"http://z:1", "http://a:1"})
			},
			wantReq: recorded{method: "PUT", path: "/v2/members/c3", body: `{"peerURLs":["http://a:1","http://z:1"]}`, contentType: "application/json"}},
		{name: "member update unknown", code: 404, body: `{"message":"No such member: c3"}`,
			call:       func(c *Client) (any, error) { return nil, c.UpdateMember(bg, "c3", []string{"http://a:1"}) },
			wantReq:    recorded{method: "PUT", path: "/v2/members/c3", body: `{"peerURLs":["http://a:1"]}`, contentType: "application/json"},
			wantErrMsg: "No such member: c3"},
		{name: "member remove", code: 204, call: func(c *Client) (any, error) { return nil, c.RemoveMember(bg, "c3") },
			wantReq: recorded{method: "DELETE", path: "/v2/members/c3"}},
		{name: "member remove gone", code: 410, call: func(c *Client) (any, error) { return nil, c.RemoveMember(bg, "c3") },
			wantReq: recorded{method: "DELETE", path: "/v2/members/c3"}},
		{name: "member remove unknown", code: 404, body: `{"message":"x"}`, call: func(c *Client) (any, error) { return nil, c.RemoveMember(bg, "c3") },
			wantReq: recorded{method: "DELETE", path: "/v2/members/c3"}, wantErrMsg: "unexpected status code 404"},
		{name: "leader", code: 200, body: `{"id":"a1","name":"e0","peerURLs":[],"clientURLs":[]}`,
			call:    func(c *Client) (any, error) { return c.Leader(bg) },
			wantReq: recorded{method: "GET", path: "/v2/members/leader"}, want: &Member{ID: "a1", Name: "e0", PeerURLs: []string{}, ClientURLs: []string{}}},
		{name: "auth enable", code: 200, call: func(c *Client) (any, error) { return nil, c.EnableAuth(bg) },
			wantReq: recorded{method: "PUT", path: "/v2/auth/enable"}},
		{name: "auth enable without root", code: 409, body: `{"message":"auth: No root user available, please create one"}`,
			call:    func(c *Client) (any, error) { return nil, c.EnableAuth(bg) },
			wantReq: recorded{method: "PUT", path: "/v2/auth/enable"}, wantErrMsg: "auth: No root user available, please create one"},
		{name: "auth disable", code: 200, call: func(c *Client) (any, error) { return nil, c.DisableAuth(bg) },
			wantReq: recorded{method: "DELETE", path: "/v2/auth/enable"}},
		{name: "auth enabled", code: 200, body: `{"enabled":true}`, call: func(c *Client) (any, error) { return c.AuthEnabled(bg) },
			wantReq: recorded{method: "GET", path: "/v2/auth/enable"}, want: true},
		{name: "user list", code: 200, body: `{"users":[{"user":"root","roles":[{"role":"root","permissions":{"kv":{"read":["/*"],"write":["/*"]}}}]},{"user":"u"}]}`,
			call:    func(c *Client) (any, error) { return c.ListUsers(bg) },
			wantReq: recorded{method: "GET", path: "/v2/auth/users", contentType: "application/json"}, want: []string{"root", "u"}},
		{name: "user add", code: 201, call: func(c *Client) (any, error) { return nil, c.AddUser(bg, "u", "p") },
			wantReq: recorded{method: "PUT", path: "/v2/auth/users/u", body: `{"user":"u","password":"p","roles":null}`, contentType: "application/json"}},
		{name: "user get", code: 200, body: `{"user":"u","roles":[{"role":"r1","permissions":{"kv":{"read":[],"write":[]}}}]}`,
			call:    func(c *Client) (any, error) { return c.GetUser(bg, "u") },
			wantReq: recorded{method: "GET", path: "/v2/auth/users/u"}, want: &User{User: "u", Roles: []string{"r1"}}},
		{name: "user get missing", code: 404, body: `{"message":"auth: User u does not exist."}`,
			call:    func(c *Client) (any, error) { return c.GetUser(bg, "u") },
			wantReq: recorded{method: "GET", path: "/v2/auth/users/u"}, wantErrMsg: "auth: User u does not exist."},
		{name: "user grant", code: 200, body: `{"user":"u","roles":["r1"]}`,
			call:    func(c *Client) (any, error) { return c.GrantUser(bg, "u", []string{"r1"}) },
			wantReq: recorded{method: "PUT", path: "/v2/auth/users/u", body: `{"user":"u","roles":null,"grant":["r1"]}`, contentType: "application/json"},
			want:    &User{User: "u", Roles: []string{"r1"}}},
		{name: "user revoke", code: 200, body: `{"user":"u","roles":[]}`,
			call:    func(c *Client) (any, error) { return c.RevokeUser(bg, "u", []string{"r1"}) },
			wantReq: recorded{method: "PUT", path: "/v2/auth/users/u", body: `{"user":"u","roles":null,"revoke":["r1"]}`, contentType: "application/json"},
			want:    &User{User: "u", Roles: []string{}}},
		{name: "user remove", code: 200, call: func(c *Client) (any, error) { return nil, c.RemoveUser(bg, "u") },
			wantReq: recorded{method: "DELETE", path: "/v2/auth/users/u"}},
		{name: "role list", code: 200, body: `{"roles":[{"role":"root"},{"role":"r1"}]}`,
			call:    func(c *Client) (any, error) { return c.ListRoles(bg) },
			wantReq: recorded{method: "GET", path: "/v2/auth/roles", contentType: "application/json"}, want: []string{"root", "r1"}},
		{name: "role list refused", code: 401, body: `{"message":"Insufficient credentials"}`,
			call:    func(c *Client) (any, error) { return c.ListRoles(bg) },
			wantReq: recorded{method: "GET", path: "/v2/auth/roles", contentType: "application/json"}, wantErrMsg: "unexpected status code 401"},
		{name: "role grant", code: 200, body: `{"role":"r1","permissions":{"kv":{"read":["/x/*"],"write":["/x/*"]}}}`,
			call:    func(c *Client) (any, error) { return c.GrantRoleKV(bg, "r1", []string{"/x/*"}, ReadWritePermission) },
			wantReq: recorded{method: "PUT", path: "/v2/auth/roles/r1", body: `{"role":"r1","permissions":{"kv":{"read":null,"write":null}},"grant":{"kv":{"read":["/x/*"],"write":["/x/*"]}}}`, contentType: "application/json"},
			want:    &Role{Role: "r1", Permissions: Permissions{KV: RWPermission{Read: []string{"/x/*"}, Write: []string{"/x/*"}}}}},
		{name: "role revoke", code: 200, body: `{"role":"r1","permissions":{"kv":{"read":[],"write":["/x/*"]}}}`,
			call:    func(c *Client) (any, error) { return c.RevokeRoleKV(bg, "r1", []string{"/x/*"}, ReadPermission) },
			wantReq: recorded{method: "PUT", path: "/v2/auth/roles/r1", body: `{"role":"r1","permissions":{"kv":{"read":null,"write":null}},"revoke":{"kv":{"read":["/x/*"],"write":null}}}`, contentType: "application/json"},
			want:    &Role{Role: "r1", Permissions: Permissions{KV: RWPermission{Read: []string{}, Write: []string{"/x/*"}}}}},
		{name: "version", code: 200, body: `{"etcdserver":"3.4.23","etcdcluster":"3.4.0"}`,
			call:    func(c *Client) (any, error) { return c.Version(bg) },
			wantReq: recorded{method: "GET", path: "/version"}, want: &Versions{Server: "3.4.23", Cluster: "3.4.0"}},
		{name: "health", code: 200, body: `{"health":"true","reason":""}`,
			call:    func(c *Client) (any, error) { return c.CheckHealth(bg) },
			wantReq: recorded{method: "GET", path: "/health"}, want: &Health{Health: "true"}},
		{name: "health, boolean", code: 200, body: `{"health":false}`,
			call:    func(c *Client) (any, error) { return c.CheckHealth(bg) },
			wantReq: recorded{method: "GET", path: "/health"}, want: &Health{Health: "false"}},
		{name: "stats", code: 200, body: `{"getsSuccess":3}`,
			call:    func(c *Client) (any, error) { return c.Stats(bg, "store") },
			wantReq: recorded{method: "GET", path: "/v2/stats/store"}, want: json.RawMessage(`{"getsSuccess":3}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newFakeServer(t, answer(tt.code, tt.body))
			c := newTestClient(t, Config{Endpoints: []string{s.URL}})
			got, err := tt.call(c)
			reqs := s.requests()
			if tt.wantReq.method == "" {
				if len(reqs) != 0 {
					t.Fatalf("sent %+v, want nothing sent", reqs)
				}
			} else if len(reqs) != 1 || reqs[0] != tt.wantReq {
				t.Fatalf("requests %+v\nwant %+v", reqs, tt.wantReq)
			}
			if tt.wantErrMsg != "" {
				if err == nil || err.Error() != tt.wantErrMsg {
					t.Fatalf("error %v, want %q", err, tt.wantErrMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.want != nil && !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %#v\nwant %#v", got, tt.want)
			}
		})
	}
}
