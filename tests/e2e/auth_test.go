package e2e

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
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
	"github.com/basaltkv/basalt/pkg/tlsutil"
	"github.com/basaltkv/basalt/pkg/tlsutil/tlstest"
	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3lock/v3lockpb"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

func authCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// userClient is a client of endpoints that authenticates as user.
func userClient(t *testing.T, endpoints []string, user, password string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, Username: user, Password: password,
		DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatalf("client of %s: %v", user, err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// setUpAuth creates root, the role "r" (read-write under a/, read b) and
// alice with it, then enables auth.
func setUpAuth(t *testing.T, cli *clientv3.Client) {
	t.Helper()
	ctx := authCtx(t)
	steps := []func() error{
		func() error { _, err := cli.UserAdd(ctx, "root", "rootpw"); return err },
		func() error { _, err := cli.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := cli.RoleAdd(ctx, "r"); return err },
		func() error {
			_, err := cli.RoleGrantPermission(ctx, "r", "a/", clientv3.GetPrefixRangeEnd("a/"), clientv3.PermissionType(authpb.READWRITE))
			return err
		},
		func() error {
			_, err := cli.RoleGrantPermission(ctx, "r", "b", "", clientv3.PermissionType(authpb.READ))
			return err
		},
		func() error { _, err := cli.UserAdd(ctx, "alice", "alicepw"); return err },
		func() error { _, err := cli.UserGrantRole(ctx, "alice", "r"); return err },
		func() error { _, err := cli.AuthEnable(ctx); return err },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("set up auth, step %d: %v", i, err)
		}
	}
}

func wantAuthErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) && (err == nil || want == nil || err.Error() != want.Error()) {
		t.Errorf("%s: %v, want %v", what, err, want)
	}
}

// TestAuth enables auth on a real member and checks every kind of call
// with and without the permission it needs, through clientv3, as etcd
// answers them; then that it survives a restart and can be disabled.
func TestAuth(t *testing.T) {
	c := NewCluster(t, 1, nil)
	eps := c.Endpoints()
	anon := c.Client(t)
	if _, err := anon.AuthEnable(authCtx(t)); err == nil || err.Error() != rpctypes.ErrRootUserNotExist.Error() {
		t.Fatalf("auth enable without root: %v", err)
	}
	setUpAuth(t, anon)
	ctx := authCtx(t)

	// No user.
	_, err := anon.Put(ctx, "a/x", "v")
	wantAuthErr(t, "put without a user", err, rpctypes.ErrUserEmpty)
	_, err = anon.Get(ctx, "a/x")
	wantAuthErr(t, "get without a user", err, rpctypes.ErrUserEmpty)
	_, err = anon.MemberList(ctx)
	wantAuthErr(t, "member list without a user", err, rpctypes.ErrUserEmpty)
	// Wrong password.
	_, err = clientv3.New(clientv3.Config{Endpoints: eps, Username: "alice", Password: "nope", DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	wantAuthErr(t, "wrong password", err, rpctypes.ErrAuthFailed)

	// Health does not need a user, as etcd's.
	for _, path := range []string{"/health", "/readyz", "/livez"} {
		resp, err := http.Get(eps[0] + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s with auth on: %d %s", path, resp.StatusCode, body)
		}
	}

	root := userClient(t, eps, "root", "rootpw")
	alice := userClient(t, eps, "alice", "alicepw")
	if _, err := root.Put(ctx, "c", "root's"); err != nil {
		t.Fatalf("root put: %v", err)
	}
	if _, err := root.Put(ctx, "b", "readable"); err != nil {
		t.Fatalf("root put: %v", err)
	}

	checks := []struct {
		name string
		err  error
		want error
	}{
		{"put under a/", func() error { _, err := alice.Put(ctx, "a/x", "1"); return err }(), nil},
		{"get under a/", func() error { _, err := alice.Get(ctx, "a/x"); return err }(), nil},
		{"get the prefix", func() error { _, err := alice.Get(ctx, "a/", clientv3.WithPrefix()); return err }(), nil},
		{"serializable get", func() error { _, err := alice.Get(ctx, "a/x", clientv3.WithSerializable()); return err }(), nil},
		{"get b", func() error { _, err := alice.Get(ctx, "b"); return err }(), nil},
		{"put b", func() error { _, err := alice.Put(ctx, "b", "x"); return err }(), rpctypes.ErrPermissionDenied},
		{"get c", func() error { _, err := alice.Get(ctx, "c"); return err }(), rpctypes.ErrPermissionDenied},
		{"get everything", func() error { _, err := alice.Get(ctx, "", clientv3.WithPrefix()); return err }(), rpctypes.ErrPermissionDenied},
		{"delete under a/ with prev kv", func() error { _, err := alice.Delete(ctx, "a/x", clientv3.WithPrevKV()); return err }(), nil},
		{"delete b", func() error { _, err := alice.Delete(ctx, "b"); return err }(), rpctypes.ErrPermissionDenied},
		{"txn compare on c", func() error {
			_, err := alice.Txn(ctx).If(clientv3.Compare(clientv3.Value("c"), "=", "x")).Then(clientv3.OpPut("a/y", "1")).Commit()
			return err
		}(), rpctypes.ErrPermissionDenied},
		{"txn failure branch writes c", func() error {
			_, err := alice.Txn(ctx).If(clientv3.Compare(clientv3.Version("a/y"), "=", 0)).Then(clientv3.OpPut("a/y", "1")).Else(clientv3.OpPut("c", "1")).Commit()
			return err
		}(), rpctypes.ErrPermissionDenied},
		{"read-only txn on c", func() error { _, err := alice.Txn(ctx).Then(clientv3.OpGet("c")).Commit(); return err }(), rpctypes.ErrPermissionDenied},
		{"txn within a/", func() error {
			_, err := alice.Txn(ctx).If(clientv3.Compare(clientv3.Version("a/y"), "=", 0)).Then(clientv3.OpPut("a/y", "1")).Else(clientv3.OpGet("b")).Commit()
			return err
		}(), nil},
		{"member list", func() error { _, err := alice.MemberList(ctx); return err }(), nil},
		{"status", func() error { _, err := alice.Status(ctx, eps[0]); return err }(), nil},
		{"alarm list", func() error { _, err := alice.AlarmList(ctx); return err }(), nil},
		{"member add", func() error { _, err := alice.MemberAdd(ctx, []string{"http://127.0.0.1:1"}); return err }(), rpctypes.ErrPermissionDenied},
		{"defragment", func() error { _, err := alice.Defragment(ctx, eps[0]); return err }(), rpctypes.ErrPermissionDenied},
		{"hash kv", func() error { _, err := alice.HashKV(ctx, eps[0], 0); return err }(), rpctypes.ErrPermissionDenied},
		{"move leader", func() error { _, err := alice.MoveLeader(ctx, 1); return err }(), rpctypes.ErrPermissionDenied},
		{"user list", func() error { _, err := alice.UserList(ctx); return err }(), rpctypes.ErrPermissionDenied},
		{"get herself", func() error { _, err := alice.UserGet(ctx, "alice"); return err }(), nil},
		{"get root", func() error { _, err := alice.UserGet(ctx, "root"); return err }(), rpctypes.ErrPermissionDenied},
		{"get her role", func() error { _, err := alice.RoleGet(ctx, "r"); return err }(), nil},
		{"role list", func() error { _, err := alice.RoleList(ctx); return err }(), rpctypes.ErrPermissionDenied},
		{"add a user", func() error { _, err := alice.UserAdd(ctx, "mallory", "x"); return err }(), rpctypes.ErrPermissionDenied},
		{"disable auth", func() error { _, err := alice.AuthDisable(ctx); return err }(), rpctypes.ErrPermissionDenied},
		{"root: hash kv", func() error { _, err := root.HashKV(ctx, eps[0], 0); return err }(), nil},
		{"root: delete root", func() error { _, err := root.UserDelete(ctx, "root"); return err }(), rpctypes.ErrInvalidAuthMgmt},
	}
	for _, ch := range checks {
		wantAuthErr(t, ch.name, ch.err, ch.want)
	}

	// Lease: alice's lease on a/ key; revoking it needs write on its keys.
	lease, err := alice.Grant(ctx, 60)
	if err != nil {
		t.Fatalf("grant: %v", err)
	}
	if _, err := alice.Put(ctx, "a/leased", "v", clientv3.WithLease(lease.ID)); err != nil {
		t.Fatalf("put with a lease: %v", err)
	}
	if _, err := alice.TimeToLive(ctx, lease.ID, clientv3.WithAttachedKeys()); err != nil {
		t.Errorf("time to live with her keys: %v", err)
	}
	if _, err := root.Put(ctx, "c2", "v", clientv3.WithLease(lease.ID)); err != nil {
		t.Fatalf("root attaches c2: %v", err)
	}
	_, err = alice.TimeToLive(ctx, lease.ID, clientv3.WithAttachedKeys())
	wantAuthErr(t, "time to live with a key she cannot read", err, rpctypes.ErrPermissionDenied)
	_, err = alice.Revoke(ctx, lease.ID)
	wantAuthErr(t, "revoke a lease holding a key she cannot write", err, rpctypes.ErrPermissionDenied)
	if _, err := root.Revoke(ctx, lease.ID); err != nil {
		t.Errorf("root revoke: %v", err)
	}

	// An expired lease's keys go, whoever wrote them: the member revokes
	// as root.
	short, err := alice.Grant(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Put(ctx, "a/expiring", "v", clientv3.WithLease(short.ID)); err != nil {
		t.Fatal(err)
	}
	testutil.WaitUntil(t, 30*time.Second, "the expired lease's key to go", func() bool {
		resp, err := root.Get(ctx, "a/expiring")
		return err == nil && len(resp.Kvs) == 0
	})

	// Watches: refused where she cannot read, delivered where she can.
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	denied := alice.Watch(wctx, "c")
	select {
	case wr := <-denied:
		// etcd's cancel reason is the gRPC error's whole text.
		if !wr.Canceled || wr.Err() == nil || wr.Err().Error() != rpctypes.ErrGRPCPermissionDenied.Error() {
			t.Errorf("watch on c: %+v, %v", wr, wr.Err())
		}
	case <-time.After(10 * time.Second):
		t.Error("watch on c: no answer")
	}
	allowed := alice.Watch(wctx, "a/", clientv3.WithPrefix())
	if _, err := alice.Put(ctx, "a/w", "1"); err != nil {
		t.Fatal(err)
	}
	select {
	case wr := <-allowed:
		if wr.Err() != nil || len(wr.Events) != 1 || string(wr.Events[0].Kv.Key) != "a/w" {
			t.Errorf("watch on a/: %+v, %v", wr, wr.Err())
		}
	case <-time.After(10 * time.Second):
		t.Error("watch on a/: no event")
	}

	// The lock service runs as its caller.
	locks := v3lockpb.NewLockClient(alice.ActiveConnection())
	lctx, lcancel := context.WithTimeout(ctx, 10*time.Second)
	defer lcancel()
	held, err := locks.Lock(lctx, &v3lockpb.LockRequest{Name: []byte("a/lock")})
	if err != nil {
		t.Fatalf("lock under a/: %v", err)
	}
	if _, err := locks.Unlock(lctx, &v3lockpb.UnlockRequest{Key: held.Key}); err != nil {
		t.Fatalf("unlock: %v", err)
	}
	_, err = locks.Lock(lctx, &v3lockpb.LockRequest{Name: []byte("c/lock")})
	if err == nil || rpctypes.ErrorDesc(err) != rpctypes.ErrPermissionDenied.Error() {
		t.Errorf("lock under c/: %v", err)
	}

	// The JSON gateway takes the token in the Authorization header.
	token := gatewayPost(t, eps[0]+"/v3/auth/authenticate", "", `{"name":"alice","password":"alicepw"}`)["token"].(string)
	gatewayPost(t, eps[0]+"/v3/kv/put", token, `{"key":"YS9n","value":"dg=="}`) // a/g
	if got := gatewayPost(t, eps[0]+"/v3/kv/range", token, `{"key":"YS9n"}`); got["count"] != "1" {
		t.Errorf("gateway range of a/g: %v", got)
	}
	if code, body := gatewayStatus(t, eps[0]+"/v3/kv/range", token, `{"key":"Yw=="}`); code != http.StatusForbidden || !strings.Contains(body, "permission denied") {
		t.Errorf("gateway range of c: %d %s", code, body)
	}
	if code, body := gatewayStatus(t, eps[0]+"/v3/kv/range", "", `{"key":"YS9n"}`); code == http.StatusOK || !strings.Contains(body, "user name is empty") {
		t.Errorf("gateway range without a token: %d %s", code, body)
	}

	// A revoked permission is revoked at once.
	if _, err := root.RoleRevokePermission(ctx, "r", "a/", clientv3.GetPrefixRangeEnd("a/")); err != nil {
		t.Fatal(err)
	}
	_, err = alice.Put(ctx, "a/z", "1")
	wantAuthErr(t, "put after the permission was revoked", err, rpctypes.ErrPermissionDenied)
	_, err = alice.Txn(ctx).If(clientv3.Compare(clientv3.Value("b"), "=", "readable")).Then(clientv3.OpGet("b")).Else(clientv3.OpPut("a/z", "1")).Commit()
	wantAuthErr(t, "txn whose other branch writes where the permission was revoked", err, rpctypes.ErrPermissionDenied)
	select {
	case wr := <-alice.Watch(wctx, "a/", clientv3.WithPrefix()):
		if !wr.Canceled || wr.Err() == nil || wr.Err().Error() != rpctypes.ErrGRPCPermissionDenied.Error() {
			t.Errorf("watch after the permission was revoked: %+v, %v", wr, wr.Err())
		}
	case <-time.After(10 * time.Second):
		t.Error("watch after the permission was revoked: no answer")
	}

	// No password and no token in a log line.
	token2, err := alice.Authenticate(ctx, "alice", "alicepw")
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"alicepw", "rootpw", token, token2.Token} {
		if strings.Contains(c.Members[0].Logs(), secret) {
			t.Errorf("the logs hold a secret %q", secret)
		}
	}

	// The auth state survives a restart.
	c.Members[0].Stop(t)
	c.Members[0].Start(t)
	again := userClient(t, eps, "alice", "alicepw")
	if _, err := again.Get(ctx, "b"); err != nil {
		t.Fatalf("alice after restart: %v", err)
	}
	_, err = again.Get(ctx, "a/w")
	wantAuthErr(t, "alice after restart, revoked permission", err, rpctypes.ErrPermissionDenied)
	users, err := userClient(t, eps, "root", "rootpw").UserList(ctx)
	if err != nil || !slices.Equal(users.Users, []string{"alice", "root"}) {
		t.Fatalf("users after restart: %v, %v", users, err)
	}
	rootAgain := userClient(t, eps, "root", "rootpw")
	if _, err := rootAgain.AuthDisable(ctx); err != nil {
		t.Fatalf("auth disable: %v", err)
	}
	if _, err := c.Client(t).Put(ctx, "c", "anyone"); err != nil {
		t.Fatalf("put without a user once auth is off: %v", err)
	}
	st, err := c.Client(t).AuthStatus(ctx)
	if err != nil || st.Enabled {
		t.Fatalf("auth status: %+v, %v", st, err)
	}
}

// TestAuthTokenOnAnotherMember authenticates on one member of three and
// uses the (simple) token on another: every member assigned it when the
// Authenticate entry was applied.
func TestAuthTokenOnAnotherMember(t *testing.T) {
	c := NewCluster(t, 3, nil)
	setUpAuth(t, c.Client(t))
	ctx := authCtx(t)
	first := userClient(t, []string{c.Members[0].ClientURL()}, "alice", "alicepw")
	resp, err := first.Authenticate(ctx, "alice", "alicepw")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range c.Members[1:] {
		conn, err := grpc.NewClient(m.ClientURL()[len("http://"):], grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		kv := pb.NewKVClient(conn)
		tctx := metadata.AppendToOutgoingContext(ctx, rpctypes.TokenFieldNameGRPC, resp.Token)
		if _, err := kv.Put(tctx, &pb.PutRequest{Key: []byte("a/" + m.Name), Value: []byte("v")}); err != nil {
			t.Errorf("put on %s with a token from %s: %v", m.Name, c.Members[0].Name, err)
		}
		if _, err := kv.Range(tctx, &pb.RangeRequest{Key: []byte("c")}); err == nil || err.Error() != rpctypes.ErrGRPCPermissionDenied.Error() {
			t.Errorf("get c on %s: %v", m.Name, err)
		}
		bad := metadata.AppendToOutgoingContext(ctx, rpctypes.TokenFieldNameGRPC, "notatoken.1")
		if _, err := kv.Range(bad, &pb.RangeRequest{Key: []byte("a/x")}); err == nil || err.Error() != rpctypes.ErrGRPCInvalidAuthToken.Error() {
			t.Errorf("an invalid token on %s: %v", m.Name, err)
		}
	}
}

// gatewayStatus posts body to url with the token, if any, and returns the
// status and body.
func gatewayStatus(t *testing.T, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// gatewayPost is gatewayStatus for a call that must succeed; it returns
// the decoded answer.
func gatewayPost(t *testing.T, url, token, body string) map[string]any {
	t.Helper()
	code, out := gatewayStatus(t, url, token, body)
	if code != http.StatusOK {
		t.Fatalf("POST %s: %d %s", url, code, out)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("POST %s: %v in %s", url, err, out)
	}
	return m
}

// TestAuthClientCertificateCN: with --client-cert-auth, a client that
// presents a certificate and no password is the user its common name
// names, as in etcd.
func TestAuthClientCertificateCN(t *testing.T) {
	c := NewCluster(t, 1, &Options{ClientTLS: MutualTLS})
	rootCert := NewClient(t, c.Endpoints(), c.Certs.ClientTLS(t, MutualTLS, true)) // CN root
	setUpAuth(t, rootCert)
	ctx := authCtx(t)
	if _, err := rootCert.Put(ctx, "c", "by root's certificate"); err != nil {
		t.Fatalf("put as root by certificate: %v", err)
	}
	if _, err := rootCert.UserList(ctx); err != nil {
		t.Fatalf("user list as root by certificate: %v", err)
	}
	aliceCert := c.Certs.CA.Issue(t, "alice", tlstest.Options{CommonName: "alice", Client: true})
	info := tlsutil.Info{TrustedCAFile: c.Certs.CA.CertFile, ServerName: "127.0.0.1", CertFile: aliceCert.CertFile, KeyFile: aliceCert.KeyFile}
	tlsCfg, err := info.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	alice := NewClient(t, c.Endpoints(), tlsCfg)
	if _, err := alice.Put(ctx, "a/x", "1"); err != nil {
		t.Fatalf("put under a/ as alice by certificate: %v", err)
	}
	_, err = alice.Get(ctx, "c")
	wantAuthErr(t, "get c as alice by certificate", err, rpctypes.ErrPermissionDenied)
	// A password beats the certificate: alice's certificate with root's
	// credentials is root.
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), TLS: tlsCfg, Username: "root", Password: "rootpw",
		DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if _, err := cli.Get(ctx, "c"); err != nil {
		t.Fatalf("get c with root's password and alice's certificate: %v", err)
	}
}

// jwtKeys writes an RSA or ECDSA key pair as PEM files.
func jwtKeys(t *testing.T, kind string) (pub, priv string) {
	t.Helper()
	var key crypto.Signer
	var err error
	if kind == "rsa" {
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	} else {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pub, priv = filepath.Join(dir, "pub.pem"), filepath.Join(dir, "priv.pem")
	for p, b := range map[string]*pem.Block{pub: {Type: "PUBLIC KEY", Bytes: pubDER}, priv: {Type: "PRIVATE KEY", Bytes: privDER}} {
		if err := os.WriteFile(p, pem.EncodeToMemory(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return pub, priv
}

// TestAuthJWT runs three members with JWT tokens (RSA, then ECDSA): a
// token issued by one member is accepted by the others; it carries the
// auth revision, so after an auth change it is refused as old and
// clientv3 gets a new one by itself; an expired token is refused.
func TestAuthJWT(t *testing.T) {
	for _, tt := range []struct{ kind, method string }{{"rsa", "RS256"}, {"ecdsa", "ES256"}} {
		t.Run(tt.method, func(t *testing.T) {
			pub, priv := jwtKeys(t, tt.kind)
			c := NewCluster(t, 3, &Options{Args: []string{"--auth-token",
				"jwt,pub-key=" + pub + ",priv-key=" + priv + ",sign-method=" + tt.method + ",ttl=3s"}})
			setUpAuth(t, c.Client(t))
			ctx := authCtx(t)
			root := userClient(t, c.Endpoints(), "root", "rootpw")
			alice := userClient(t, c.Endpoints(), "alice", "alicepw")
			if _, err := alice.Put(ctx, "a/1", "v"); err != nil {
				t.Fatalf("put with a JWT: %v", err)
			}
			resp, err := userClient(t, []string{c.Members[0].ClientURL()}, "alice", "alicepw").Authenticate(ctx, "alice", "alicepw")
			if err != nil {
				t.Fatal(err)
			}
			kvOn := func(m *Member) pb.KVClient {
				conn, err := grpc.NewClient(m.ClientURL()[len("http://"):], grpc.WithTransportCredentials(insecure.NewCredentials()))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { conn.Close() })
				return pb.NewKVClient(conn)
			}
			tctx := metadata.AppendToOutgoingContext(ctx, rpctypes.TokenFieldNameGRPC, resp.Token)
			for _, m := range c.Members[1:] {
				if _, err := kvOn(m).Range(tctx, &pb.RangeRequest{Key: []byte("a/1")}); err != nil {
					t.Errorf("range on %s with a JWT from %s: %v", m.Name, c.Members[0].Name, err)
				}
			}
			// An auth change makes the token old; clientv3 gets a new one.
			if _, err := root.RoleAdd(ctx, "other"); err != nil {
				t.Fatal(err)
			}
			if _, err := kvOn(c.Members[2]).Range(tctx, &pb.RangeRequest{Key: []byte("a/1")}); err == nil || err.Error() != rpctypes.ErrGRPCAuthOldRevision.Error() {
				t.Errorf("range with a token older than an auth change: %v", err)
			}
			if _, err := alice.Get(ctx, "a/1"); err != nil {
				t.Errorf("clientv3 after an auth change: %v", err)
			}
			// Expired.
			fresh, err := c.Client(t).Authenticate(ctx, "alice", "alicepw")
			if err != nil {
				t.Fatal(err)
			}
			fctx := metadata.AppendToOutgoingContext(ctx, rpctypes.TokenFieldNameGRPC, fresh.Token)
			testutil.WaitUntil(t, 30*time.Second, "the token to expire", func() bool {
				_, err := kvOn(c.Members[1]).Range(fctx, &pb.RangeRequest{Key: []byte("a/1")})
				return err != nil && err.Error() == rpctypes.ErrGRPCInvalidAuthToken.Error()
			})
			if _, err := alice.Get(ctx, "a/1"); err != nil {
				t.Errorf("clientv3 after its token expired: %v", err)
			}
		})
	}
}

// TestAuthLeaderChange holds tokens across leader changes and a killed
// leader on a 3-member cluster: a client keeps working, getting a new
// token where a member lost its simple tokens with its restart.
func TestAuthLeaderChange(t *testing.T) {
	c := NewCluster(t, 3, nil)
	setUpAuth(t, c.Client(t))
	ctx := authCtx(t)
	root := userClient(t, c.Endpoints(), "root", "rootpw")
	alice := userClient(t, c.Endpoints(), "alice", "alicepw")
	leader := func() int {
		for i, m := range c.Members {
			st, err := root.Status(ctx, m.ClientURL())
			if err == nil && st.Leader == st.Header.MemberId {
				return i
			}
		}
		return -1
	}
	use := func(what string) {
		t.Helper()
		pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		// A put cut off by the kill, or lost with the leader, fails
		// (clientv3 does not send a write twice): put again.
		var err error
		for pctx.Err() == nil {
			_, err = alice.Put(pctx, "a/"+what, "v")
			if status.Code(err) != codes.Unavailable && !errors.Is(err, rpctypes.ErrTimeout) && !errors.Is(err, rpctypes.ErrTimeoutDueToLeaderFail) {
				break
			}
		}
		if err != nil {
			t.Fatalf("put after %s: %v", what, err)
		}
		if _, err := alice.Get(pctx, "a/"+what); err != nil {
			t.Fatalf("get after %s: %v", what, err)
		}
	}
	use("start")
	for i := range 3 {
		l := leader()
		if l < 0 {
			t.Fatal("no leader")
		}
		next := c.Members[(l+1)%3]
		st, err := root.Status(ctx, next.ClientURL())
		if err != nil {
			t.Fatal(err)
		}
		lcli := userClient(t, []string{c.Members[l].ClientURL()}, "root", "rootpw")
		if _, err := lcli.MoveLeader(ctx, st.Header.MemberId); err != nil {
			t.Fatalf("move leader: %v", err)
		}
		use(fmt.Sprintf("move-%d", i))
	}
	l := leader()
	c.Members[l].Kill()
	use("kill")
	c.Members[l].Start(t)
	// Every member, the restarted one included, serves her.
	for _, m := range c.Members {
		cli := userClient(t, []string{m.ClientURL()}, "alice", "alicepw")
		if _, err := cli.Get(ctx, "a/kill"); err != nil {
			t.Errorf("get on %s: %v", m.Name, err)
		}
	}
}

// TestAuthSimpleTokenTTL: a simple token unused for --auth-token-ttl
// seconds is refused; clientv3 gets a new one by itself.
func TestAuthSimpleTokenTTL(t *testing.T) {
	c := NewCluster(t, 1, &Options{Args: []string{"--auth-token-ttl", "2"}})
	setUpAuth(t, c.Client(t))
	ctx := authCtx(t)
	alice := userClient(t, c.Endpoints(), "alice", "alicepw")
	resp, err := alice.Authenticate(ctx, "alice", "alicepw")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(c.Members[0].ClientURL()[len("http://"):], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	kv := pb.NewKVClient(conn)
	tctx := metadata.AppendToOutgoingContext(ctx, rpctypes.TokenFieldNameGRPC, resp.Token)
	if _, err := kv.Range(tctx, &pb.RangeRequest{Key: []byte("a/x")}); err != nil {
		t.Fatalf("range with a fresh token: %v", err)
	}
	// What is tested is the passing of time itself: the token unused for
	// longer than its TTL (every use would extend it, so it is not polled).
	<-time.After(3 * time.Second)
	if _, err := kv.Range(tctx, &pb.RangeRequest{Key: []byte("a/x")}); err == nil || err.Error() != rpctypes.ErrGRPCInvalidAuthToken.Error() {
		t.Fatalf("range with a token unused past its TTL: %v", err)
	}
	if _, err := alice.Get(ctx, "a/x"); err != nil {
		t.Fatalf("clientv3 after its token expired: %v", err)
	}
}
