package e2e

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/basaltkv/basalt/pkg/testutil"
)

// TestV2AuthReplicatedAndSurvivesSnapshots: the v2 auth state is v2 store
// data, so raft replicates it and snapshots carry it. Users, roles and
// the switch set on one member decide requests on the others; members
// killed with -9 after several snapshots restart with it; a member that
// was down while the others compacted their logs receives it in a
// snapshot.
func TestV2AuthReplicatedAndSurvivesSnapshots(t *testing.T) {
	c := NewCluster(t, 3, &Options{Args: []string{"--enable-v2", "--snapshot-count", "20", "--snapshot-catchup-entries", "5"}})
	m0, behind := c.Members[0], c.Members[2]
	behind.Kill()
	root, alice := v2Basic("root", "rootpw"), v2Basic("alice", "alicepw")
	on := func(m *Member) *v2Server { return &v2Server{name: m.Name, url: m.ClientURL()} }
	setup := []struct {
		step   v2Step
		status int
	}{
		{v2Step{method: "PUT", path: "/v2/auth/users/root", json: `{"user":"root","password":"rootpw"}`}, http.StatusCreated},
		{v2Step{method: "PUT", path: "/v2/auth/roles/rw", json: `{"role":"rw","permissions":{"kv":{"read":["/a/*"],"write":["/a/*"]}}}`}, http.StatusCreated},
		{v2Step{method: "PUT", path: "/v2/auth/users/alice", json: `{"user":"alice","password":"alicepw","roles":["rw"]}`}, http.StatusOK},
		{v2Step{method: "PUT", path: "/v2/auth/enable"}, http.StatusOK},
		{v2Step{method: "PUT", path: "/v2/auth/roles/guest", json: `{"role":"guest","revoke":{"kv":{"write":["/*"]}}}`, auth: root}, http.StatusOK},
	}
	for _, s := range setup {
		if got := v2Do(t, on(m0), s.step); got.status != s.status {
			t.Fatalf("%s %s: %s", s.step.method, s.step.path, got)
		}
	}
	// Enough writes for several snapshots.
	for i := range 50 {
		if got := v2Do(t, on(m0), v2Step{method: "PUT", path: fmt.Sprintf("/v2/keys/a/k%02d", i), params: "value=v", auth: root}); got.status != http.StatusCreated {
			t.Fatalf("write %d: %s", i, got)
		}
	}
	// What every member must decide once it holds the state: status by
	// request.
	checks := []struct {
		step   v2Step
		status int
	}{
		{v2Step{method: "GET", path: "/v2/auth/enable"}, http.StatusOK},
		{v2Step{method: "PUT", path: "/v2/keys/a/x", params: "value=1", auth: alice}, http.StatusOK},
		{v2Step{method: "PUT", path: "/v2/keys/b", params: "value=1", auth: alice}, http.StatusUnauthorized},
		{v2Step{method: "PUT", path: "/v2/keys/b", params: "value=1"}, http.StatusUnauthorized},
		{v2Step{method: "GET", path: "/v2/keys/a/k49"}, http.StatusOK},
		{v2Step{method: "GET", path: "/v2/keys/a/k49", auth: v2Basic("alice", "wrong")}, http.StatusUnauthorized},
		{v2Step{method: "GET", path: "/v2/auth/users", auth: alice}, http.StatusUnauthorized},
		{v2Step{method: "POST", path: "/v2/members", json: `{"peerURLs":["http://127.0.0.1:1"]}`, auth: alice}, http.StatusUnauthorized},
	}
	// decides is nil once the member decides every check as it must.
	decides := func(m *Member) error {
		var wrong []string
		for _, ch := range checks {
			got := v2Do(t, on(m), ch.step)
			status := got.status
			if status == http.StatusCreated { // the first write of /a/x
				status = http.StatusOK
			}
			if status != ch.status || ch.step.path == "/v2/auth/enable" && !strings.Contains(got.body, `"enabled":true`) {
				wrong = append(wrong, fmt.Sprintf("%s %s (auth %q): %s", ch.step.method, ch.step.path, ch.step.auth, got))
			}
		}
		if len(wrong) > 0 {
			return errors.New(strings.Join(wrong, "\n"))
		}
		return nil
	}
	waitDecides := func(m *Member, what string) {
		t.Helper()
		if err := testutil.Poll(30*time.Second, func() error { return decides(m) }); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	waitDecides(c.Members[1], "the auth state replicated to "+c.Members[1].Name)
	// The members that were up restart from their snapshots and logs.
	for _, m := range c.Members[:2] {
		m.Kill()
	}
	// Two members start together: one alone has no quorum to be ready.
	errs := make(chan error, 2)
	for _, m := range c.Members[:2] {
		go func() { errs <- m.TryStart() }()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range c.Members[:2] {
		waitDecides(m, "the auth state back on "+m.Name)
	}
	// The member that was down gets it by snapshot.
	behind.Restart(t)
	waitDecides(behind, "the auth state on the member that was down")
	if !strings.Contains(behind.Logs(), "applying snapshot") {
		t.Errorf("the member that was down did not receive a snapshot")
	}
}
