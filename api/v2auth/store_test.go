package v2auth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/basaltkv/basalt/server"
	"github.com/basaltkv/basalt/storage/v2store"
	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"
)

// fakeMember serves v2 requests from a v2 store directly, as the
// member's applier would, and counts the writes.
type fakeMember struct {
	st     *v2store.Store
	mu     sync.Mutex
	writes []string
}

func newFakeMember() *fakeMember { return &fakeMember{st: v2store.New("/0", "/1")} }

func (f *fakeMember) DoV2(_ context.Context, r *v2store.Request) (server.V2Response, error) {
	var ev *v2store.Event
	var err error
	switch {
	case r.Method == "GET":
		ev, err = f.st.Get(r.Path, r.Recursive, r.Sorted)
	case r.Method == "PUT" && r.PrevExist != nil && !*r.PrevExist:
		ev, err = f.st.Create(r.Path, r.Dir, r.Val, false, v2store.TTLOptions{})
	case r.Method == "PUT" && r.PrevExist != nil:
		ev, err = f.st.Update(r.Path, r.Val, v2store.TTLOptions{})
	case r.Method == "DELETE":
		ev, err = f.st.Delete(r.Path, r.Dir, r.Recursive)
	default:
		return server.V2Response{}, errors.New("fakeMember: unexpected " + r.Method)
	}
	if r.Method != "GET" {
		f.mu.Lock()
		f.writes = append(f.writes, r.Method+" "+r.Path)
		f.mu.Unlock()
	}
	return server.V2Response{Event: ev}, err
}

func (f *fakeMember) value(t *testing.T, p string) string {
	t.Helper()
	ev, err := f.st.Get(p, false, false)
	if err != nil {
		t.Fatalf("get %s: %v", p, err)
	}
	return *ev.Node.Value
}

// cheapHash keeps the tests fast; bcrypt still checks it.
func cheapHash(p string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(p), bcrypt.MinCost)
	return string(h), err
}

func newTestStore(t *testing.T) (*Store, *fakeMember) {
	t.Helper()
	f := newFakeMember()
	s := NewStore(zap.NewNop(), f, time.Second)
	s.hash = cheapHash
	return s, f
}

// TestStoreLayout: the state is etcd's JSON under /2, and the first change
// creates the directories and the switch once.
func TestStoreLayout(t *testing.T) {
	s, f := newTestStore(t)
	if _, err := s.CreateUser(User{User: "root", Password: "pw"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateRole(Role{Role: "r", Permissions: *perms([]string{"/a/*"}, nil)}); err != nil {
		t.Fatal(err)
	}
	wantWrites := []string{"PUT /2", "PUT /2/users/", "PUT /2/roles/", "PUT /2/enabled", "PUT /2/users/root", "PUT /2/roles/r"}
	if strings.Join(f.writes, ",") != strings.Join(wantWrites, ",") {
		t.Errorf("writes %v, want %v", f.writes, wantWrites)
	}
	if got := f.value(t, "/2/enabled"); got != "false" {
		t.Errorf("/2/enabled = %s", got)
	}
	if got := f.value(t, "/2/roles/r"); got != `{"role":"r","permissions":{"kv":{"read":["/a/*"],"write":null}}}` {
		t.Errorf("/2/roles/r = %s", got)
	}
	var u User
	u, err := s.GetUser("root")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(f.value(t, "/2/users/root"), `"roles":["root"]`) || !s.CheckPassword(u, "pw") || s.CheckPassword(u, "nope") {
		t.Errorf("/2/users/root = %s", f.value(t, "/2/users/root"))
	}
	// Another process finds the directories: its creates fail, no new
	// index.
	index := f.st.Index()
	s2 := NewStore(zap.NewNop(), f, time.Second)
	if err := s2.Enable(); err != nil {
		t.Fatal(err)
	}
	if got := f.st.Index(); got != index+2 { // the guest role, the switch
		t.Errorf("index %d after enabling, want %d", got, index+2)
	}
	if !s.Enabled() {
		t.Error("auth is off after enabling")
	}
}

func TestStoreRefusals(t *testing.T) {
	s, _ := newTestStore(t)
	cases := []struct {
		name   string
		do     func() error
		status int
		msg    string
	}{
		{"enable without root", s.Enable, http.StatusConflict, "auth: No root user available, please create one"},
		{"disable when off", s.Disable, http.StatusConflict, "auth: already disabled"},
		{"empty password", func() error { _, err := s.CreateUser(User{User: "u"}); return err }, http.StatusBadRequest, "auth: Cannot create user u with an empty password"},
		{"missing user", func() error { _, err := s.GetUser("nobody"); return err }, http.StatusNotFound, "auth: User nobody does not exist."},
		{"update missing user", func() error { _, err := s.UpdateUser(User{User: "nobody", Grant: []string{"r"}}); return err }, http.StatusNotFound, "auth: User nobody does not exist."},
		{"delete missing user", func() error { return s.DeleteUser("nobody") }, http.StatusNotFound, "auth: User nobody does not exist"},
		{"create root role", func() error { return s.CreateRole(Role{Role: RootRole}) }, http.StatusForbidden, "auth: Cannot modify role root: is root role."},
		{"update root role", func() error { _, err := s.UpdateRole(Role{Role: RootRole}); return err }, http.StatusForbidden, "auth: Cannot modify role root: is root role."},
		{"delete missing role", func() error { return s.DeleteRole("nope") }, http.StatusNotFound, "auth: Role nope doesn't exist."},
		{"missing role", func() error { _, err := s.GetRole("nope"); return err }, http.StatusNotFound, "auth: Role nope does not exist."},
		{"create root", func() error { _, err := s.CreateUser(User{User: "root", Password: "pw"}); return err }, 0, ""},
		{"create root again", func() error { _, err := s.CreateUser(User{User: "root", Password: "pw"}); return err }, http.StatusConflict, "auth: User root already exists."},
		{"update to nothing new", func() error { _, err := s.UpdateUser(User{User: "root"}); return err }, http.StatusBadRequest, "auth: User not updated. Use grant/revoke/password to update the user."},
		{"enable", s.Enable, 0, ""},
		{"enable again", s.Enable, http.StatusConflict, "auth: already enabled"},
		{"delete root while on", func() error { return s.DeleteUser("root") }, http.StatusForbidden, "auth: Cannot delete root user while auth is enabled."},
		{"create guest again", func() error { return s.CreateRole(guestRole) }, http.StatusConflict, "auth: Role guest already exists."},
		{"revoke nothing from guest", func() error {
			_, err := s.UpdateRole(Role{Role: GuestRole, Revoke: perms([]string{"/x"}, nil)})
			return err
		}, http.StatusBadRequest, "auth: Role not updated. Use grant/revoke to update the role."},
		{"disable", s.Disable, 0, ""},
		{"delete root while off", func() error { return s.DeleteUser("root") }, 0, ""},
	}
	for _, tc := range cases {
		err := tc.do()
		if tc.status == 0 {
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			continue
		}
		var ae *Error
		if !errors.As(err, &ae) || ae.Status != tc.status || ae.Message != tc.msg {
			t.Errorf("%s: err = %v, want %d %q", tc.name, err, tc.status, tc.msg)
		}
	}
}

func TestStoreListsAndCreateOrUpdate(t *testing.T) {
	s, _ := newTestStore(t)
	if users, err := s.AllUsers(); err != nil || len(users) != 0 || users == nil {
		t.Errorf("users before any: %#v, %v", users, err)
	}
	if roles, err := s.AllRoles(); err != nil || strings.Join(roles, ",") != "root" {
		t.Errorf("roles before any: %v, %v", roles, err)
	}
	for _, name := range []string{"zed", "amy", "_hidden"} {
		if _, created, err := s.CreateOrUpdateUser(User{User: name, Password: "pw"}); err != nil || !created {
			t.Fatalf("create %s: created %v, %v", name, created, err)
		}
		if err := s.CreateRole(Role{Role: name + "-role"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, created, err := s.CreateOrUpdateUser(User{User: "amy", Password: "new"}); err != nil || created {
		t.Errorf("update amy: created %v, %v", created, err)
	}
	// Names starting with '_' are hidden in the store's listings, as in
	// etcd's.
	if users, err := s.AllUsers(); err != nil || strings.Join(users, ",") != "amy,zed" {
		t.Errorf("users: %v, %v", users, err)
	}
	if roles, err := s.AllRoles(); err != nil || strings.Join(roles, ",") != "amy-role,root,zed-role" {
		t.Errorf("roles: %v, %v", roles, err)
	}
}

func basicReq(method, target, user, password string) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	if user != "" {
		r.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+password)))
	}
	return r
}

func certReq(method, target string, cns ...string) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	var chain []*x509.Certificate
	for _, cn := range cns {
		chain = append(chain, &x509.Certificate{Subject: pkix.Name{CommonName: cn}})
	}
	r.TLS = &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{chain}}
	return r
}

// TestAccess: who a request is and what it may do, with auth on.
func TestAccess(t *testing.T) {
	s, _ := newTestStore(t)
	for _, u := range []User{{User: "root", Password: "rootpw"}, {User: "alice", Password: "apw", Roles: []string{"reader", "gone"}}, {User: "admin", Password: "x", Roles: []string{"root"}}} {
		if _, err := s.CreateUser(u); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateRole(Role{Role: "reader", Permissions: *perms([]string{"/pub/*"}, nil)}); err != nil {
		t.Fatal(err)
	}
	off := NewAccess(zap.NewNop(), s, false)
	if !off.Key(basicReq("PUT", "/v2/keys/x", "alice", "wrong"), "/x", false) || !off.Root(basicReq("PUT", "/", "", "")) {
		t.Fatal("auth off refuses")
	}
	if err := s.Enable(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateRole(Role{Role: GuestRole, Revoke: perms(nil, []string{"/*"})}); err != nil {
		t.Fatal(err)
	}
	plain := NewAccess(zap.NewNop(), s, false)
	certs := NewAccess(zap.NewNop(), s, true)
	cases := []struct {
		name      string
		a         *Access
		r         *http.Request
		key       string // "" checks Root
		recursive bool
		want      bool
	}{
		{"guest reads", plain, basicReq("GET", "/", "", ""), "/x", false, true},
		{"guest reads recursively by its plain check", plain, basicReq("GET", "/", "", ""), "/x", true, true},
		{"guest may not write", plain, basicReq("PUT", "/", "", ""), "/x", false, false},
		{"guest, HEAD is a read", plain, basicReq("HEAD", "/", "", ""), "/x", false, true},
		{"user reads its prefix", plain, basicReq("GET", "/", "alice", "apw"), "/pub/a", false, true},
		{"user reads recursively under its prefix", plain, basicReq("GET", "/", "alice", "apw"), "/pub/", true, true},
		{"user, wrong password", plain, basicReq("GET", "/", "alice", "nope"), "/pub/a", false, false},
		{"unknown user", plain, basicReq("GET", "/", "bob", "x"), "/pub/a", false, false},
		{"user's write refused", plain, basicReq("DELETE", "/", "alice", "apw"), "/pub/a", false, false},
		{"user beyond its roles (not the guest's)", plain, basicReq("GET", "/", "alice", "apw"), "/x", false, false},
		{"root writes anything", plain, basicReq("PUT", "/", "root", "rootpw"), "/x", true, true},
		{"certificate ignored without --client-cert-auth", plain, certReq("PUT", "/", "root"), "/x", false, false},
		{"certificate names the user", certs, certReq("PUT", "/", "root"), "/x", false, true},
		{"first certificate name that is a user", certs, certReq("GET", "/", "nobody", "alice", "root"), "/pub/a", false, true},
		{"first certificate user decides", certs, certReq("PUT", "/", "nobody", "alice", "root"), "/pub/a", false, false},
		{"no user among the certificates: guest", certs, certReq("GET", "/", "nobody"), "/x", false, true},
		{"basic auth beats the certificate", certs, func() *http.Request {
			r := certReq("PUT", "/", "root")
			r.SetBasicAuth("alice", "apw")
			return r
		}(), "/x", false, false},
		{"not basic auth", plain, func() *http.Request {
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set("Authorization", "Bearer x")
			return r
		}(), "/x", false, false},
		// Root checks (Key "").
		{"root is root", plain, basicReq("PUT", "/", "root", "rootpw"), "", false, true},
		{"a user with the root role is root", plain, basicReq("PUT", "/", "admin", "x"), "", false, true},
		{"alice is not root", plain, basicReq("PUT", "/", "alice", "apw"), "", false, false},
		{"no one is not root", plain, basicReq("GET", "/", "", ""), "", false, false},
		{"root by certificate", certs, certReq("GET", "/", "root"), "", false, true},
		{"no certificate user", certs, certReq("GET", "/", "nobody"), "", false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got bool
			if tc.key == "" {
				got = tc.a.Root(tc.r)
			} else {
				got = tc.a.Key(tc.r, tc.key, tc.recursive)
			}
			if got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	if !plain.RootOrRead(basicReq("GET", "/", "", "")) || plain.RootOrRead(basicReq("POST", "/", "", "")) {
		t.Error("RootOrRead: reads are open, writes root's")
	}
	// Without a guest role, no credentials reach nothing.
	if err := s.DeleteRole(GuestRole); err != nil {
		t.Fatal(err)
	}
	if plain.Key(basicReq("GET", "/", "", ""), "/x", false) {
		t.Error("no guest role: a request without credentials reads")
	}
}
