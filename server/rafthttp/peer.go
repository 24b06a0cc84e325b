package rafthttp

import (
	"context"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/basaltkv/basalt/raft/raftpb"
	"go.uber.org/zap"
)

const (
	// sendQueueSize bounds the messages waiting for a peer's stream: enough
	// for the proposals of one leader election, as in etcd.
	sendQueueSize = 4096
	// recvQueueSize bounds the messages from a peer waiting for
	// Raft.Process, per queue.
	recvQueueSize = 4096
)

// peer is everything the transport keeps for one remote member: the
// outbound stream and its queue, the inbound stream, the delivery queues,
// the prober and the unreachable reports.
type peer struct {
	t     *Transport
	id    uint64
	idStr string
	lg    *zap.Logger

	ctx    context.Context
	cancel context.CancelFunc

	// msgc is the send queue, drained by the stream writer.
	msgc chan raftpb.Message
	// recvc and propc are the delivery queues; proposals have their own so
	// that one blocked in Raft.Process does not hold up heartbeats.
	recvc chan raftpb.Message
	propc chan raftpb.Message
	// unreachablec asks the reporter to call Raft.ReportUnreachable.
	unreachablec chan struct{}
	// urlsChangedc wakes the stream writer after UpdatePeer.
	urlsChangedc chan struct{}

	// connected is true while the outbound stream is up (etcd's protocol:
	// the message stream the peer dialed).
	connected    atomic.Bool
	snapshotting atomic.Bool

	// etcd is set, for good, once the peer speaks etcd's protocol (see
	// etcd.go); etcdc is closed then. basaltDone is closed when the basalt
	// stream writer has let go of the send queue. appc is the queue of
	// MsgApps for etcd's msgappv2 stream, up while appUp.
	etcd       atomic.Bool
	etcdOnce   sync.Once
	etcdc      chan struct{}
	basaltDone chan struct{}
	appc       chan raftpb.Message
	appUp      atomic.Bool
	// pipec holds messages for etcd's pipeline (POST /raft), used while
	// the peer's message stream is down, as etcd does.
	pipec chan raftpb.Message

	dropLog    logLimiter
	recvLog    logLimiter
	processLog logLimiter

	mu struct {
		sync.Mutex
		urls    []url.URL
		next    int // index in urls of the URL to dial
		since   time.Time
		inbound *inboundStream
		etcdOut map[string]*etcdOut // the streams an etcd peer dialed, by type
		stopped bool
	}
}

func newPeer(t *Transport, id uint64, urls []url.URL) *peer {
	p := &peer{
		t:            t,
		id:           id,
		idStr:        idString(id),
		lg:           t.lg.With(zap.String("local-member-id", t.idStr), zap.String("remote-peer-id", idString(id))),
		msgc:         make(chan raftpb.Message, sendQueueSize),
		recvc:        make(chan raftpb.Message, recvQueueSize),
		propc:        make(chan raftpb.Message, recvQueueSize),
		unreachablec: make(chan struct{}, 1),
		urlsChangedc: make(chan struct{}, 1),
		etcdc:        make(chan struct{}),
		basaltDone:   make(chan struct{}),
	}
	p.mu.etcdOut = make(map[string]*etcdOut)
	p.dropLog.every = t.timing.logEvery
	p.recvLog.every = t.timing.logEvery
	p.processLog.every = t.timing.logEvery
	p.ctx, p.cancel = context.WithCancel(t.ctx)
	p.mu.urls = urls
	return p
}

// startLocked starts the peer's goroutines; t.mu is held, so Stop cannot
// be waiting yet.
func (p *peer) startLocked() {
	p.t.wg.Add(5)
	go p.runStream()
	go p.runProber()
	go p.reportUnreachableLoop()
	go p.processLoop(p.recvc)
	go p.processLoop(p.propc)
}

// stop ends the peer's goroutines and its inbound stream without waiting.
func (p *peer) stop() {
	p.cancel()
	p.mu.Lock()
	p.mu.stopped = true
	in := p.mu.inbound
	p.mu.inbound = nil
	outs := p.mu.etcdOut
	p.mu.etcdOut = make(map[string]*etcdOut)
	p.mu.Unlock()
	if in != nil {
		in.close()
	}
	for _, out := range outs {
		out.close()
	}
}

// sendLocked queues m, or drops it; t.mu is held for reading.
func (p *peer) sendLocked(m *raftpb.Message) {
	if m.Type == raftpb.MsgSnap {
		p.startSnapshotLocked(*m)
		return
	}
	if m.Type == raftpb.MsgApp && p.etcd.Load() && p.appUp.Load() {
		select {
		case p.appc <- *m:
		default:
			p.drop(m, "sending buffer is full")
		}
		return
	}
	if !p.connected.Load() {
		if p.etcd.Load() {
			select {
			case p.pipec <- *m:
			default:
				p.drop(m, "pipeline buffer is full")
			}
			return
		}
		p.drop(m, "stream to peer is not connected")
		return
	}
	select {
	case p.msgc <- *m:
	default:
		p.drop(m, "sending buffer is full")
	}
}

// drop counts a message that will not be sent and reports the peer
// unreachable.
func (p *peer) drop(m *raftpb.Message, why string) {
	sentFailures.WithLabelValues(p.idStr).Inc()
	p.reportUnreachable()
	if p.dropLog.allow() {
		p.lg.Warn("dropped internal Raft message since "+why,
			zap.String("message-type", m.Type.String()), zap.Bool("stream-connected", p.connected.Load()))
	}
}

// reportUnreachable asks the reporter goroutine to tell raft; requests
// made while one is pending are merged.
func (p *peer) reportUnreachable() {
	select {
	case p.unreachablec <- struct{}{}:
	default:
	}
}

func (p *peer) reportUnreachableLoop() {
	defer p.t.wg.Done()
	for {
		select {
		case <-p.unreachablec:
		case <-p.ctx.Done():
			return
		}
		p.t.cfg.Raft.ReportUnreachable(p.id)
		if !sleepCtx(p.ctx, p.t.timing.unreachableInterval) {
			return
		}
	}
}

// deliver queues a message from the peer for Raft.Process, dropping it
// when the queue is full rather than stalling the stream.
func (p *peer) deliver(m raftpb.Message) {
	ch := p.recvc
	if m.Type == raftpb.MsgProp {
		ch = p.propc
	}
	select {
	case ch <- m:
	default:
		if p.recvLog.allow() {
			p.lg.Warn("dropped internal Raft message since receiving buffer is full (overloaded network)",
				zap.String("message-type", m.Type.String()))
		}
	}
}

func (p *peer) processLoop(ch chan raftpb.Message) {
	defer p.t.wg.Done()
	for {
		select {
		case m := <-ch:
			if err := p.t.cfg.Raft.Process(p.ctx, m); err != nil && p.ctx.Err() == nil && p.processLog.allow() {
				p.lg.Warn("failed to process Raft message", zap.String("message-type", m.Type.String()), zap.Error(err))
			}
		case <-p.ctx.Done():
			return
		}
	}
}

// pickURL returns the URL to dial.
func (p *peer) pickURL() (url.URL, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.mu.urls) == 0 {
		return url.URL{}, false
	}
	return p.mu.urls[p.mu.next%len(p.mu.urls)], true
}

// urlFailed moves on to the next URL if u is still the current one.
func (p *peer) urlFailed(u url.URL) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.mu.urls); n > 0 && p.mu.urls[p.mu.next%n] == u {
		p.mu.next = (p.mu.next + 1) % n
	}
}

func (p *peer) hasURL(u url.URL) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Contains(p.mu.urls, u)
}

func (p *peer) setURLs(urls []url.URL) {
	p.mu.Lock()
	p.mu.urls = urls
	p.mu.next = 0
	p.mu.Unlock()
	select {
	case p.urlsChangedc <- struct{}{}:
	default:
	}
}

func (p *peer) activate() {
	p.mu.Lock()
	p.mu.since = time.Now()
	p.mu.Unlock()
	p.connected.Store(true)
	activePeers.WithLabelValues(p.t.idStr, p.idStr).Inc()
	p.lg.Info("peer became active")
}

func (p *peer) deactivate(err error) {
	p.connected.Store(false)
	p.mu.Lock()
	p.mu.since = time.Time{}
	p.mu.Unlock()
	activePeers.WithLabelValues(p.t.idStr, p.idStr).Dec()
	disconnectedPeers.WithLabelValues(p.t.idStr, p.idStr).Inc()
	if p.ctx.Err() == nil {
		p.lg.Warn("peer became inactive (message send to peer failed)", zap.Error(err))
	}
}

func (p *peer) activeSince() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mu.since
}

// dropQueued discards what a send queue (msgc, or appc for etcd's
// msgappv2 stream) holds once its stream is down: those messages are stale
// by the time a new stream is up.
func (p *peer) dropQueued(ch chan raftpb.Message) {
	for {
		select {
		case m := <-ch:
			p.drop(&m, "stream to peer is not connected")
		default:
			return
		}
	}
}

// attachInbound makes in the peer's inbound stream, closing the one it
// replaces; it fails once the peer is stopped.
func (p *peer) attachInbound(in *inboundStream) bool {
	p.mu.Lock()
	if p.mu.stopped {
		p.mu.Unlock()
		return false
	}
	old := p.mu.inbound
	p.mu.inbound = in
	p.mu.Unlock()
	if old != nil {
		old.close()
		<-old.done
	}
	return true
}

func (p *peer) detachInbound(in *inboundStream) {
	p.mu.Lock()
	if p.mu.inbound == in {
		p.mu.inbound = nil
	}
	p.mu.Unlock()
}

// logLimiter lets a repeated log line through at most once per every.
type logLimiter struct {
	every time.Duration
	last  atomic.Int64 // unix nanoseconds
}

func (l *logLimiter) allow() bool {
	now := time.Now().UnixNano()
	last := l.last.Load()
	if last != 0 && now-last < int64(l.every) {
		return false
	}
	return l.last.CompareAndSwap(last, now)
}

// sleepCtx waits for d; it reports false if ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}
