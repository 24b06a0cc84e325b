package e2e

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/basaltkv/basalt/pkg/testutil"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// ReadyLine is what a member logs once it serves clients.
const ReadyLine = "ready to serve client requests"

// Options shape a cluster. The zero value is a plain-http cluster with
// etcd's defaults.
type Options struct {
	// Binary is the server the members run (default: basalt's); each
	// member's Bin overrides it.
	Binary string
	// ClientTLS and PeerTLS secure client and peer traffic.
	ClientTLS TLSMode
	PeerTLS   TLSMode
	// Metrics adds a --listen-metrics-urls URL to each member.
	Metrics bool
	// Args are added to every member's flags; Env to its environment.
	Args []string
	Env  []string
	// ReadyTimeout bounds the wait for every member to be ready (default
	// 60s).
	ReadyTimeout time.Duration
	// StopTimeout bounds a member's clean stop (default 30s).
	StopTimeout time.Duration
	// Certs, if set, are the certificates of TLS and MutualTLS (default:
	// a new CA per cluster).
	Certs *Certs
	// AdvertisePeerURL, if set, is asked for each member's advertised peer
	// URL (--initial-advertise-peer-urls and its --initial-cluster entry)
	// given the URL it listens on, so that something (a fault-injecting
	// proxy) can sit in between. It is asked again with new URLs when the
	// cluster starts again on new ports. Default: the listen URL.
	AdvertisePeerURL func(name, listenPeerURL string) (string, error)
	// Bootstrap, if set, gives the flags that tell a new member how to
	// find its cluster (discovery), in place of --initial-cluster and
	// --initial-cluster-token. It is called for each member once all of a
	// start's members have their URLs; token is unique to the start.
	Bootstrap func(members []*Member, m *Member, token string) []string
	// UnixPeers makes members talk to each other over unix sockets
	// (unix://localhost:<port>, or unixs:// with PeerTLS), etcd's form: the
	// socket file is named by the URL's host, in the member's working
	// directory, which is then the cluster's directory.
	UnixPeers bool
}

// Cluster is a set of basalt processes bootstrapped together.
type Cluster struct {
	Members []*Member
	Certs   *Certs
	opts    Options
	dir     string
	token   string
}

// Member is one basalt process of a cluster, kept across restarts.
type Member struct {
	Name    string
	DataDir string
	// clientURL, peerURL and metricsURL are fixed at creation: a restart
	// keeps them.
	clientURL     string
	peerURL       string
	listenPeerURL string
	metricsURL    string

	cluster *Cluster
	args    []string

	mu   sync.Mutex
	proc *Process
	// history keeps the output of previous runs, for failure reports.
	history []string

	// Env is added to the cluster's environment at this member's next
	// start (a per-member test hook, for example a failing disk).
	Env []string
	// Bin, if set, is the server binary of this member's next start (for
	// example etcd's, on the same data dir): Options.Binary otherwise.
	Bin string
}

var clusterSeq atomic.Int64

// NewCluster starts size members and waits until each serves clients.
// It fails t if they do not; the members are killed when t ends (their
// output is logged if t failed).
func NewCluster(t testing.TB, size int, opts *Options) *Cluster {
	t.Helper()
	if Binary() == "" {
		t.Fatal("e2e: no basalt binary: call e2e.RunWithBinary from TestMain")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = 60 * time.Second
	}
	if o.StopTimeout == 0 {
		o.StopTimeout = 30 * time.Second
	}
	base := t.TempDir()
	c := &Cluster{opts: o, dir: base}
	switch {
	case o.Certs != nil:
		c.Certs = o.Certs
	case o.ClientTLS == TLS || o.ClientTLS == MutualTLS || o.PeerTLS == TLS || o.PeerTLS == MutualTLS:
		c.Certs = NewCerts(t, base)
	default:
		c.Certs = &Certs{}
	}
	t.Cleanup(func() { c.cleanup(t) })
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		if err = c.bootstrap(size, attempt); err == nil {
			return c
		}
		if !c.portTaken() {
			break
		}
		t.Logf("e2e: a port was taken before the member bound it; starting again on new ports (%v)", err)
	}
	c.logOutputs(t)
	t.Fatalf("e2e: start a %d-member cluster: %v", size, err)
	return nil
}

// bootstrap picks ports, starts every member and waits for them.
func (c *Cluster) bootstrap(size, attempt int) error {
	c.killAll()
	ports, err := FreePorts(3 * size)
	if err != nil {
		return err
	}
	token := fmt.Sprintf("e2e-%d-%d-%d", os.Getpid(), clusterSeq.Add(1), attempt)
	c.Members = make([]*Member, size)
	var initial []string
	for i := range size {
		m := &Member{
			Name:          fmt.Sprintf("m%d", i),
			cluster:       c,
			clientURL:     fmt.Sprintf("%s://127.0.0.1:%d", c.opts.ClientTLS.scheme(), ports[3*i]),
			listenPeerURL: c.peerURL(ports[3*i+1]),
			metricsURL:    fmt.Sprintf("http://127.0.0.1:%d", ports[3*i+2]),
		}
		m.peerURL = m.listenPeerURL
		if c.opts.AdvertisePeerURL != nil {
			if m.peerURL, err = c.opts.AdvertisePeerURL(m.Name, m.listenPeerURL); err != nil {
				return fmt.Errorf("advertised peer URL of %s: %w", m.Name, err)
			}
		}
		m.DataDir = filepath.Join(c.dir, fmt.Sprintf("%s-%d.etcd", m.Name, attempt))
		c.Members[i] = m
		initial = append(initial, m.Name+"="+m.peerURL)
	}
	c.token = token
	for _, m := range c.Members {
		m.args = c.memberArgs(m, strings.Join(initial, ","), "new")
		if c.opts.Bootstrap != nil {
			m.args = c.bootstrapArgs(m)
		}
		if err := m.start(); err != nil {
			return err
		}
	}
	// Members of a multi-member cluster become ready together, once they
	// have elected a leader: wait for all after starting all.
	for _, m := range c.Members {
		if err := m.WaitReady(c.opts.ReadyTimeout); err != nil {
			return fmt.Errorf("%s: %w", m.Name, err)
		}
	}
	return nil
}

// peerURL is the peer URL of a member on port.
func (c *Cluster) peerURL(port int) string {
	if c.opts.UnixPeers {
		return fmt.Sprintf("%s://localhost:%d", strings.Replace(c.opts.PeerTLS.scheme(), "http", "unix", 1), port)
	}
	return fmt.Sprintf("%s://127.0.0.1:%d", c.opts.PeerTLS.scheme(), port)
}

// memberArgs are m's flags, with --initial-cluster initial and
// --initial-cluster-state state.
func (c *Cluster) memberArgs(m *Member, initial, state string) []string {
	args := []string{
		"--name", m.Name,
		"--data-dir", m.DataDir,
		"--listen-client-urls", m.clientURL,
		"--advertise-client-urls", m.clientURL,
		"--listen-peer-urls", m.listenPeerURL,
		"--initial-advertise-peer-urls", m.peerURL,
		"--initial-cluster", initial,
		"--initial-cluster-token", c.token,
		"--initial-cluster-state", state,
	}
	if c.opts.Metrics {
		args = append(args, "--listen-metrics-urls", m.metricsURL)
	}
	args = append(args, c.Certs.clientArgs(c.opts.ClientTLS)...)
	args = append(args, c.Certs.peerArgs(c.opts.PeerTLS)...)
	return append(args, c.opts.Args...)
}

// bootstrapArgs are the flags of a member of a new cluster that finds its
// peers by discovery (Options.Bootstrap).
func (c *Cluster) bootstrapArgs(m *Member) []string {
	args := slices.Clone(c.memberArgs(m, "", "new"))
	for _, flag := range []string{"--initial-cluster", "--initial-cluster-token"} {
		i := slices.Index(args, flag)
		args = slices.Delete(args, i, i+2)
	}
	return append(args, c.opts.Bootstrap(c.Members, m, c.token)...)
}

// NewMemberArgs are the flags m would start a new cluster with, for a
// test that starts a member of its own (for example one that discovery
// must turn away).
func (c *Cluster) NewMemberArgs(m *Member) []string {
	if c.opts.Bootstrap != nil {
		return c.bootstrapArgs(m)
	}
	return c.memberArgs(m, c.InitialCluster(), "new")
}

// portTaken reports whether a member failed because its port was taken.
func (c *Cluster) portTaken() bool {
	return slices.ContainsFunc(c.Members, (*Member).portTaken)
}

// portTaken reports whether the member's process failed because one of
// its ports was taken.
func (m *Member) portTaken() bool {
	p := m.Process()
	return p != nil && strings.Contains(p.Output(), "address already in use")
}

func (c *Cluster) killAll() {
	for _, m := range c.Members {
		m.Kill()
	}
}

func (c *Cluster) cleanup(t testing.TB) {
	c.killAll()
	if t.Failed() {
		c.logOutputs(t)
	}
}

func (c *Cluster) logOutputs(t testing.TB) {
	for _, m := range c.Members {
		t.Logf("=== output of %s ===\n%s", m.Name, m.Logs())
	}
}

// Stop stops every running member with SIGTERM and fails t unless each
// exits with status 0.
func (c *Cluster) Stop(t testing.TB) {
	t.Helper()
	for _, m := range c.Members {
		if p := m.Process(); p == nil || p.Exited() {
			continue
		}
		if code := m.Stop(t); code != 0 {
			t.Errorf("e2e: %s exited with status %d after SIGTERM", m.Name, code)
		}
	}
}

// Endpoints are the members' client URLs.
func (c *Cluster) Endpoints() []string {
	eps := make([]string, len(c.Members))
	for i, m := range c.Members {
		eps[i] = m.ClientURL()
	}
	return eps
}

// ClientTLS is the TLS configuration of a client of this cluster; see
// Certs.ClientTLS. With MutualTLS it presents the client certificate.
func (c *Cluster) ClientTLS(t testing.TB) *tls.Config {
	return c.Certs.ClientTLS(t, c.opts.ClientTLS, c.opts.ClientTLS == MutualTLS)
}

// Client is a clientv3 client of every member, closed when t ends.
func (c *Cluster) Client(t testing.TB) *clientv3.Client {
	t.Helper()
	return NewClient(t, c.Endpoints(), c.ClientTLS(t))
}

// NewClient is a clientv3 client of endpoints, closed when t ends.
func NewClient(t testing.TB, endpoints []string, tlsCfg *tls.Config) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: 5 * time.Second,
		TLS:         tlsCfg,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		t.Fatalf("e2e: client of %v: %v", endpoints, err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// ClientURL is where clients reach the member.
func (m *Member) ClientURL() string { return m.clientURL }

// PeerURL is where other members reach it: its advertised peer URL.
func (m *Member) PeerURL() string { return m.peerURL }

// ListenPeerURL is the peer URL it listens on; it differs from PeerURL
// with Options.AdvertisePeerURL.
func (m *Member) ListenPeerURL() string { return m.listenPeerURL }

// MetricsURL is its --listen-metrics-urls URL (with Options.Metrics).
func (m *Member) MetricsURL() string { return m.metricsURL }

// Args are the member's flags.
func (m *Member) Args() []string { return append([]string(nil), m.args...) }

// Process is the member's current (or last) process; nil before the
// first start.
func (m *Member) Process() *Process {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.proc
}

func (m *Member) start() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.proc != nil {
		if !m.proc.Exited() {
			return fmt.Errorf("%s is already running", m.Name)
		}
		m.history = append(m.history, m.proc.Output())
	}
	dir := ""
	if m.cluster.opts.UnixPeers {
		dir = m.cluster.dir
	}
	bin := m.Bin
	if bin == "" {
		bin = m.cluster.opts.Binary
	}
	if bin == "" {
		bin = Binary()
	}
	p, err := StartProcessIn(dir, bin, m.args, append(slices.Clone(m.cluster.opts.Env), m.Env...))
	if err != nil {
		return err
	}
	m.proc = p
	return nil
}

// WaitReady waits until the current process logs that it serves clients.
func (m *Member) WaitReady(timeout time.Duration) error {
	p := m.Process()
	if p == nil {
		return errors.New("not started")
	}
	return p.WaitOutput(ReadyLine, timeout)
}

// Start starts a stopped member with its flags and data, and waits until
// it is ready.
func (m *Member) Start(t testing.TB) {
	t.Helper()
	if err := m.TryStart(); err != nil {
		t.Fatalf("e2e: %v\n%s", err, m.Process().Output())
	}
}

// TryStart is Start for goroutines other than the test's: it returns the
// error instead of failing a test.
//
// A member's ports are fixed at creation, and while it is down the OS may
// hand one to an outgoing connection as its source port (the ports it
// picks for listeners come from the same range): a start that fails for a
// taken port waits until the ports are free and tries again, within
// portWait.
func (m *Member) TryStart() error {
	deadline := time.Now().Add(portWait)
	for {
		if err := m.start(); err != nil {
			return fmt.Errorf("start %s: %w", m.Name, err)
		}
		err := m.WaitReady(m.cluster.opts.ReadyTimeout)
		if err == nil {
			return nil
		}
		if !m.portTaken() || time.Now().After(deadline) {
			return fmt.Errorf("%s not ready: %w", m.Name, err)
		}
		m.waitPortsFree(deadline)
	}
}

// portWait bounds how long a restart waits for its ports to be free.
const portWait = 20 * time.Second

// waitPortsFree polls until each of the member's ports can be listened on
// again, or the deadline passes. A port still taken then is the next
// start's failure to report.
func (m *Member) waitPortsFree(deadline time.Time) {
	for _, raw := range []string{m.clientURL, m.listenPeerURL, m.metricsURL} {
		u, err := url.Parse(raw)
		if err != nil || u.Scheme == "unix" || u.Scheme == "unixs" {
			continue
		}
		_ = testutil.Poll(time.Until(deadline), func() error {
			l, err := net.Listen("tcp", u.Host)
			if err == nil {
				l.Close()
			}
			return err
		})
	}
}

// Stop sends SIGTERM and returns the exit status; it fails t if the
// process does not exit in time.
func (m *Member) Stop(t testing.TB) int {
	t.Helper()
	p := m.Process()
	if p == nil {
		return 0
	}
	code, err := p.Stop(m.cluster.opts.StopTimeout)
	if err != nil {
		t.Fatalf("e2e: stop %s: %v", m.Name, err)
	}
	return code
}

// Kill sends SIGKILL and waits until the process is gone.
func (m *Member) Kill() {
	if p := m.Process(); p != nil {
		p.Kill()
	}
}

// Restart stops the member (SIGTERM; SIGKILL if it is slow) and starts
// it again with the same flags and data, waiting until it is ready.
func (m *Member) Restart(t testing.TB) {
	t.Helper()
	if p := m.Process(); p != nil && !p.Exited() {
		if _, err := p.Stop(m.cluster.opts.StopTimeout); err != nil {
			t.Logf("e2e: %s: %v", m.Name, err)
		}
	}
	m.Start(t)
}

// Pause stops the process without killing it (SIGSTOP); Resume lets it
// go on (SIGCONT). Resume a paused member before Stop: a stopped process
// handles SIGTERM only once continued.
func (m *Member) Pause() error { return m.signal(syscall.SIGSTOP) }

// Resume continues a paused member.
func (m *Member) Resume() error { return m.signal(syscall.SIGCONT) }

func (m *Member) signal(sig syscall.Signal) error {
	p := m.Process()
	if p == nil {
		return errors.New("not started")
	}
	return p.Signal(sig)
}

// Logs is the output of every run of the member, oldest first.
func (m *Member) Logs() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var b strings.Builder
	for i, h := range m.history {
		fmt.Fprintf(&b, "--- run %d ---\n%s", i+1, h)
	}
	if m.proc != nil {
		fmt.Fprintf(&b, "--- run %d ---\n%s", len(m.history)+1, m.proc.Output())
	}
	return b.String()
}

// Client is a clientv3 client of this member only, closed when t ends.
func (m *Member) Client(t testing.TB) *clientv3.Client {
	t.Helper()
	return NewClient(t, []string{m.ClientURL()}, m.cluster.ClientTLS(t))
}
