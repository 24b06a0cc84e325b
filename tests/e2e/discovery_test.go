package e2e

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/basaltkv/basalt/pkg/netutil"
	"github.com/basaltkv/basalt/pkg/testutil"
	"github.com/basaltkv/basalt/pkg/testutil/dnstest"
	"github.com/basaltkv/basalt/pkg/tlsutil/tlstest"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// v3Discovery bootstraps members by etcd's v3 discovery through the
// service at endpoint: a token per start, its size written first.
func v3Discovery(t *testing.T, svc *clientv3.Client, endpoint string, size int) func([]*Member, *Member, string) []string {
	return func(_ []*Member, _ *Member, token string) []string {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := svc.Put(ctx, "/_etcd/registry/"+token+"/_config/size", strconv.Itoa(size)); err != nil {
			t.Errorf("write the discovery size: %v", err)
		}
		return []string{"--discovery-token", token, "--discovery-endpoints", endpoint}
	}
}

// memberList is the cluster's members as name -> peer URLs, after every
// member has published its name.
func memberList(t *testing.T, cli *clientv3.Client, size int) map[string][]string {
	t.Helper()
	var got map[string][]string
	testutil.WaitUntil(t, 30*time.Second, fmt.Sprintf("%d members with names", size), func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := cli.MemberList(ctx)
		if err != nil {
			return false
		}
		got = map[string][]string{}
		for _, m := range resp.Members {
			if m.Name == "" || len(m.ClientURLs) == 0 {
				return false
			}
			got[m.Name] = m.PeerURLs
		}
		return len(got) == size
	})
	return got
}

// discoveryService is a cluster that v3 discovery goes through: a client
// of it (with every permission), its endpoint and the flags a member
// needs besides the token and the endpoint.
type discoveryService struct {
	name  string
	start func(t *testing.T) (*clientv3.Client, string, []string)
}

var discoveryServices = []discoveryService{
	{"basalt", func(t *testing.T) (*clientv3.Client, string, []string) {
		s := NewCluster(t, 1, nil)
		return s.Client(t), s.Members[0].ClientURL(), nil
	}},
	{"basalt over TLS", func(t *testing.T) (*clientv3.Client, string, []string) {
		s := NewCluster(t, 1, &Options{ClientTLS: MutualTLS})
		return s.Client(t), s.Members[0].ClientURL(), []string{"--discovery-insecure-transport=false",
			"--discovery-cacert", s.Certs.CA.CertFile, "--discovery-cert", s.Certs.Client.CertFile, "--discovery-key", s.Certs.Client.KeyFile}
	}},
	{"etcd", func(t *testing.T) (*clientv3.Client, string, []string) {
		e := StartEtcd(t, "v3 discovery is tested through a real etcd")
		return e.Client, e.ClientURL, nil
	}},
	{"etcd with authentication", func(t *testing.T) (*clientv3.Client, string, []string) {
		e := StartEtcd(t, "v3 discovery with a user is tested through a real etcd")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, step := range []func() error{
			func() error { _, err := e.Client.UserAdd(ctx, "root", "rootpw"); return err },
			func() error { _, err := e.Client.UserGrantRole(ctx, "root", "root"); return err },
			func() error { _, err := e.Client.AuthEnable(ctx); return err },
		} {
			if err := step(); err != nil {
				t.Fatalf("enable authentication: %v", err)
			}
		}
		root, err := clientv3.New(clientv3.Config{Endpoints: []string{e.ClientURL}, Username: "root", Password: "rootpw", DialTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { root.Close() })
		return root, e.ClientURL, []string{"--discovery-user", "root:rootpw"}
	}},
}

// TestDiscoveryV3 bootstraps three basalt members by etcd's v3 discovery,
// through basalt (plain and over TLS with client certificates) and
// through Debian's etcd (plain and with a user): they form one cluster,
// registered under the token with their IDs; a fourth member with the
// same token finds the cluster full and exits with etcd's messages; a
// restarted member ignores the token.
func TestDiscoveryV3(t *testing.T) {
	for _, service := range discoveryServices {
		t.Run(service.name, func(t *testing.T) {
			svc, endpoint, extra := service.start(t)
			var token string
			c := NewCluster(t, 3, &Options{Bootstrap: func(ms []*Member, m *Member, tok string) []string {
				token = "disc-" + tok
				return append(v3Discovery(t, svc, endpoint, 3)(ms, m, token), extra...)
			}})
			cli := c.Client(t)
			members := memberList(t, cli, 3)
			for _, m := range c.Members {
				if !slices.Equal(members[m.Name], []string{m.PeerURL()}) {
					t.Errorf("member %s: peer URLs %v, want [%s]", m.Name, members[m.Name], m.PeerURL())
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := cli.Put(ctx, "k", "v"); err != nil {
				t.Fatalf("put: %v", err)
			}

			// The registrations are the members, under their IDs.
			reg, err := svc.Get(ctx, "/_etcd/registry/"+token+"/members/", clientv3.WithPrefix())
			if err != nil {
				t.Fatal(err)
			}
			ml, err := cli.MemberList(ctx)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{}
			for _, m := range ml.Members {
				want["/_etcd/registry/"+token+"/members/"+strconv.FormatUint(m.ID, 16)] = m.Name + "=" + m.PeerURLs[0]
			}
			got := map[string]string{}
			for _, kv := range reg.Kvs {
				got[string(kv.Key)] = string(kv.Value)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("registrations %v, want %v", got, want)
			}

			// A fourth member is turned away.
			late := c.PrepareMember(t, "late")
			if err := c.StartNew(late); err != nil {
				t.Fatal(err)
			}
			code, err := late.Process().Wait(30 * time.Second)
			if err != nil || code != 1 {
				t.Fatalf("late member: exit %d, %v; want 1", code, err)
			}
			for _, line := range []string{"discovery: cluster is full", "failed to bootstrap; discovery token was already used",
				"do not reuse discovery token; generate a new one to bootstrap a cluster"} {
				if !LogContains(late.Process().Output(), line) {
					t.Errorf("late member's output lacks %q:\n%s", line, late.Process().Output())
				}
			}
			c.Drop(late)

			// A member with data ignores the token.
			c.Members[1].Stop(t)
			c.Members[1].Start(t)
			if !LogContains(c.Members[1].Logs(), "discovery token is ignored since cluster already initialized; valid logs are found") {
				t.Errorf("restarted member did not say it ignores the token:\n%s", c.Members[1].Logs())
			}
			gctx, gcancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer gcancel()
			if resp, err := c.Members[1].Client(t).Get(gctx, "k"); err != nil || len(resp.Kvs) != 1 {
				t.Fatalf("get from the restarted member: %v, %v", resp, err)
			}
		})
	}
}

// TestDiscoveryV3Waits starts one of two members: it registers and waits,
// not serving, until the second registers; then both serve.
func TestDiscoveryV3Waits(t *testing.T) {
	s := NewCluster(t, 1, nil)
	svc := s.Client(t)
	c := NewCluster(t, 0, &Options{Bootstrap: v3Discovery(t, svc, s.Members[0].ClientURL(), 2)})
	first, second := c.PrepareMember(t, "first"), c.PrepareMember(t, "second")
	// The size key is written when the first member's flags are made.
	if err := c.StartNew(first); err != nil {
		t.Fatal(err)
	}
	if err := first.Process().WaitOutput("waiting for peers from discovery service", 30*time.Second); err != nil {
		t.Fatalf("first member: %v\n%s", err, first.Process().Output())
	}
	if LogContains(first.Process().Output(), ReadyLine) {
		t.Fatal("first member serves alone")
	}
	if err := c.StartNew(second); err != nil {
		t.Fatal(err)
	}
	for _, m := range []*Member{first, second} {
		if err := m.WaitReady(60 * time.Second); err != nil {
			t.Fatalf("%s: %v\n%s", m.Name, err, m.Process().Output())
		}
	}
	memberList(t, c.Client(t), 2)
}

// TestDiscoveryV3KilledWhileWaiting kills (-9) a member that registered
// and waits for its peers, then starts it again: it registers in its old
// place, so the cluster still forms with two members, not three.
func TestDiscoveryV3KilledWhileWaiting(t *testing.T) {
	s := NewCluster(t, 1, nil)
	svc := s.Client(t)
	var token string
	c := NewCluster(t, 0, &Options{Bootstrap: func(ms []*Member, m *Member, tok string) []string {
		token = "disc-" + tok
		return v3Discovery(t, svc, s.Members[0].ClientURL(), 2)(ms, m, token)
	}})
	first, second := c.PrepareMember(t, "first"), c.PrepareMember(t, "second")
	if err := c.StartNew(first); err != nil {
		t.Fatal(err)
	}
	if err := first.Process().WaitOutput("waiting for peers from discovery service", 30*time.Second); err != nil {
		t.Fatalf("first member: %v\n%s", err, first.Process().Output())
	}
	first.Kill()
	if err := first.start(); err != nil {
		t.Fatal(err)
	}
	if err := first.Process().WaitOutput("waiting for peers from discovery service", 30*time.Second); err != nil {
		t.Fatalf("first member, restarted: %v\n%s", err, first.Process().Output())
	}
	if err := c.StartNew(second); err != nil {
		t.Fatal(err)
	}
	for _, m := range []*Member{first, second} {
		if err := m.WaitReady(60 * time.Second); err != nil {
			t.Fatalf("%s: %v\n%s", m.Name, err, m.Process().Output())
		}
	}
	memberList(t, c.Client(t), 2)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reg, err := svc.Get(ctx, "/_etcd/registry/"+token+"/members/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil || reg.Count != 2 {
		t.Fatalf("registrations: %v, %v; want 2", reg, err)
	}
}

// TestDiscoveryV3Refusals checks what etcd refuses, with its messages.
func TestDiscoveryV3Refusals(t *testing.T) {
	s := NewCluster(t, 1, nil)
	svc := s.Client(t)
	ep := s.Members[0].ClientURL()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := svc.Put(ctx, "/_etcd/registry/bad/_config/size", "three"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "no size", args: []string{"--discovery-token", "missing", "--discovery-endpoints", ep},
			want: "failed to join discovery cluster (discovery: size key not found)"},
		{name: "bad size", args: []string{"--discovery-token", "bad", "--discovery-endpoints", ep},
			want: "failed to join discovery cluster (discovery: size key is bad)"},
		{name: "joining an existing cluster", args: []string{"--discovery-token", "bad", "--discovery-endpoints", ep, "--initial-cluster-state", "existing"},
			want: "discovery URL should not be set when joining existing initial cluster"},
		{name: "with --initial-cluster", args: []string{"--discovery-token", "bad", "--discovery-endpoints", ep, "--initial-cluster", "x=http://127.0.0.1:1"},
			want: `multiple discovery or bootstrap flags are set. Choose one of "initial-cluster", "discovery-endpoints" or "discovery-srv"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, err := RunProcess(Binary(), append([]string{"--data-dir", t.TempDir(), "--name", "x",
				"--listen-client-urls", "http://127.0.0.1:0", "--advertise-client-urls", "http://127.0.0.1:1",
				"--listen-peer-urls", "http://127.0.0.1:0", "--initial-advertise-peer-urls", "http://127.0.0.1:1"}, tt.args...), nil, 30*time.Second)
			if err != nil || code != 1 || !LogContains(out, tt.want) {
				t.Fatalf("exit %d, %v; want 1 and %q in:\n%s", code, err, tt.want, out)
			}
		})
	}
}

// TestDiscoverySRV bootstraps three members from DNS SRV records (served
// by a DNS server inside the test): the records name the members by host
// names that resolve to the addresses they advertise, as etcd resolves
// them; the cluster's peer URLs are the records'; a service name selects
// other records; a member the records do not list is refused.
func TestDiscoverySRV(t *testing.T) {
	dns := dnstest.Start(t, dnstest.Records{A: map[string][4]byte{
		"m0.basalt.test.": {127, 0, 0, 1}, "m1.basalt.test.": {127, 0, 0, 1}, "m2.basalt.test.": {127, 0, 0, 1},
	}})
	env := []string{netutil.TestDNSEnv + "=" + dns.Addr()}
	// Peers over TLS verify the names the records give.
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "ca")
	certs := &Certs{CA: ca, Member: ca.Issue(t, "member", tlstest.Options{CommonName: "member",
		Hosts: []string{"127.0.0.1", "m0.basalt.test", "m1.basalt.test", "m2.basalt.test", "stray.basalt.test"}})}
	for _, tt := range []struct {
		name, serviceName string
		tls               bool
	}{{"plain", "", false}, {"service name", "east", false}, {"TLS", "", true}} {
		t.Run(tt.name, func(t *testing.T) {
			service, scheme := "_etcd-server", "http"
			opts := &Options{Env: env}
			if tt.tls {
				service, scheme = "_etcd-server-ssl", "https"
				opts.PeerTLS, opts.Certs = TLS, certs
			}
			records := service + "._tcp.basalt.test."
			args := []string{"--discovery-srv", "basalt.test"}
			if tt.serviceName != "" {
				records = service + "-" + tt.serviceName + "._tcp.basalt.test."
				args = append(args, "--discovery-srv-name", tt.serviceName)
			}
			// The records are published as the start picks the ports.
			opts.Bootstrap = func(ms []*Member, _ *Member, _ string) []string {
				var srvs []dnstest.SRV
				for _, m := range ms {
					srvs = append(srvs, dnstest.SRV{Target: m.Name + ".basalt.test.", Port: port(t, m.PeerURL())})
				}
				dns.ClearSRV() // the records of the subtests before
				dns.SetSRV(records, srvs...)
				return args
			}
			c := NewCluster(t, 3, opts)
			members := memberList(t, c.Client(t), 3)
			for _, m := range c.Members {
				want := fmt.Sprintf("%s://%s.basalt.test:%d", scheme, m.Name, port(t, m.PeerURL()))
				if !slices.Equal(members[m.Name], []string{want}) {
					t.Errorf("member %s: peer URLs %v, want [%s]", m.Name, members[m.Name], want)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := c.Client(t).Put(ctx, "k", "v"); err != nil {
				t.Fatalf("put: %v", err)
			}

			// A member the records do not list.
			stray := c.PrepareMember(t, "stray")
			if err := c.StartNew(stray); err != nil {
				t.Fatal(err)
			}
			code, err := stray.Process().Wait(30 * time.Second)
			want := `error setting up initial cluster: cannot find local etcd member "stray" in SRV records`
			if err != nil || code != 1 || !LogContains(stray.Process().Output(), want) {
				t.Fatalf("stray member: exit %d, %v; want 1 and %q in:\n%s", code, err, want, stray.Process().Output())
			}
			c.Drop(stray)
		})
	}
}

func port(t *testing.T, rawURL string) uint16 {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.ParseUint(u.Port(), 10, 16)
	if err != nil {
		t.Fatal(err)
	}
	return uint16(p)
}
