package discovery

import (
	"context"
	"errors"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

func TestRegistry(t *testing.T) {
	prefix := MembersPrefix("tok")
	type reg struct {
		key, value string
		rev        int64
	}
	tests := []struct {
		name        string
		regs        []reg
		size        int
		self        string
		wantFull    bool
		wantCluster string
		wantErr     error
	}{
		{name: "by create revision, not arrival", size: 3, self: prefix + "/b",
			regs:        []reg{{prefix + "/c", "c=http://c:2380", 9}, {prefix + "/a", "a=http://a:2380", 4}, {prefix + "/b", "b=http://b:2380", 7}},
			wantCluster: "a=http://a:2380,b=http://b:2380,c=http://c:2380"},
		{name: "more than size: the first size count", size: 2, self: prefix + "/b",
			regs:        []reg{{prefix + "/c", "c=http://c:2380", 9}, {prefix + "/a", "a=http://a:2380", 4}, {prefix + "/b", "b=http://b:2380", 7}},
			wantCluster: "a=http://a:2380,b=http://b:2380"},
		{name: "self past size", size: 2, self: prefix + "/c", wantFull: true,
			regs:        []reg{{prefix + "/c", "c=http://c:2380", 9}, {prefix + "/a", "a=http://a:2380", 4}, {prefix + "/b", "b=http://b:2380", 7}},
			wantCluster: "a=http://a:2380,b=http://b:2380"},
		{name: "not registered, room left", size: 3, self: prefix + "/z",
			regs:        []reg{{prefix + "/a", "a=http://a:2380", 4}, {prefix + "/b", "b=http://b:2380", 7}},
			wantCluster: "a=http://a:2380,b=http://b:2380"},
		{name: "not registered, full", size: 2, self: prefix + "/z", wantFull: true,
			regs:        []reg{{prefix + "/a", "a=http://a:2380", 4}, {prefix + "/b", "b=http://b:2380", 7}},
			wantCluster: "a=http://a:2380,b=http://b:2380"},
		{name: "several URLs", size: 1, self: prefix + "/a",
			regs:        []reg{{prefix + "/a", "a=http://a:2380,a=http://a2:2380", 4}},
			wantCluster: "a=http://a:2380,a=http://a2:2380"},
		{name: "junk skipped", size: 2, self: prefix + "/a",
			regs: []reg{{prefix + "/a", "a=http://a:2380", 4}, {prefix + "/x", "no equals sign", 5}, {"/elsewhere/y", "y=http://y:2380", 6},
				{prefix + "/a", "a=http://other:2380", 8}},
			wantCluster: "a=http://a:2380"},
		{name: "invalid URL", size: 1, self: prefix + "/a",
			regs: []reg{{prefix + "/a", "a=ftp://a:2380", 4}}, wantCluster: "a=ftp://a:2380", wantErr: ErrInvalidURL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &registry{prefix: prefix}
			for _, g := range tt.regs {
				_ = r.add(g.key, g.value, g.rev)
			}
			if got := r.full(tt.self, tt.size); got != tt.wantFull {
				t.Errorf("full = %v, want %v", got, tt.wantFull)
			}
			cs, err := r.initialCluster(tt.size)
			if cs != tt.wantCluster || !errors.Is(err, tt.wantErr) {
				t.Errorf("initial cluster %q, %v; want %q, %v", cs, err, tt.wantCluster, tt.wantErr)
			}
		})
	}
}

func TestRegistryAddErrors(t *testing.T) {
	r := &registry{prefix: MembersPrefix("tok")}
	for _, tt := range []struct{ key, value, want string }{
		{"/_etcd/registry/other/members/1", "a=http://a:1", "invalid peer registry key"},
		{"/_etcd/registry/tok/members/1", "http://a:1", "invalid peer info returned from discovery service"},
	} {
		if err := r.add(tt.key, tt.value, 1); err == nil || err.Error() != tt.want {
			t.Errorf("add(%q, %q) = %v, want %q", tt.key, tt.value, err, tt.want)
		}
	}
	if err := r.add("/_etcd/registry/tok/members/1", "a=http://a:1", 1); err != nil {
		t.Fatal(err)
	}
	if err := r.add("/_etcd/registry/tok/members/1", "a=http://a:1", 2); err == nil || err.Error() != "found duplicate peer from discovery service" {
		t.Errorf("duplicate: %v", err)
	}
}

func TestKeys(t *testing.T) {
	if got := SizeKey("tok"); got != "/_etcd/registry/tok/_config/size" {
		t.Errorf("size key %q", got)
	}
	if got := memberKey("tok", 0x33c99366b2021e56); got != "/_etcd/registry/tok/members/33c99366b2021e56" {
		t.Errorf("member key %q", got)
	}
}

// TestRetryBackoff checks etcd's backoff: doubling from 2s, 256s after the
// 8th attempt, and a context that ends stops the wait.
func TestRetryBackoff(t *testing.T) {
	var waits []time.Duration
	r := retry{sleep: func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }}
	for range 10 {
		if err := r.wait(context.Background(), zap.NewNop(), "test"); err != nil {
			t.Fatal(err)
		}
	}
	want := []time.Duration{2, 4, 8, 16, 32, 64, 128, 256, 256, 256}
	for i := range want {
		if waits[i] != want[i]*time.Second {
			t.Fatalf("waits %v", waits)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("sleep with a cancelled context: %v", err)
	}
}

// TestUserWithPassword checks that --discovery-user "name:password" is
// split when no --discovery-password is given.
func TestUserWithPassword(t *testing.T) {
	for _, tt := range []struct{ user, password, wantUser, wantPassword string }{
		{"root:secret", "", "root", "secret"},
		{"root", "pw", "root", "pw"},
		{"root:x", "pw", "root:x", "pw"},
	} {
		cfg := &Config{ConfigSpec: clientv3.ConfigSpec{Auth: &clientv3.AuthConfig{Username: tt.user, Password: tt.password}}}
		spec := clientSpec(cfg)
		if spec.Auth.Username != tt.wantUser || spec.Auth.Password != tt.wantPassword {
			t.Errorf("user %q password %q: client has %q %q", tt.user, tt.password, spec.Auth.Username, spec.Auth.Password)
		}
		if cfg.Auth.Username != tt.user {
			t.Errorf("the configuration was changed: %q", cfg.Auth.Username)
		}
	}
}
