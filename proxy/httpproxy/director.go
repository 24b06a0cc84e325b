package httpproxy

import (
	"math/rand/v2"
	"net/url"
	"sync"
	"time"

	"go.uber.org/zap"
)

// slowRefreshInterval is the refresh interval at and above which a proxy
// without endpoints refreshes every second instead, as etcd's does, so
// that a proxy started before its cluster finds it soon.
const slowRefreshInterval = 30 * time.Second

// URLsFunc returns the cluster's client URLs; it is called at every
// refresh.
type URLsFunc func() []string

// director holds the endpoints requests go to and refreshes them.
type director struct {
	lg          *zap.Logger
	urls        URLsFunc
	failureWait time.Duration

	mu struct {
		sync.Mutex
		endpoints []*endpoint
	}
	loggedFound sync.Once
	stopc       chan struct{}
	donec       chan struct{}
}

func newDirector(lg *zap.Logger, urls URLsFunc, failureWait, refreshInterval time.Duration) *director {
	d := &director{lg: lg, urls: urls, failureWait: failureWait, stopc: make(chan struct{}), donec: make(chan struct{})}
	d.refresh()
	go d.run(refreshInterval)
	return d
}

func (d *director) run(refreshInterval time.Duration) {
	defer close(d.donec)
	for {
		es := d.available()
		wait := refreshInterval
		if wait >= slowRefreshInterval && len(es) == 0 {
			wait = time.Second
		}
		if len(es) > 0 {
			d.loggedFound.Do(func() {
				urls := make([]string, len(es))
				for i, e := range es {
					urls[i] = e.url.String()
				}
				d.lg.Info("endpoints found", zap.Strings("endpoints", urls))
			})
		}
		t := time.NewTimer(wait)
		select {
		case <-d.stopc:
			t.Stop()
			return
		case <-t.C:
		}
		d.refresh()
	}
}

func (d *director) stop() {
	close(d.stopc)
	<-d.donec
}

// refresh replaces the endpoints with the cluster's current client URLs,
// in random order so that proxies spread their load.
func (d *director) refresh() {
	urls := d.urls()
	var es []*endpoint
	for _, s := range urls {
		u, err := url.Parse(s)
		if err != nil {
			d.lg.Info("upstream URL invalid", zap.Error(err))
			continue
		}
		es = append(es, &endpoint{lg: d.lg, url: *u, failureWait: d.failureWait})
	}
	rand.Shuffle(len(es), func(i, j int) { es[i], es[j] = es[j], es[i] })
	d.mu.Lock()
	d.mu.endpoints = es
	d.mu.Unlock()
}

// available returns the endpoints not held out by a recent failure.
func (d *director) available() []*endpoint {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]*endpoint, 0, len(d.mu.endpoints))
	for _, e := range d.mu.endpoints {
		if e.isAvailable() {
			out = append(out, e)
		}
	}
	return out
}

// endpoint is one client URL of the cluster.
type endpoint struct {
	lg          *zap.Logger
	url         url.URL
	failureWait time.Duration

	mu struct {
		sync.Mutex
		unavailable bool
	}
}

func (e *endpoint) isAvailable() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return !e.mu.unavailable
}

// failed holds the endpoint out for the failure wait.
func (e *endpoint) failed() {
	e.mu.Lock()
	if e.mu.unavailable {
		e.mu.Unlock()
		return
	}
	e.mu.unavailable = true
	e.mu.Unlock()
	e.lg.Info("marked endpoint unavailable", zap.String("endpoint", e.url.String()))
	time.AfterFunc(e.failureWait, func() {
		e.mu.Lock()
		e.mu.unavailable = false
		e.mu.Unlock()
		e.lg.Info("marked endpoint available, to retest connectivity", zap.String("endpoint", e.url.String()))
	})
}
