package rafthttp

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/basaltkv/basalt/pkg/netutil"
	"github.com/basaltkv/basalt/raft"
	"github.com/basaltkv/basalt/raft/raftpb"
	"go.uber.org/zap"
)

// serverVersion is the etcd version sent in X-Server-Version; it matches
// server.EtcdVersion (which this package cannot import).
const serverVersion = "3.7.0"

// Raft is the member side the transport delivers to. Its methods are called
// from the transport's goroutines (never from within Send), possibly
// concurrently, until Stop returns.
type Raft interface {
	// Process is a message from a peer.
	Process(ctx context.Context, m raftpb.Message) error
	// IsIDRemoved reports whether id was removed from the cluster; traffic
	// from removed members is refused.
	IsIDRemoved(id uint64) bool
	ReportUnreachable(id uint64)
	ReportSnapshot(id uint64, status raft.SnapshotStatus)
}

// SnapshotSource supplies the database a MsgSnap carries: the member opens
// a consistent copy of its backend.
type SnapshotSource interface {
	// OpenSnapshotDB returns the database for a raft snapshot at index: its
	// size in bytes and a reader, which the transport closes after sending.
	OpenSnapshotDB(index uint64) (size int64, r io.ReadCloser, err error)
}

// SnapshotSink receives a database that arrives with a MsgSnap, before the
// message is handed to raft.
type SnapshotSink interface {
	// SaveSnapshotDB stores the database for the snapshot at index and
	// returns the bytes stored. r returns an error instead of io.EOF if the
	// database arrived short or corrupt: the sink must keep the database
	// (write to a temp file, fsync, rename) only after reading r to EOF
	// without error.
	SaveSnapshotDB(index uint64, r io.Reader) (int64, error)
}

// Config configures a Transport.
type Config struct {
	// ID is this member's ID; ClusterID the cluster's.
	ID, ClusterID uint64
	// TLS is the client-side TLS configuration for dialing https:// peer
	// URLs (nil: plain http only).
	TLS *tls.Config
	// DialTimeout bounds connecting to a peer (0: 1 s).
	DialTimeout time.Duration
	// LocalIP, if set, is the address connections to peers come from
	// (etcd's SetMemberLocalAddr gate).
	LocalIP string
	// ReadTimeout and WriteTimeout are the deadlines of every read and
	// write on a peer stream (--raft-read-timeout, --raft-write-timeout;
	// 0: DefaultConnTimeout).
	ReadTimeout, WriteTimeout time.Duration
	Raft                      Raft
	Source                    SnapshotSource
	Sink                      SnapshotSink
	Logger                    *zap.Logger
}

// timing holds the transport's intervals and timeouts; tests shorten some.
type timing struct {
	dialTimeout time.Duration
	// readTimeout and writeTimeout bound every read and write on a stream.
	readTimeout  time.Duration
	writeTimeout time.Duration
	// keepalive is how long a stream may be idle before an empty frame.
	keepalive time.Duration
	// backoffMin and backoffMax bound the wait before redialing a stream;
	// a stream that stayed up for stableStream resets it to backoffMin.
	backoffMin   time.Duration
	backoffMax   time.Duration
	stableStream time.Duration
	// unreachableInterval is the least time between two ReportUnreachable
	// calls for one peer.
	unreachableInterval time.Duration
	probeInterval       time.Duration
	probeTimeout        time.Duration
	// snapshotIdleTimeout bounds every write of a snapshot body and every
	// read of one on the receiving side.
	snapshotIdleTimeout time.Duration
	// snapshotResponseTimeout bounds the wait for the answer once a
	// snapshot body is sent (the receiver fsyncs the database first).
	snapshotResponseTimeout time.Duration
	// logEvery rate-limits repeated warnings about one peer.
	logEvery time.Duration
}

// DefaultConnTimeout is etcd's read and write deadline on a peer
// connection (--raft-read-timeout, --raft-write-timeout).
const DefaultConnTimeout = 5 * time.Second

func defaultTiming(cfg Config) timing {
	dialTimeout, readTimeout, writeTimeout := cfg.DialTimeout, cfg.ReadTimeout, cfg.WriteTimeout
	if dialTimeout <= 0 {
		dialTimeout = time.Second
	}
	if readTimeout <= 0 {
		readTimeout = DefaultConnTimeout
	}
	if writeTimeout <= 0 {
		writeTimeout = DefaultConnTimeout
	}
	return timing{
		dialTimeout:  dialTimeout,
		readTimeout:  readTimeout,
		writeTimeout: writeTimeout,
		// An idle stream sends an empty frame well within the peer's
		// read deadline.
		keepalive:               readTimeout / 3,
		backoffMin:              100 * time.Millisecond,
		backoffMax:              3 * time.Second,
		stableStream:            time.Second,
		unreachableInterval:     100 * time.Millisecond,
		probeInterval:           4 * time.Second,
		probeTimeout:            5 * time.Second,
		snapshotIdleTimeout:     30 * time.Second,
		snapshotResponseTimeout: 2 * time.Minute,
		logEvery:                30 * time.Second,
	}
}

// Transport sends raft messages to peers and receives theirs. Create it
// with New, mount Handler on the peer listener, add peers, and Stop it
// once.
type Transport struct {
	cfg          Config
	lg           *zap.Logger
	idStr        string
	clusterIDStr string
	timing       timing

	// streamRT carries message streams: no connection reuse, deadlines on
	// every read and write. snapRT carries snapshots and probes.
	streamRT *netutil.UnixTransport
	snapRT   *netutil.UnixTransport

	ctx    context.Context
	cancel context.CancelFunc
	// wg counts every goroutine the transport starts and every inbound
	// request being served; Stop waits for it.
	wg sync.WaitGroup

	removedOnce sync.Once
	removedc    chan struct{}
	stopOnce    sync.Once

	mu struct {
		sync.RWMutex
		stopped bool
		peers   map[uint64]*peer
	}
}

// New returns a Transport for the member cfg.ID of cluster cfg.ClusterID.
func New(cfg Config) *Transport {
	lg := cfg.Logger
	if lg == nil {
		lg = zap.NewNop()
	}
	t := &Transport{
		cfg:          cfg,
		lg:           lg,
		idStr:        idString(cfg.ID),
		clusterIDStr: idString(cfg.ClusterID),
		timing:       defaultTiming(cfg),
		removedc:     make(chan struct{}),
	}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	t.mu.peers = make(map[uint64]*peer)
	t.buildRoundTrippers()
	return t
}

// buildRoundTrippers makes the HTTP clients from t.timing (again, after a
// test changed it).
func (t *Transport) buildRoundTrippers() {
	tm := t.timing
	t.streamRT = newRoundTripper(t.cfg.TLS, t.cfg.LocalIP, tm.dialTimeout, tm.readTimeout, tm.writeTimeout, false, 0)
	t.snapRT = newRoundTripper(t.cfg.TLS, t.cfg.LocalIP, tm.dialTimeout, 0, tm.snapshotIdleTimeout, true, tm.snapshotResponseTimeout)
}

// Handler serves the peer side of the transport; mount it for paths under
// /raft on the peer listener.
func (t *Transport) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(streamPath, t.serveStream)
	mux.HandleFunc(snapshotPath, t.serveSnapshot)
	mux.HandleFunc(probePath, t.serveProbe)
	mux.HandleFunc(pipelinePath, t.servePipeline)
	mux.HandleFunc(etcdStreamPath, t.serveEtcdStream)
	mux.HandleFunc(etcdProbingPath, t.serveEtcdProbing)
	return mux
}

// AddPeer starts sending to and accepting streams from member id, reached
// at urls. Adding a known peer or this member itself does nothing.
func (t *Transport) AddPeer(id uint64, urls []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mu.stopped || id == t.cfg.ID {
		return
	}
	if _, ok := t.mu.peers[id]; ok {
		return
	}
	p := newPeer(t, id, t.parseURLs(id, urls))
	t.mu.peers[id] = p
	p.startLocked()
	t.lg.Info("added remote peer", zap.String("local-member-id", t.idStr),
		zap.String("remote-peer-id", p.idStr), zap.Strings("remote-peer-urls", urls))
}

// RemovePeer stops all traffic with member id. It does not wait for the
// peer's goroutines (Stop does), so it may be called from the goroutine
// that serves Raft's methods.
func (t *Transport) RemovePeer(id uint64) {
	t.mu.Lock()
	p, ok := t.mu.peers[id]
	delete(t.mu.peers, id)
	t.mu.Unlock()
	if !ok {
		return
	}
	p.stop()
	t.lg.Info("removed remote peer", zap.String("local-member-id", t.idStr), zap.String("remote-peer-id", p.idStr))
}

// UpdatePeer replaces the URLs of member id (the same URLs change
// nothing). A stream to a URL no longer listed is closed and redialed.
func (t *Transport) UpdatePeer(id uint64, urls []string) {
	p := t.peer(id)
	if p == nil {
		return
	}
	parsed := t.parseURLs(id, urls)
	p.mu.Lock()
	same := slices.EqualFunc(p.mu.urls, parsed, func(a, b url.URL) bool { return a.String() == b.String() })
	p.mu.Unlock()
	if same {
		return
	}
	p.setURLs(parsed)
	t.lg.Info("updated remote peer", zap.String("local-member-id", t.idStr),
		zap.String("remote-peer-id", p.idStr), zap.Strings("remote-peer-urls", urls))
}

// SetPeers makes the peers exactly those given (ID to URLs), adding,
// updating and removing as needed: after a snapshot replaced the
// membership. This member's own ID is skipped.
func (t *Transport) SetPeers(peers map[uint64][]string) {
	t.mu.RLock()
	var gone []uint64
	for id := range t.mu.peers {
		if _, ok := peers[id]; !ok {
			gone = append(gone, id)
		}
	}
	t.mu.RUnlock()
	for _, id := range gone {
		t.RemovePeer(id)
	}
	for id, urls := range peers {
		if t.peer(id) != nil {
			t.UpdatePeer(id, urls)
		} else {
			t.AddPeer(id, urls)
		}
	}
}

// Send queues msgs for their peers and returns at once. A message to an
// unknown peer is ignored; a message to a peer whose stream is down or
// whose queue is full is dropped and the peer reported unreachable. A
// MsgSnap is sent on a request of its own; its outcome is reported with
// Raft.ReportSnapshot.
func (t *Transport) Send(msgs []raftpb.Message) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.mu.stopped {
		return
	}
	for i := range msgs {
		m := &msgs[i]
		if m.To == 0 {
			continue
		}
		p, ok := t.mu.peers[m.To]
		if !ok {
			t.lg.Debug("ignored message send request; unknown remote peer target",
				zap.String("type", m.Type.String()), zap.String("unknown-target-peer-id", idString(m.To)))
			continue
		}
		p.sendLocked(m)
	}
}

// ActivePeers counts the peers with a connected stream.
func (t *Transport) ActivePeers() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	n := 0
	for _, p := range t.mu.peers {
		if !p.activeSince().IsZero() {
			n++
		}
	}
	return n
}

// ActiveSince returns when the current stream to member id connected, or
// the zero time if it is not connected.
func (t *Transport) ActiveSince(id uint64) time.Time {
	p := t.peer(id)
	if p == nil {
		return time.Time{}
	}
	return p.activeSince()
}

// Removed is closed once a peer has answered that this member was removed
// from the cluster (410 Gone); the member should then stop, as etcd does
// with "the member has been permanently removed from the cluster".
func (t *Transport) Removed() <-chan struct{} { return t.removedc }

// Stop closes every stream, cancels snapshot transfers in flight, and waits
// for the transport's goroutines and the inbound requests being served.
func (t *Transport) Stop() {
	t.stopOnce.Do(func() {
		t.mu.Lock()
		t.mu.stopped = true
		peers := t.mu.peers
		t.mu.peers = make(map[uint64]*peer)
		t.mu.Unlock()
		t.cancel()
		for _, p := range peers {
			p.stop()
		}
		t.wg.Wait()
		t.streamRT.CloseIdleConnections()
		t.snapRT.CloseIdleConnections()
	})
}

func (t *Transport) peer(id uint64) *peer {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.mu.peers[id]
}

// track counts an inbound request for Stop to wait for; it fails once the
// transport is stopped.
func (t *Transport) track() bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.mu.stopped {
		return false
	}
	t.wg.Add(1)
	return true
}

func (t *Transport) markRemoved() {
	t.removedOnce.Do(func() {
		t.lg.Error("the member has been permanently removed from the cluster",
			zap.String("local-member-id", t.idStr))
		close(t.removedc)
	})
}

// setHeaders sets the headers every request carries.
func (t *Transport) setHeaders(h http.Header, to uint64) {
	h.Set("X-Server-From", t.idStr)
	h.Set("X-Etcd-Cluster-ID", t.clusterIDStr)
	h.Set("X-Server-Version", serverVersion)
	if to != 0 {
		h.Set("X-Raft-To", idString(to))
	}
}

// idString formats a member or cluster ID as etcd does: hexadecimal.
func idString(id uint64) string { return strconv.FormatUint(id, 16) }
