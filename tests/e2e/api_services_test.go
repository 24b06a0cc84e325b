package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/basaltkv/basalt/pkg/testutil"
	bolt "go.etcd.io/bbolt"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3election/v3electionpb"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3lock/v3lockpb"
)

// eventString is "PUT key=value" or "DELETE key", with " prev=value"
// when the event carries the previous KV.
func eventString(ev *clientv3.Event) string {
	s := fmt.Sprintf("%s %s", ev.Type, ev.Kv.Key)
	if ev.Type == mvccpb.PUT {
		s += "=" + string(ev.Kv.Value)
	}
	if ev.PrevKv != nil {
		s += " prev=" + string(ev.PrevKv.Value)
	}
	return s
}

// collectEvents reads n events from wch, failing t if the channel
// closes or the deadline passes first.
func collectEvents(t *testing.T, what string, wch clientv3.WatchChan, n int) []string {
	t.Helper()
	var got []string
	timeout := time.After(opTimeout)
	for len(got) < n {
		select {
		case wr, ok := <-wch:
			if !ok {
				t.Fatalf("%s: channel closed after %v", what, got)
			}
			if err := wr.Err(); err != nil {
				t.Fatalf("%s: %v after %v", what, err, got)
			}
			for _, ev := range wr.Events {
				got = append(got, eventString(ev))
			}
		case <-timeout:
			t.Fatalf("%s: %d events of %d within %v: %v", what, len(got), n, opTimeout, got)
		}
	}
	return got
}

// waitCreated waits for a watch's created notification.
func waitCreated(t *testing.T, what string, wch clientv3.WatchChan) {
	t.Helper()
	select {
	case wr, ok := <-wch:
		if !ok || !wr.Created {
			t.Fatalf("%s: first response %+v (open %v), want created", what, wr, ok)
		}
	case <-time.After(opTimeout):
		t.Fatalf("%s: not created within %v", what, opTimeout)
	}
}

func testAPIWatch(t *testing.T, e *apiEnv) {
	ctx := testCtx(t)
	writer := e.leader.Client(t)
	watcher := e.watchMember.Client(t)

	// History before the watches: b is written twice.
	first, err := writer.Put(ctx, "/watch/b", "b1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := writer.Put(ctx, "/watch/b", "b2"); err != nil {
		t.Fatal(err)
	}

	// Every watch shares one gRPC stream: same context, same client.
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	single := watcher.Watch(wctx, "/watch/a", clientv3.WithCreatedNotify())
	prefix := watcher.Watch(wctx, "/watch/", clientv3.WithPrefix(), clientv3.WithPrevKV(), clientv3.WithCreatedNotify())
	deletes := watcher.Watch(wctx, "/watch/", clientv3.WithPrefix(), clientv3.WithFilterPut(), clientv3.WithCreatedNotify())
	puts := watcher.Watch(wctx, "/watch/", clientv3.WithPrefix(), clientv3.WithFilterDelete(), clientv3.WithCreatedNotify())
	history := watcher.Watch(wctx, "/watch/b", clientv3.WithRev(first.Header.Revision), clientv3.WithCreatedNotify())
	for what, wch := range map[string]clientv3.WatchChan{"single": single, "prefix": prefix, "deletes": deletes, "puts": puts, "history": history} {
		waitCreated(t, what, wch)
	}

	steps := []clientv3.Op{
		clientv3.OpPut("/watch/a", "a1"),
		clientv3.OpPut("/watch/c", "c1"),
		clientv3.OpPut("/watch/a", "a2"),
		clientv3.OpDelete("/watch/a"),
		clientv3.OpPut("/watch/b", "b3"),
	}
	for _, op := range steps {
		if _, err := writer.Do(ctx, op); err != nil {
			t.Fatal(err)
		}
	}
	// Keys outside every watch change nothing.
	if _, err := writer.Put(ctx, "/watchnot", "x"); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		wch  clientv3.WatchChan
		want []string
	}{
		{"single key", single, []string{"PUT /watch/a=a1", "PUT /watch/a=a2", "DELETE /watch/a"}},
		{"prefix with prev kv", prefix, []string{"PUT /watch/a=a1", "PUT /watch/c=c1", "PUT /watch/a=a2 prev=a1", "DELETE /watch/a prev=a2", "PUT /watch/b=b3 prev=b2"}},
		{"filter puts", deletes, []string{"DELETE /watch/a"}},
		{"filter deletes", puts, []string{"PUT /watch/a=a1", "PUT /watch/c=c1", "PUT /watch/a=a2", "PUT /watch/b=b3"}},
		{"start revision", history, []string{"PUT /watch/b=b1", "PUT /watch/b=b2", "PUT /watch/b=b3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := collectEvents(t, tt.name, tt.wch, len(tt.want)); !slices.Equal(got, tt.want) {
				t.Fatalf("events %q, want %q", got, tt.want)
			}
		})
	}

	t.Run("progress notify", func(t *testing.T) {
		last, err := writer.Put(ctx, "/watch/progress", "p")
		if err != nil {
			t.Fatal(err)
		}
		// Drain the put from the prefix watches so that only the progress
		// notification is left to come.
		collectEvents(t, "prefix", prefix, 1)
		// A progress request on the stream is answered once the watchers
		// have caught up, with the member's current revision.
		deadline := time.After(opTimeout)
		if err := watcher.RequestProgress(wctx); err != nil {
			t.Fatal(err)
		}
		for {
			select {
			case wr, ok := <-single:
				if !ok {
					t.Fatal("watch closed")
				}
				if len(wr.Events) > 0 {
					t.Fatalf("unexpected events %v", wr.Events)
				}
				if wr.IsProgressNotify() {
					if wr.Header.Revision < last.Header.Revision {
						t.Fatalf("progress at revision %d, before the put at %d", wr.Header.Revision, last.Header.Revision)
					}
					return
				}
			case <-deadline:
				t.Fatal("no progress notification")
			}
		}
	})

	t.Run("cancel closes the channels", func(t *testing.T) {
		cancel()
		for what, wch := range map[string]clientv3.WatchChan{"single": single, "prefix": prefix, "deletes": deletes, "puts": puts, "history": history} {
			timeout := time.After(opTimeout)
		drain:
			for {
				select {
				case _, ok := <-wch:
					if !ok {
						break drain
					}
				case <-timeout:
					t.Fatalf("%s: still open after cancel", what)
				}
			}
		}
	})
}

func testAPILease(t *testing.T, e *apiEnv) {
	ctx := testCtx(t)
	cli := e.cli
	g, err := cli.Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	if g.ID == 0 || g.TTL != 60 {
		t.Fatalf("grant = %+v", g)
	}
	for _, k := range []string{"/lease/a", "/lease/b"} {
		if _, err := cli.Put(ctx, k, "v", clientv3.WithLease(g.ID)); err != nil {
			t.Fatal(err)
		}
	}
	ttl, err := cli.TimeToLive(ctx, g.ID, clientv3.WithAttachedKeys())
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, k := range ttl.Keys {
		keys = append(keys, string(k))
	}
	slices.Sort(keys)
	if ttl.ID != g.ID || ttl.GrantedTTL != 60 || ttl.TTL <= 0 || ttl.TTL > 60 || !slices.Equal(keys, []string{"/lease/a", "/lease/b"}) {
		t.Fatalf("time to live = %+v keys %q", ttl, keys)
	}
	ttl, err = cli.TimeToLive(ctx, g.ID)
	if err != nil || len(ttl.Keys) != 0 {
		t.Fatalf("time to live without keys = %+v, %v", ttl, err)
	}
	ls, err := cli.Leases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(ls.Leases, func(s clientv3.LeaseStatus) bool { return s.ID == g.ID }) {
		t.Fatalf("leases %v lack %x", ls.Leases, g.ID)
	}
	ka, err := cli.KeepAliveOnce(ctx, g.ID)
	if err != nil || ka.ID != g.ID || ka.TTL != 60 {
		t.Fatalf("keepalive once = %+v, %v", ka, err)
	}
	kctx, kcancel := context.WithCancel(ctx)
	kch, err := cli.KeepAlive(kctx, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case r, ok := <-kch:
		if !ok || r.ID != g.ID || r.TTL != 60 {
			t.Fatalf("keepalive = %+v (open %v)", r, ok)
		}
	case <-time.After(opTimeout):
		t.Fatal("no keepalive response")
	}
	kcancel()

	if _, err := cli.Revoke(ctx, g.ID); err != nil {
		t.Fatal(err)
	}
	if r, err := cli.Get(ctx, "/lease/", clientv3.WithPrefix(), clientv3.WithCountOnly()); err != nil || r.Count != 0 {
		t.Fatalf("keys of a revoked lease: %v, %v", r, err)
	}
	if ttl, err := cli.TimeToLive(ctx, g.ID); err != nil || ttl.TTL != -1 {
		t.Fatalf("time to live of a revoked lease = %+v, %v; want TTL -1", ttl, err)
	}
	_, err = cli.KeepAliveOnce(ctx, g.ID)
	wantErr(t, "keepalive of a revoked lease", err, "etcdserver: requested lease not found")
	_, err = cli.Revoke(ctx, g.ID)
	wantErr(t, "revoke of a revoked lease", err, "etcdserver: requested lease not found")
	_, err = cli.Grant(ctx, 9_000_000_001)
	wantErr(t, "grant over the maximum TTL", err, "etcdserver: too large lease TTL")
	ls, err = cli.Leases(ctx)
	if err != nil || slices.ContainsFunc(ls.Leases, func(s clientv3.LeaseStatus) bool { return s.ID == g.ID }) {
		t.Fatalf("leases after revoke = %v, %v", ls, err)
	}

	t.Run("expiry deletes the keys everywhere", func(t *testing.T) {
		deadline := time.Now().Add(15 * time.Second)
		for _, m := range e.c.Members {
			mc := m.Client(t)
			err := testutil.Poll(time.Until(deadline), func() error {
				g, err := mc.Get(ctx, expiringKey, clientv3.WithSerializable())
				if err != nil {
					t.Fatal(err)
				}
				if len(g.Kvs) != 0 {
					return fmt.Errorf("key of a lease of TTL %d still there", g.Kvs[0].Lease)
				}
				return nil
			})
			if err != nil {
				t.Fatalf("%s: %v", m.Name, err)
			}
		}
		if ttl, err := cli.TimeToLive(ctx, e.expiringLease); err != nil || ttl.TTL != -1 {
			t.Fatalf("time to live of an expired lease = %+v, %v", ttl, err)
		}
	})

	// A keepalive to any member renews the lease where it expires: on the
	// leader. agedLease has been ticking since the cluster started, so its
	// remaining TTL on the leader has dropped below its granted TTL.
	t.Run("keepalive through a follower reaches the leader", func(t *testing.T) {
		leaderCli := e.leader.Client(t)
		remaining := func() int64 {
			t.Helper()
			r, err := leaderCli.TimeToLive(ctx, e.agedLease)
			if err != nil {
				t.Fatal(err)
			}
			return r.TTL
		}
		var before int64
		err := testutil.Poll(5*time.Second, func() error {
			if before = remaining(); before > agedLeaseTTL-2 {
				return fmt.Errorf("lease TTL on the leader stays at %d of %d", before, agedLeaseTTL)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		r, err := e.watchMember.Client(t).KeepAliveOnce(ctx, e.agedLease)
		if err != nil || r.TTL != agedLeaseTTL {
			t.Fatalf("keepalive via %s = %+v, %v", e.watchMember.Name, r, err)
		}
		if after := remaining(); after <= before {
			t.Fatalf("keepalive via %s: leader's TTL %d after, %d before", e.watchMember.Name, after, before)
		}
	})
}

func testAPIMemberList(t *testing.T, e *apiEnv) {
	for _, m := range e.c.Members {
		ml, err := m.Client(t).MemberList(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		if ml.Header.ClusterId != e.clusterID || ml.Header.MemberId != e.ids[m.Name] {
			t.Errorf("%s: header %v", m.Name, ml.Header)
		}
		if len(ml.Members) != len(e.c.Members) {
			t.Fatalf("%s: %d members listed, want %d", m.Name, len(ml.Members), len(e.c.Members))
		}
		seen := map[uint64]bool{}
		for _, lm := range ml.Members {
			if lm.ID == 0 || seen[lm.ID] {
				t.Errorf("member ID %x zero or repeated", lm.ID)
			}
			seen[lm.ID] = true
			var want *Member
			for _, cm := range e.c.Members {
				if cm.Name == lm.Name {
					want = cm
				}
			}
			if want == nil {
				t.Fatalf("unknown member %q", lm.Name)
			}
			if !slices.Equal(lm.PeerURLs, []string{want.PeerURL()}) || !slices.Equal(lm.ClientURLs, []string{want.ClientURL()}) || lm.IsLearner {
				t.Errorf("member %s: peer %v client %v learner %v; want %s %s", lm.Name, lm.PeerURLs, lm.ClientURLs, lm.IsLearner, want.PeerURL(), want.ClientURL())
			}
		}
	}
}

func testAPILock(t *testing.T, e *apiEnv) {
	ctx := testCtx(t)
	cli := e.cli
	locks := v3lockpb.NewLockClient(cli.ActiveConnection())
	l1, err := cli.Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	l2, err := cli.Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Revoke(context.Background(), l1.ID)
	defer cli.Revoke(context.Background(), l2.ID)

	held, err := locks.Lock(ctx, &v3lockpb.LockRequest{Name: []byte("/lk"), Lease: int64(l1.ID)})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(held.Key, []byte("/lk/")) || held.Header == nil || held.Header.ClusterId != e.clusterID {
		t.Fatalf("lock = %+v", held)
	}
	type result struct {
		resp *v3lockpb.LockResponse
		err  error
	}
	second := make(chan result, 1)
	go func() {
		r, err := locks.Lock(ctx, &v3lockpb.LockRequest{Name: []byte("/lk"), Lease: int64(l2.ID)})
		second <- result{r, err}
	}()
	// The second locker waits behind its own key, once it is written.
	err = testutil.Poll(opTimeout, func() error {
		g, err := cli.Get(ctx, "/lk/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			t.Fatal(err)
		}
		if g.Count != 2 {
			return fmt.Errorf("%d lock keys, want 2", g.Count)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-second:
		t.Fatalf("second lock acquired while the first is held: %+v %v", r.resp, r.err)
	default:
	}
	if _, err := locks.Unlock(ctx, &v3lockpb.UnlockRequest{Key: held.Key}); err != nil {
		t.Fatal(err)
	}
	var r result
	select {
	case r = <-second:
	case <-time.After(opTimeout):
		t.Fatal("second lock not acquired after unlock")
	}
	if r.err != nil || bytes.Equal(r.resp.Key, held.Key) {
		t.Fatalf("second lock = %+v, %v", r.resp, r.err)
	}
	if _, err := locks.Unlock(ctx, &v3lockpb.UnlockRequest{Key: r.resp.Key}); err != nil {
		t.Fatal(err)
	}
	if g, err := cli.Get(ctx, "/lk/", clientv3.WithPrefix(), clientv3.WithCountOnly()); err != nil || g.Count != 0 {
		t.Fatalf("lock keys after unlock: %v, %v", g, err)
	}
	_, err = locks.Lock(ctx, &v3lockpb.LockRequest{Name: []byte("/lk"), Lease: 0x7777777})
	wantErr(t, "lock with an unknown lease", err, "etcdserver: requested lease not found")
}

func testAPIElection(t *testing.T, e *apiEnv) {
	ctx := testCtx(t)
	cli := e.cli
	el := v3electionpb.NewElectionClient(cli.ActiveConnection())
	name := []byte("/el")
	l1, err := cli.Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	l2, err := cli.Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Revoke(context.Background(), l1.ID)
	defer cli.Revoke(context.Background(), l2.ID)

	won, err := el.Campaign(ctx, &v3electionpb.CampaignRequest{Name: name, Lease: int64(l1.ID), Value: []byte("one")})
	if err != nil {
		t.Fatal(err)
	}
	if won.Leader == nil || !bytes.Equal(won.Leader.Name, name) || won.Leader.Lease != int64(l1.ID) {
		t.Fatalf("campaign = %+v", won)
	}
	leaderIs := func(want string) {
		t.Helper()
		r, err := el.Leader(ctx, &v3electionpb.LeaderRequest{Name: name})
		if err != nil || r.Kv == nil || string(r.Kv.Value) != want {
			t.Fatalf("leader = %+v, %v; want %s", r, err, want)
		}
	}
	leaderIs("one")

	octx, ocancel := context.WithCancel(ctx)
	defer ocancel()
	obs, err := el.Observe(octx, &v3electionpb.LeaderRequest{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	observed := func(want string) {
		t.Helper()
		r, err := obs.Recv()
		if err != nil || string(r.Kv.Value) != want {
			t.Fatalf("observe = %+v, %v; want %s", r, err, want)
		}
	}
	observed("one")

	if _, err := el.Proclaim(ctx, &v3electionpb.ProclaimRequest{Leader: won.Leader, Value: []byte("two")}); err != nil {
		t.Fatal(err)
	}
	observed("two")
	leaderIs("two")

	second := make(chan *v3electionpb.CampaignResponse, 1)
	secondErr := make(chan error, 1)
	go func() {
		r, err := el.Campaign(ctx, &v3electionpb.CampaignRequest{Name: name, Lease: int64(l2.ID), Value: []byte("three")})
		if err != nil {
			secondErr <- err
			return
		}
		second <- r
	}()
	if _, err := el.Resign(ctx, &v3electionpb.ResignRequest{Leader: won.Leader}); err != nil {
		t.Fatal(err)
	}
	var next *v3electionpb.CampaignResponse
	select {
	case next = <-second:
	case err := <-secondErr:
		t.Fatal(err)
	case <-time.After(opTimeout):
		t.Fatal("second campaign not won after resign")
	}
	observed("three")
	leaderIs("three")
	_, err = el.Proclaim(ctx, &v3electionpb.ProclaimRequest{Leader: won.Leader, Value: []byte("stale")})
	wantErr(t, "proclaim by a resigned leader", err, "election: not leader")
	if _, err := el.Resign(ctx, &v3electionpb.ResignRequest{Leader: next.Leader}); err != nil {
		t.Fatal(err)
	}
	_, err = el.Leader(ctx, &v3electionpb.LeaderRequest{Name: name})
	wantErr(t, "leader of an empty election", err, "election: no leader")
}

// httpClient is a net/http client of the cluster's client URLs.
func (e *apiEnv) httpClient(t *testing.T) *http.Client {
	hc := &http.Client{Timeout: opTimeout, Transport: &http.Transport{TLSClientConfig: e.c.ClientTLS(t)}}
	t.Cleanup(hc.CloseIdleConnections)
	return hc
}

// postJSON posts body to url and decodes the JSON answer into out.
func postJSON(t *testing.T, hc *http.Client, url, body string, out any) int {
	t.Helper()
	resp, err := hc.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("POST %s: %d %q: %v", url, resp.StatusCode, b, err)
	}
	return resp.StatusCode
}

func testAPIGateway(t *testing.T, e *apiEnv) {
	hc := e.httpClient(t)
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	for i, m := range e.c.Members {
		key, val := fmt.Sprintf("/gw/%d", i), fmt.Sprintf("value of %s", m.Name)
		var put struct {
			Header struct {
				ClusterID string `json:"cluster_id"`
				MemberID  string `json:"member_id"`
				Revision  string `json:"revision"`
				RaftTerm  string `json:"raft_term"`
			} `json:"header"`
		}
		if code := postJSON(t, hc, m.ClientURL()+"/v3/kv/put", fmt.Sprintf(`{"key":%q,"value":%q}`, b64(key), b64(val)), &put); code != http.StatusOK {
			t.Fatalf("put via gateway: %d %+v", code, put)
		}
		if put.Header.ClusterID != fmt.Sprint(e.clusterID) || put.Header.MemberID != fmt.Sprint(e.ids[m.Name]) || put.Header.Revision == "" || put.Header.RaftTerm == "" {
			t.Errorf("gateway put header %+v, want cluster %d member %d", put.Header, e.clusterID, e.ids[m.Name])
		}
		var rng struct {
			Kvs []struct {
				Key            string `json:"key"`
				Value          string `json:"value"`
				ModRevision    string `json:"mod_revision"`
				CreateRevision string `json:"create_revision"`
				Version        string `json:"version"`
			} `json:"kvs"`
			Count string `json:"count"`
		}
		if code := postJSON(t, hc, m.ClientURL()+"/v3/kv/range", fmt.Sprintf(`{"key":%q}`, b64(key)), &rng); code != http.StatusOK {
			t.Fatalf("range via gateway: %d", code)
		}
		if len(rng.Kvs) != 1 || rng.Kvs[0].Key != b64(key) || rng.Kvs[0].Value != b64(val) || rng.Kvs[0].ModRevision != put.Header.Revision || rng.Kvs[0].Version != "1" || rng.Count != "1" {
			t.Errorf("range via gateway = %+v, want %s=%s at %s", rng, key, val, put.Header.Revision)
		}
		// The gRPC client sees the gateway's write.
		mustGet(t, e.cli, key, val)

		var gwErr struct {
			Error   string `json:"error"`
			Code    int    `json:"code"`
			Message string `json:"message"`
		}
		if code := postJSON(t, hc, m.ClientURL()+"/v3/kv/put", `{"value":"eA=="}`, &gwErr); code != http.StatusBadRequest || gwErr.Message != "etcdserver: key is not provided" || gwErr.Code != 3 {
			t.Errorf("put without a key via gateway: %d %+v", code, gwErr)
		}

		code, body := httpGet(t, m.ClientURL()+"/health", e.c.ClientTLS(t))
		if code != http.StatusOK || body != `{"health":"true","reason":""}` {
			t.Errorf("%s /health = %d %s", m.Name, code, body)
		}
		code, body = httpGet(t, m.ClientURL()+"/version", e.c.ClientTLS(t))
		var v struct {
			Server  string `json:"etcdserver"`
			Cluster string `json:"etcdcluster"`
		}
		if err := json.Unmarshal([]byte(body), &v); code != http.StatusOK || err != nil || v.Server == "" || v.Cluster != "3.7.0" {
			t.Errorf("%s /version = %d %s (%v)", m.Name, code, body, err)
		}
		st, err := e.cli.Status(testCtx(t), m.ClientURL())
		if err != nil || st.Version != v.Server {
			t.Errorf("%s: Status version %v (%v), /version %s", m.Name, st, err, v.Server)
		}
	}
}

func testAPICompact(t *testing.T, e *apiEnv) {
	ctx := testCtx(t)
	cli := e.cli
	var revs []int64
	for i := range 4 {
		r, err := cli.Put(ctx, "/compact/k", fmt.Sprint(i))
		if err != nil {
			t.Fatal(err)
		}
		revs = append(revs, r.Header.Revision)
	}
	at := revs[2]
	if _, err := cli.Compact(ctx, at, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	for _, m := range e.c.Members {
		mc := m.Client(t)
		_, err := mc.Get(ctx, "/compact/k", clientv3.WithRev(revs[1]))
		wantErr(t, m.Name+": linearizable get below the compaction", err, "etcdserver: mvcc: required revision has been compacted")
		// Physical compaction returns once every member compacted, so a
		// serializable read agrees.
		_, err = mc.Get(ctx, "/compact/k", clientv3.WithRev(revs[1]), clientv3.WithSerializable())
		wantErr(t, m.Name+": serializable get below the compaction", err, "etcdserver: mvcc: required revision has been compacted")
		g, err := mc.Get(ctx, "/compact/k", clientv3.WithRev(at))
		if err != nil || len(g.Kvs) != 1 || string(g.Kvs[0].Value) != "2" {
			t.Errorf("%s: get at the compaction revision = %v, %v", m.Name, g, err)
		}
	}
	_, err := cli.Compact(ctx, at)
	wantErr(t, "compact again", err, "etcdserver: mvcc: required revision has been compacted")
	_, err = cli.Compact(ctx, revs[3]+1000)
	wantErr(t, "compact a future revision", err, "etcdserver: mvcc: required revision is a future revision")
	_, err = cli.Txn(ctx).Then(clientv3.OpGet("/compact/k", clientv3.WithRev(revs[0]))).Commit()
	wantErr(t, "txn reading below the compaction", err, "etcdserver: mvcc: required revision has been compacted")

	wch := e.watchMember.Client(t).Watch(ctx, "/compact/k", clientv3.WithRev(revs[0]))
	select {
	case wr, ok := <-wch:
		if !ok || wr.CompactRevision != at || !wr.Canceled {
			t.Fatalf("watch below the compaction: %+v (open %v), want compact revision %d", wr, ok, at)
		}
		wantErr(t, "watch below the compaction", wr.Err(), "etcdserver: mvcc: required revision has been compacted")
	case <-time.After(opTimeout):
		t.Fatal("no compacted watch response")
	}
	// A watch from the compaction revision on sees the history left.
	wch = e.watchMember.Client(t).Watch(ctx, "/compact/k", clientv3.WithRev(at))
	if got := collectEvents(t, "watch from the compaction", wch, 2); !slices.Equal(got, []string{"PUT /compact/k=2", "PUT /compact/k=3"}) {
		t.Fatalf("watch from the compaction revision: %q", got)
	}
}

func testAPIMaintenance(t *testing.T, e *apiEnv) {
	ctx := testCtx(t)
	cli := e.cli
	last, err := cli.Put(ctx, "/maint/k", "v")
	if err != nil {
		t.Fatal(err)
	}
	rev := last.Header.Revision
	leaderID := e.ids[e.leader.Name]
	var hashes []string
	for _, m := range e.c.Members {
		st, err := cli.Status(ctx, m.ClientURL())
		if err != nil {
			t.Fatal(err)
		}
		if st.Header.MemberId != e.ids[m.Name] || st.Leader != leaderID || st.Version == "" || st.DbSize <= 0 || st.DbSizeInUse <= 0 ||
			st.DbSizeInUse > st.DbSize || st.RaftIndex == 0 || st.RaftTerm == 0 || st.RaftAppliedIndex == 0 || st.IsLearner || len(st.Errors) != 0 {
			t.Errorf("%s: status %+v", m.Name, st)
		}
		if _, err := cli.Defragment(ctx, m.ClientURL()); err != nil {
			t.Errorf("%s: defragment: %v", m.Name, err)
		}
		mustGet(t, m.Client(t), "/maint/k", "v")
		// A member answers HashKV at a revision once it has applied it;
		// the linearizable read above made sure it has.
		h, err := cli.HashKV(ctx, m.ClientURL(), rev)
		if err != nil {
			t.Fatalf("%s: hash kv: %v", m.Name, err)
		}
		if h.Header.MemberId != e.ids[m.Name] || h.HashRevision != rev || h.CompactRevision == 0 {
			t.Errorf("%s: hash kv %+v at %d", m.Name, h, rev)
		}
		hashes = append(hashes, fmt.Sprintf("%d@%d", h.Hash, h.CompactRevision))
	}
	for i := range hashes {
		if hashes[i] != hashes[0] {
			t.Errorf("HashKV at %d differs between members: %v", rev, hashes)
		}
	}

	al, err := cli.AlarmList(ctx)
	if err != nil || len(al.Alarms) != 0 {
		t.Errorf("alarm list = %v, %v", al, err)
	}

	t.Run("snapshot", func(t *testing.T) {
		rc, err := cli.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		data, err := io.ReadAll(rc)
		if err != nil {
			t.Fatal(err)
		}
		// The stream is the database followed by its sha256.
		if len(data) < 512+sha256.Size {
			t.Fatalf("snapshot of %d bytes", len(data))
		}
		db, sum := data[:len(data)-sha256.Size], data[len(data)-sha256.Size:]
		if want := sha256.Sum256(db); !bytes.Equal(sum, want[:]) {
			t.Fatal("snapshot checksum does not match its data")
		}
		path := filepath.Join(t.TempDir(), "snapshot.db")
		if err := os.WriteFile(path, db, 0o600); err != nil {
			t.Fatal(err)
		}
		bdb, err := bolt.Open(path, 0o400, &bolt.Options{ReadOnly: true, Timeout: time.Second})
		if err != nil {
			t.Fatalf("snapshot is no bbolt database: %v", err)
		}
		defer bdb.Close()
		err = bdb.View(func(tx *bolt.Tx) error {
			b := tx.Bucket([]byte("key"))
			if b == nil {
				return fmt.Errorf("no key bucket")
			}
			if n := b.Stats().KeyN; n == 0 {
				return fmt.Errorf("key bucket is empty")
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

func testAPIMoveLeader(t *testing.T, e *apiEnv) {
	ctx := testCtx(t)
	leaderCli := e.leader.Client(t)
	_, err := leaderCli.MoveLeader(ctx, 0x7777777)
	wantErr(t, "move leader to no member", err, "etcdserver: bad leader transferee")
	// Moving leadership to the leader is done at once.
	if _, err := leaderCli.MoveLeader(ctx, e.ids[e.leader.Name]); err != nil {
		t.Fatalf("move leader to itself: %v", err)
	}
	if len(e.followers) == 0 {
		return
	}
	target := e.followers[len(e.followers)-1]
	// A follower refuses: only the leader transfers leadership.
	_, err = e.followers[0].Client(t).MoveLeader(ctx, e.ids[target.Name])
	wantErr(t, "move leader through a follower", err, "etcdserver: not leader")

	before, err := e.cli.Status(ctx, e.leader.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaderCli.MoveLeader(ctx, e.ids[target.Name]); err != nil {
		t.Fatal(err)
	}
	// MoveLeader returns once the transferee leads: every member agrees
	// soon after.
	id, err := waitLeader(t, e.c, e.cli, e.ids[e.leader.Name])
	if err != nil {
		t.Fatal(err)
	}
	if id != e.ids[target.Name] {
		t.Fatalf("leader %x after moving to %s (%x)", id, target.Name, e.ids[target.Name])
	}
	after, err := e.cli.Status(ctx, target.ClientURL())
	if err != nil || after.RaftTerm <= before.RaftTerm {
		t.Fatalf("term %v after move, %d before (%v)", after, before.RaftTerm, err)
	}
	e.findLeader(t)
	putGet(t, e.cli, "/moved", "yes")
}
