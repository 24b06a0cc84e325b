// Package discovery is etcd's v3 discovery: the members of a new cluster
// find each other through a key-value cluster that already runs (etcd or
// basalt), instead of being listed in --initial-cluster.
//
// The operator picks a token and writes the cluster's size under it:
//
//	/_etcd/registry/<token>/_config/size = "3"
//
// Each member registers itself under
//
//	/_etcd/registry/<token>/members/<member ID in hex> = "name=peerURL,name=peerURL"
//
// and waits, watching the members prefix, until size members have
// registered. The first size registrations by create revision form the
// cluster; a member that comes later finds the cluster full and does not
// start. Registration is a plain put, so a member restarted before it
// created its WAL registers again in its old place.
package discovery

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/basaltkv/basalt/pkg/flags"
	"github.com/basaltkv/basalt/pkg/netutil"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
)

// Prefix is where every token's keys live.
const Prefix = "/_etcd/registry"

// etcd's errors, with its messages.
var (
	ErrInvalidURL   = errors.New("discovery: invalid peer URL")
	ErrBadSizeKey   = errors.New("discovery: size key is bad")
	ErrSizeNotFound = errors.New("discovery: size key not found")
	ErrFullCluster  = errors.New("discovery: cluster is full")
)

// Config is etcd's discovery configuration: the client settings of the
// --discovery-* flags and the token. Its JSON form is the config file's
// discovery-config.
type Config struct {
	clientv3.ConfigSpec `json:"client"`
	Token               string `json:"token"`
}

// Error is a failure of discovery (etcd's DiscoveryError).
type Error struct {
	Op  string
	Err error
}

func (e *Error) Error() string {
	return fmt.Sprintf("failed to %s discovery cluster (%v)", e.Op, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// SizeKey is the key holding the size of the cluster token names.
func SizeKey(token string) string { return path.Join(Prefix, token, "_config/size") }

// MembersPrefix is the prefix under which token's members register.
func MembersPrefix(token string) string { return path.Join(Prefix, token, "members") }

// memberKey is member id's registration key.
func memberKey(token string, id uint64) string {
	return path.Join(MembersPrefix(token), strconv.FormatUint(id, 16))
}

// retry is the backoff between attempts to reach the discovery service:
// etcd's, doubling from 2s and staying at 256s after the 8th.
type retry struct {
	n     uint
	sleep func(context.Context, time.Duration) error
}

const maxExponentialRetries = 8

func (r *retry) wait(ctx context.Context, lg *zap.Logger, step string) error {
	r.n++
	d := time.Duration(1<<min(r.n, maxExponentialRetries)) * time.Second
	lg.Warn("retry connecting to discovery service", zap.String("reason", step), zap.Duration("backoff", d))
	return r.sleep(ctx, d)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// session is one run of discovery for one member.
type session struct {
	lg    *zap.Logger
	cfg   *Config
	c     *clientv3.Client
	id    uint64
	retry retry
}

// JoinCluster registers member id, whose own part of the initial cluster
// is self ("name=url,..."), and waits until the cluster is complete; it
// returns the initial cluster ("name=url,...", the first size members to
// register). It retries an unreachable discovery service forever, as etcd
// does, until ctx ends.
func JoinCluster(ctx context.Context, lg *zap.Logger, cfg *Config, id uint64, self string) (string, error) {
	s, err := newSession(lg, cfg, id)
	if err != nil {
		return "", err
	}
	defer s.c.Close()
	cs, err := s.join(ctx, self)
	if err != nil {
		s.lg.Error("discovery failed to join cluster", zap.String("cluster", cs), zap.Error(err))
		return "", err
	}
	s.lg.Info("discovery joined cluster successfully", zap.String("cluster", cs))
	return cs, nil
}

func newSession(lg *zap.Logger, cfg *Config, id uint64) (*session, error) {
	if lg == nil {
		lg = zap.NewNop()
	}
	lg = lg.With(zap.String("discovery-token", cfg.Token), zap.String("discovery-endpoints", strings.Join(cfg.Endpoints, ",")))
	spec := clientSpec(cfg)
	ccfg, err := clientv3.NewClientConfig(&spec, lg)
	if err != nil {
		return nil, err
	}
	ccfg.Logger = lg.Named("client")
	if netutil.TestDNS() != "" {
		ccfg.DialOptions = append(ccfg.DialOptions, grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return netutil.Dialer(0, "").DialContext(ctx, "tcp", addr)
		}))
	}
	c, err := clientv3.New(*ccfg)
	if err != nil {
		return nil, err
	}
	return &session{lg: lg, cfg: cfg, c: c, id: id, retry: retry{sleep: sleep}}, nil
}

// clientSpec is cfg's client configuration, with --discovery-user's
// "username:password" split when no --discovery-password is given (etcd
// documents the form but passes it on whole).
func clientSpec(cfg *Config) clientv3.ConfigSpec {
	spec := cfg.ConfigSpec
	if spec.Auth != nil && spec.Auth.Password == "" {
		auth := *spec.Auth
		auth.Username, auth.Password, _ = strings.Cut(auth.Username, ":")
		spec.Auth = &auth
	}
	return spec
}

func (s *session) join(ctx context.Context, self string) (string, error) {
	if _, _, _, err := s.check(ctx); err != nil {
		return "", err
	}
	if err := s.register(ctx, self); err != nil {
		return "", err
	}
	reg, size, rev, err := s.check(ctx)
	if err != nil {
		return "", err
	}
	if err := s.wait(ctx, reg, size, rev); err != nil {
		return "", err
	}
	return reg.initialCluster(size)
}

func (s *session) requestCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.cfg.RequestTimeout)
}

// size reads the cluster's size.
func (s *session) size(ctx context.Context) (int, error) {
	key := SizeKey(s.cfg.Token)
	rctx, cancel := s.requestCtx(ctx)
	defer cancel()
	resp, err := s.c.Get(rctx, key)
	if err != nil {
		s.lg.Warn("failed to get cluster size from discovery service", zap.String("clusterSizeKey", key), zap.Error(err))
		return 0, err
	}
	if len(resp.Kvs) == 0 {
		return 0, ErrSizeNotFound
	}
	n, err := strconv.ParseInt(string(resp.Kvs[0].Value), 10, 0)
	if err != nil || n <= 0 {
		return 0, ErrBadSizeKey
	}
	return int(n), nil
}

// members reads the registrations and the revision they were read at.
func (s *session) members(ctx context.Context) (*registry, int64, error) {
	prefix := MembersPrefix(s.cfg.Token)
	rctx, cancel := s.requestCtx(ctx)
	defer cancel()
	resp, err := s.c.Get(rctx, prefix, clientv3.WithPrefix())
	if err != nil {
		s.lg.Warn("failed to get cluster members from discovery service", zap.String("membersKeyPrefix", prefix), zap.Error(err))
		return nil, 0, err
	}
	reg := &registry{prefix: prefix}
	for _, kv := range resp.Kvs {
		s.add(reg, string(kv.Key), string(kv.Value), kv.CreateRevision)
	}
	return reg, resp.Header.Revision, nil
}

func (s *session) add(reg *registry, key, value string, rev int64) {
	key, value = strings.TrimSpace(key), strings.TrimSpace(value)
	if err := reg.add(key, value, rev); err != nil {
		s.lg.Warn(err.Error(), zap.String("memberKey", key), zap.String("memberInfo", value))
		return
	}
	s.lg.Info("found peer from discovery service", zap.String("memberKey", key), zap.String("memberInfo", value))
}

// check reads the size and the registrations, retrying an unreachable
// service; it is ErrFullCluster (with what it read) when size members
// registered before this one, or before a member not registered yet.
func (s *session) check(ctx context.Context) (*registry, int, int64, error) {
	for {
		size, err := s.size(ctx)
		if errors.Is(err, ErrSizeNotFound) || errors.Is(err, ErrBadSizeKey) {
			return nil, 0, 0, err
		}
		var reg *registry
		var rev int64
		if err == nil {
			reg, rev, err = s.members(ctx)
		}
		if err != nil {
			if werr := s.retry.wait(ctx, s.lg, "cluster status check"); werr != nil {
				return nil, 0, 0, fmt.Errorf("%w (last: %w)", werr, err)
			}
			continue
		}
		s.retry.n = 0
		if reg.full(memberKey(s.cfg.Token, s.id), size) {
			return reg, size, rev, ErrFullCluster
		}
		return reg, size, rev, nil
	}
}

// register puts this member's registration, retrying failures.
func (s *session) register(ctx context.Context, self string) error {
	key := memberKey(s.cfg.Token, s.id)
	for {
		rctx, cancel := s.requestCtx(ctx)
		_, err := s.c.Put(rctx, key, self)
		cancel()
		if err == nil {
			s.retry.n = 0
			s.lg.Info("register member itself successfully", zap.String("memberKey", key), zap.String("memberInfo", self))
			return nil
		}
		s.lg.Warn("failed to register members itself to the discovery service", zap.String("memberKey", key), zap.Error(err))
		if werr := s.retry.wait(ctx, s.lg, "register member itself"); werr != nil {
			return fmt.Errorf("%w (last: %w)", werr, err)
		}
	}
}

// wait watches the registrations from after rev until size members have
// registered. A watch that ends (a compacted revision, a lost service)
// is resumed after reading the registrations again.
func (s *session) wait(ctx context.Context, reg *registry, size int, rev int64) error {
	prefix := MembersPrefix(s.cfg.Token)
	for len(reg.members) < size {
		s.lg.Info("waiting for peers from discovery service", zap.Int("clusterSize", size), zap.Int("found-peers", len(reg.members)))
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		w := s.c.Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1))
		for wresp := range w {
			if wresp.Err() != nil {
				s.lg.Warn("watching the discovery service failed", zap.Error(wresp.Err()))
				break
			}
			for _, ev := range wresp.Events {
				if ev.Type == clientv3.EventTypePut {
					s.add(reg, string(ev.Kv.Key), string(ev.Kv.Value), ev.Kv.CreateRevision)
				}
			}
			if len(reg.members) >= size {
				break
			}
		}
		cancel()
		if len(reg.members) >= size {
			break
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		var err error
		if reg, size, rev, err = s.check(ctx); err != nil {
			return err // ErrFullCluster: others took this member's place
		}
	}
	s.lg.Info("found all needed peers from discovery service", zap.Int("clusterSize", size), zap.Int("found-peers", len(reg.members)))
	return nil
}

// registration is one member's registration.
type registration struct {
	key   string
	value string
	rev   int64 // create revision
}

// registry is the registrations found, by create revision.
type registry struct {
	prefix  string
	members []registration
}

func (r *registry) add(key, value string, rev int64) error {
	if !strings.HasPrefix(key, r.prefix) {
		return errors.New("invalid peer registry key")
	}
	if !strings.ContainsRune(value, '=') {
		return errors.New("invalid peer info returned from discovery service")
	}
	if slices.ContainsFunc(r.members, func(m registration) bool { return m.key == key }) {
		return errors.New("found duplicate peer from discovery service")
	}
	r.members = append(r.members, registration{key: key, value: value, rev: rev})
	slices.SortStableFunc(r.members, func(a, b registration) int { return cmp.Compare(a.rev, b.rev) })
	return nil
}

// full reports whether size members registered before the one whose key
// is self, or before a member that has not registered.
func (r *registry) full(self string, size int) bool {
	i := slices.IndexFunc(r.members, func(m registration) bool { return m.key == self })
	if i < 0 {
		i = len(r.members)
	}
	return i >= size
}

// initialCluster is the first size registrations as an initial cluster.
func (r *registry) initialCluster(size int) (string, error) {
	var parts []string
	for _, m := range r.members[:min(size, len(r.members))] {
		parts = append(parts, m.value)
	}
	cs := strings.Join(parts, ",")
	if _, err := flags.ParseURLsMap(cs); err != nil {
		return cs, ErrInvalidURL
	}
	return cs, nil
}
