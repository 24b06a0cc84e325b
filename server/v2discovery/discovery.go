// Package v2discovery is etcd 3.4's discovery protocol over the v2 keys
// API (--discovery <URL>): the members of a new cluster find each other
// through a token directory on a running etcd (or on a public service
// such as discovery.etcd.io) instead of --initial-cluster.
//
// The operator creates the token directory and writes its size:
//
//	PUT <url>/_config/size = "3"
//
// Each member registers itself with a create (prevExist=false)
//
//	PUT <url>/<member ID in hex> = "name=peerURL,name=peerURL"
//
// and waits on the directory (wait=true&recursive=true&waitIndex=N)
// until size members have registered. The first size registrations by
// createdIndex form the cluster; a member that comes later finds the
// cluster full. A v2 proxy only reads the registrations (GetCluster).
//
// The v2 calls go through pkg/v2client, as etcd's go through its v2
// client; the behaviour (retries, backoff, errors, log lines) is etcd
// 3.4's.
package v2discovery

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/basaltkv/basalt/pkg/flags"
	"github.com/basaltkv/basalt/pkg/v2client"
	"go.uber.org/zap"
)

// etcd 3.4's errors, with its messages.
var (
	ErrInvalidURL           = errors.New("discovery: invalid URL")
	ErrBadSizeKey           = errors.New("discovery: size key is bad")
	ErrSizeNotFound         = errors.New("discovery: size key not found")
	ErrDuplicateID          = errors.New("discovery: found duplicate id")
	ErrDuplicateName        = errors.New("discovery: found duplicate name")
	ErrFullCluster          = errors.New("discovery: cluster is full")
	ErrBadDiscoveryEndpoint = errors.New("discovery: bad discovery endpoint")
)

const (
	// requestTimeout bounds each read and the registration (etcd's v2
	// client's DefaultRequestTimeout); waits are unbounded.
	requestTimeout = 5 * time.Second
	// dialTimeout is the discovery transport's dial timeout.
	dialTimeout = 30 * time.Second
	// maxBackoffExponent caps the backoff at 2^8 s.
	maxBackoffExponent = 8
)

// JoinCluster registers member id with config ("name=peerURL,...") under
// the discovery URL durl and waits until the cluster is complete; it
// returns the initial cluster ("name=peerURL,..." of every member).
// dproxy, when set, is an HTTP proxy to reach the discovery service
// through.
func JoinCluster(ctx context.Context, lg *zap.Logger, durl, dproxy string, id uint64, config string) (string, error) {
	d, err := newDiscovery(lg, durl, dproxy, id)
	if err != nil {
		return "", err
	}
	return d.joinCluster(ctx, config)
}

// GetCluster waits until the cluster registered under durl is complete
// and returns it, without registering (a proxy's view).
func GetCluster(ctx context.Context, lg *zap.Logger, durl, dproxy string) (string, error) {
	d, err := newDiscovery(lg, durl, dproxy, 0)
	if err != nil {
		return "", err
	}
	return d.getCluster(ctx)
}

type discovery struct {
	lg *zap.Logger
	// base is the discovery URL without its path, the client's endpoint;
	// token is its path, the token directory's key as the client
	// addresses it.
	base    *url.URL
	token   string
	id      uint64
	c       *v2client.Client
	retries uint
	// sleep waits out a backoff; tests replace it.
	sleep func(ctx context.Context, d time.Duration) error
}

func newDiscovery(lg *zap.Logger, durl, dproxy string, id uint64) (*discovery, error) {
	if lg == nil {
		lg = zap.NewNop()
	}
	u, err := url.Parse(durl)
	if err != nil {
		return nil, fmt.Errorf("parse discovery URL %q: %w", durl, err)
	}
	token := u.Path
	u.Path, u.RawPath = "", ""
	proxy, err := proxyFunc(lg, dproxy)
	if err != nil {
		return nil, err
	}
	// No prefix: the keys are the discovery URL's paths.
	c, err := v2client.New(v2client.Config{Endpoints: []string{u.String()}, KeysPrefix: "/", DialTimeout: dialTimeout, Proxy: proxy})
	if err != nil {
		return nil, err
	}
	return &discovery{lg: lg, base: u, token: token, id: id, c: c, sleep: sleep}, nil
}

// proxyFunc is --discovery-proxy as etcd reads it: a URL, or a host:port
// taken as http. Without one there is no proxy (etcd's discovery does not
// look at the environment's).
func proxyFunc(lg *zap.Logger, proxy string) (func(*http.Request) (*url.URL, error), error) {
	if proxy == "" {
		return noProxy, nil
	}
	u, err := url.Parse(proxy)
	if err != nil || !strings.HasPrefix(u.Scheme, "http") {
		var err2 error
		if u, err2 = url.Parse("http://" + proxy); err2 == nil {
			err = nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("invalid proxy address %q: %v", proxy, err)
	}
	lg.Info("running proxy with discovery", zap.String("proxy-url", u.String()))
	return http.ProxyURL(u), nil
}

func noProxy(*http.Request) (*url.URL, error) { return nil, nil }

// withNode turns an answer without a node into ErrInvalidJSON: it is not
// the keys API's, and etcd's discovery would fail on it with a nil
// pointer.
func withNode(resp *v2client.Response, err error) (*v2client.Response, error) {
	if err == nil && resp.Node == nil {
		return nil, v2client.ErrInvalidJSON
	}
	return resp, err
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

func (d *discovery) joinCluster(ctx context.Context, config string) (string, error) {
	if _, _, _, err := d.checkCluster(ctx); err != nil {
		return "", err
	}
	if err := d.createSelf(ctx, config); err != nil {
		return "", err
	}
	nodes, size, index, err := d.checkCluster(ctx)
	if err != nil {
		return "", err
	}
	all, err := d.waitNodes(ctx, nodes, size, index)
	if err != nil {
		return "", err
	}
	return nodesToCluster(all, size)
}

func (d *discovery) getCluster(ctx context.Context) (string, error) {
	nodes, size, index, err := d.checkCluster(ctx)
	if err != nil {
		if errors.Is(err, ErrFullCluster) {
			return nodesToCluster(nodes, size)
		}
		return "", err
	}
	all, err := d.waitNodes(ctx, nodes, size, index)
	if err != nil {
		return "", err
	}
	return nodesToCluster(all, size)
}

func (d *discovery) selfKey() string { return path.Join("/", d.token, strconv.FormatUint(d.id, 16)) }

// createSelf registers this member; a registration already there means
// the member registered before and lost its data dir.
func (d *discovery) createSelf(ctx context.Context, config string) error {
	rctx, cancel := context.WithTimeout(ctx, requestTimeout)
	resp, err := withNode(d.c.Create(rctx, d.selfKey(), config))
	cancel()
	if err != nil {
		var kerr *v2client.Error
		if errors.As(err, &kerr) && kerr.Code == v2client.ErrorCodeNodeExist {
			return ErrDuplicateID
		}
		return err
	}
	// Wait until the registration is visible as an event, as etcd does.
	_, err = d.c.Watch(d.selfKey(), v2client.WatchOptions{AfterIndex: resp.Node.CreatedIndex - 1}).Next(ctx)
	return err
}

// checkCluster reads the size and the registrations, sorted by creation.
// With this member not among the first size, the cluster is full: it
// returns those and ErrFullCluster. An unreachable service is retried.
func (d *discovery) checkCluster(ctx context.Context) ([]*v2client.Node, uint64, uint64, error) {
	configKey := path.Join("/", d.token, "_config")
	sizeKey := path.Join(configKey, "size")
	rctx, cancel := context.WithTimeout(ctx, requestTimeout)
	resp, err := withNode(d.c.Get(rctx, sizeKey, v2client.GetOptions{}))
	cancel()
	if err != nil {
		// etcd 3.4 means to answer ErrSizeNotFound to a missing size key,
		// but its type check never matches: the v2 error itself comes
		// back, and so it does here.
		if errors.Is(err, v2client.ErrInvalidJSON) {
			return nil, 0, 0, ErrBadDiscoveryEndpoint
		}
		var cerr *v2client.ClusterError
		if errors.As(err, &cerr) {
			d.lg.Warn("failed to get from discovery server", zap.String("discovery-url", d.base.String()),
				zap.String("path", sizeKey), zap.Error(err), zap.String("err-detail", cerr.Detail()))
			return d.checkClusterRetry(ctx)
		}
		return nil, 0, 0, err
	}
	size, err := strconv.ParseUint(resp.Node.Value, 10, 0)
	if err != nil {
		return nil, 0, 0, ErrBadSizeKey
	}

	rctx, cancel = context.WithTimeout(ctx, requestTimeout)
	resp, err = withNode(d.c.Get(rctx, d.token, v2client.GetOptions{}))
	cancel()
	if err != nil {
		var cerr *v2client.ClusterError
		if errors.As(err, &cerr) {
			d.lg.Warn("failed to get from discovery server", zap.String("discovery-url", d.base.String()),
				zap.String("path", d.token), zap.Error(err), zap.String("err-detail", cerr.Detail()))
			return d.checkClusterRetry(ctx)
		}
		return nil, 0, 0, err
	}
	var nodes []*v2client.Node
	for _, n := range resp.Node.Nodes {
		if path.Base(n.Key) != path.Base(configKey) {
			nodes = append(nodes, n)
		}
	}
	slices.SortStableFunc(nodes, func(a, b *v2client.Node) int {
		switch {
		case a.CreatedIndex < b.CreatedIndex:
			return -1
		case a.CreatedIndex > b.CreatedIndex:
			return 1
		}
		return 0
	})
	self := path.Base(d.selfKey())
	for i := range nodes {
		if path.Base(nodes[i].Key) == self {
			break
		}
		if uint64(i) >= size-1 {
			return nodes[:size], size, resp.Index, ErrFullCluster
		}
	}
	return nodes, size, resp.Index, nil
}

// backoff logs and waits before the next attempt: 2^n seconds, n
// counting every retry of this discovery, capped at 256 s.
func (d *discovery) backoff(ctx context.Context, step string) error {
	d.retries++
	n := min(d.retries, maxBackoffExponent)
	wait := time.Duration(1<<n) * time.Second
	d.lg.Info("retry connecting to discovery service", zap.String("url", d.base.String()),
		zap.String("reason", step), zap.Duration("backoff", wait))
	return d.sleep(ctx, wait)
}

func (d *discovery) checkClusterRetry(ctx context.Context) ([]*v2client.Node, uint64, uint64, error) {
	if err := d.backoff(ctx, "cluster status check"); err != nil {
		return nil, 0, 0, err
	}
	return d.checkCluster(ctx)
}

func (d *discovery) waitNodesRetry(ctx context.Context) ([]*v2client.Node, error) {
	if err := d.backoff(ctx, "waiting for other nodes"); err != nil {
		return nil, err
	}
	nodes, size, index, err := d.checkCluster(ctx)
	if err != nil {
		return nil, err
	}
	return d.waitNodes(ctx, nodes, size, index)
}

// waitNodes watches the token directory from index on until size members
// have registered.
func (d *discovery) waitNodes(ctx context.Context, nodes []*v2client.Node, size, index uint64) ([]*v2client.Node, error) {
	if uint64(len(nodes)) > size {
		nodes = nodes[:size]
	}
	all := slices.Clone(nodes)
	self := path.Base(d.selfKey())
	for _, n := range all {
		if path.Base(n.Key) == self {
			d.lg.Info("found self from discovery server", zap.String("discovery-url", d.base.String()), zap.String("self", self))
		} else {
			d.lg.Info("found peer from discovery server", zap.String("discovery-url", d.base.String()), zap.String("peer", path.Base(n.Key)))
		}
	}
	w := d.c.Watch(d.token, v2client.WatchOptions{AfterIndex: index, Recursive: true})
	for uint64(len(all)) < size {
		d.lg.Info("found peers from discovery server; waiting for more", zap.String("discovery-url", d.base.String()),
			zap.Int("found-peers", len(all)), zap.Int("needed-peers", int(size-uint64(len(all)))))
		resp, err := w.Next(ctx)
		if err != nil {
			var cerr *v2client.ClusterError
			if errors.As(err, &cerr) {
				d.lg.Warn("error while waiting for peers", zap.String("discovery-url", d.base.String()),
					zap.Error(err), zap.String("err-detail", cerr.Detail()))
				return d.waitNodesRetry(ctx)
			}
			return nil, err
		}
		d.lg.Info("found peer from discovery server", zap.String("discovery-url", d.base.String()), zap.String("peer", path.Base(resp.Node.Key)))
		all = append(all, resp.Node)
	}
	d.lg.Info("found all needed peers from discovery server", zap.String("discovery-url", d.base.String()), zap.Int("found-peers", len(all)))
	return all, nil
}

// nodesToCluster joins the registrations into an initial cluster; two
// registrations under one name are an error.
func nodesToCluster(ns []*v2client.Node, size uint64) (string, error) {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = n.Value
	}
	us := strings.Join(s, ",")
	m, err := flags.ParseURLsMap(us)
	if err != nil {
		return us, ErrInvalidURL
	}
	if uint64(len(m)) != size {
		return us, ErrDuplicateName
	}
	return us, nil
}
