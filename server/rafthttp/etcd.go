package rafthttp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/basaltkv/basalt/raft/raftpb"
	"go.uber.org/zap"
)

// etcd's peer protocol, which basalt speaks with etcd members and with any
// member that speaks it to basalt (see doc.go, "etcd's protocol").

const (
	pipelinePath    = "/raft"
	etcdStreamPath  = "/raft/stream/"
	etcdProbingPath = "/raft/probing"

	etcdStreamMessage = "message"
	etcdStreamMsgApp  = "msgapp"

	// minClusterVersion is sent in X-Min-Cluster-Version, as etcd 3.7 does.
	minClusterVersion = "3.0.0"
	// snapshotFormatHeader marks a snapshot in basalt's framing; one
	// without it is in etcd's.
	snapshotFormatHeader = "X-Basalt-Snapshot-Format"
)

// errEtcdPeer: the peer answered basalt's stream request as etcd does (it
// has no such endpoint): it speaks etcd's protocol.
var errEtcdPeer = errors.New("peer speaks etcd's protocol")

// isEtcdAnswer reports whether status is what etcd's peer handler answers
// to POST /raft/stream: its mux's redirect to /raft/stream/ (307 for a
// POST), or no such handler.
func isEtcdAnswer(status int) bool {
	switch status {
	case http.StatusMovedPermanently, http.StatusTemporaryRedirect, http.StatusPermanentRedirect,
		http.StatusMethodNotAllowed:
		return true
	}
	return false
}

// becomeEtcd switches the peer to etcd's protocol for good: the stream
// writer ends its basalt stream, and the peer's traffic then flows on the
// streams the peer dials (outbound) and those this member dials (inbound).
func (p *peer) becomeEtcd() {
	p.etcdOnce.Do(func() {
		p.appc = make(chan raftpb.Message, sendQueueSize)
		p.pipec = make(chan raftpb.Message, pipelineQueueSize)
		p.etcd.Store(true)
		close(p.etcdc)
		p.lg.Info("speaking etcd's peer protocol with remote peer")
	})
}

// runEtcd runs the readers of the two streams this member dials at an etcd
// peer and the pipeline senders, until the peer stops.
func (p *peer) runEtcd() {
	close(p.basaltDone)
	var wg sync.WaitGroup
	for range pipelineSenders {
		wg.Go(p.runPipeline)
	}
	wg.Go(func() { p.runEtcdReader(etcdStreamMsgApp) })
	p.runEtcdReader(etcdStreamMessage)
	wg.Wait()
}

const (
	// pipelineSenders and pipelineQueueSize are etcd's: four connections,
	// 64 messages waiting.
	pipelineSenders   = 4
	pipelineQueueSize = 64
)

// runPipeline posts the messages queued for etcd's pipeline, one request
// each.
func (p *peer) runPipeline() {
	for {
		select {
		case m := <-p.pipec:
			if err := p.postPipeline(&m); err != nil {
				if errors.Is(err, ErrMemberRemoved) {
					p.t.markRemoved()
				}
				p.drop(&m, "pipeline post failed: "+err.Error())
			}
		case <-p.ctx.Done():
			return
		}
	}
}

// postPipeline sends m as POST /raft.
func (p *peer) postPipeline(m *raftpb.Message) error {
	u, ok := p.pickURL()
	if !ok {
		return errNoURL
	}
	b, err := m.Marshal()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(p.ctx, p.t.timing.dialTimeout+p.t.timing.writeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint(u, pipelinePath), bytes.NewReader(b))
	if err != nil {
		return err
	}
	p.t.setHeaders(req.Header, 0)
	req.Header.Set("Content-Type", "application/protobuf")
	req.Header.Set("X-Min-Cluster-Version", minClusterVersion)
	resp, err := p.t.snapRT.RoundTrip(req)
	if err != nil {
		p.urlFailed(u)
		return err
	}
	text, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNoContent:
		sentBytes.WithLabelValues(p.idStr).Add(float64(len(b)))
		return nil
	case http.StatusForbidden:
		return ErrMemberRemoved
	}
	p.urlFailed(u)
	return fmt.Errorf("post to %s: %w", u.Host, refusal(resp, text))
}

// runEtcdReader keeps a stream of type typ from the peer up: dial, deliver
// what arrives, redial at most every backoffMin, as etcd's reader does.
func (p *peer) runEtcdReader(typ string) {
	tm := p.t.timing
	var dialLog logLimiter
	dialLog.every = tm.logEvery
	for p.ctx.Err() == nil {
		body, err := p.dialEtcdStream(typ)
		if err == nil {
			p.lg.Info("established TCP streaming connection with remote peer", zap.String("stream-reader-type", typ))
			err = p.readEtcdStream(body, typ)
			body.Close()
			if p.ctx.Err() == nil {
				p.lg.Warn("lost TCP streaming connection with remote peer", zap.String("stream-reader-type", typ), zap.Error(err))
			}
		} else if errors.Is(err, ErrMemberRemoved) {
			p.t.markRemoved()
			select {
			case <-p.urlsChangedc:
			case <-p.ctx.Done():
				return
			}
		} else if p.ctx.Err() == nil && dialLog.allow() {
			p.lg.Warn("failed to dial stream reader", zap.String("stream-reader-type", typ), zap.Error(err))
		}
		if !sleepCtx(p.ctx, tm.backoffMin) {
			return
		}
	}
}

// dialEtcdStream opens GET /raft/stream/<typ>/<local ID> at the peer.
func (p *peer) dialEtcdStream(typ string) (io.ReadCloser, error) {
	u, ok := p.pickURL()
	if !ok {
		return nil, errNoURL
	}
	req, err := http.NewRequestWithContext(p.ctx, http.MethodGet, endpoint(u, etcdStreamPath+typ+"/"+p.t.idStr), nil)
	if err != nil {
		return nil, fmt.Errorf("new stream request to %s: %w", u.Host, err)
	}
	p.t.setHeaders(req.Header, p.id)
	req.Header.Set("X-Min-Cluster-Version", minClusterVersion)
	resp, err := p.t.streamRT.RoundTrip(req)
	if err != nil {
		p.urlFailed(u)
		return nil, fmt.Errorf("dial stream to %s: %w", u.Host, err)
	}
	if resp.StatusCode == http.StatusOK {
		return resp.Body, nil
	}
	text, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		p.urlFailed(u)
		return nil, fmt.Errorf("peer %s failed to find local node %s", p.idStr, p.t.idStr)
	}
	if resp.StatusCode != http.StatusPreconditionFailed && resp.StatusCode != http.StatusGone {
		p.urlFailed(u)
	}
	return nil, fmt.Errorf("stream to %s: %w", u.Host, refusal(resp, text))
}

// readEtcdStream delivers the messages of a stream until it fails.
func (p *peer) readEtcdStream(body io.Reader, typ string) error {
	var dec etcdDecoder = newMessageDecoder(body)
	if typ == etcdStreamMsgApp {
		dec = newMsgAppV2Decoder(body, p.t.cfg.ID, p.id)
	}
	for {
		m, n, err := dec.next()
		receivedBytes.WithLabelValues(p.idStr).Add(float64(n))
		if err != nil {
			if err != io.EOF {
				recvFailures.WithLabelValues(p.idStr).Inc()
			}
			return err
		}
		if isLinkHeartbeat(&m) {
			continue
		}
		p.deliver(m)
	}
}

// etcdOut is one stream an etcd peer dialed here, which carries this
// member's messages to it.
type etcdOut struct {
	closec chan struct{}
	done   chan struct{}
}

// serveEtcdStream serves GET /raft/stream/{message,msgapp}/<peer ID>: the
// peer's reader, to which this member writes what it sends the peer.
func (t *Transport) serveEtcdStream(w http.ResponseWriter, r *http.Request) {
	from, ok := t.checkRequest(w, r, http.MethodGet, true)
	if !ok {
		return
	}
	typ := path.Base(path.Dir(r.URL.Path))
	if path.Dir(path.Dir(r.URL.Path)) != strings.TrimSuffix(etcdStreamPath, "/") || typ != etcdStreamMessage && typ != etcdStreamMsgApp {
		http.Error(w, "invalid path", http.StatusNotFound)
		return
	}
	if pathFrom, err := strconv.ParseUint(path.Base(r.URL.Path), 16, 64); err != nil || pathFrom != from {
		http.Error(w, "invalid from", http.StatusNotFound)
		return
	}
	p, ok := t.streamPeer(w, from)
	if !ok {
		return
	}
	defer t.wg.Done()
	p.becomeEtcd()
	// The basalt stream writer, if one ran, must be done with the peer's
	// queue and its state before an etcd stream takes them over.
	select {
	case <-p.basaltDone:
	case <-p.ctx.Done():
		http.Error(w, errStopped.Error(), http.StatusServiceUnavailable)
		return
	}
	out := &etcdOut{closec: make(chan struct{}), done: make(chan struct{})}
	defer close(out.done)
	if !p.attachEtcdOut(typ, out) {
		http.Error(w, errStopped.Error(), http.StatusServiceUnavailable)
		return
	}
	defer p.detachEtcdOut(typ, out)

	rc := http.NewResponseController(w)
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return
	}
	ch := p.msgc
	var enc etcdEncoder = messageEncoding{}
	if typ == etcdStreamMsgApp {
		ch, enc = p.appc, &msgAppV2Encoding{}
		p.appUp.Store(true)
		defer p.appUp.Store(false)
	} else {
		p.activate()
	}
	p.lg.Info("established TCP streaming connection with remote peer", zap.String("stream-writer-type", typ),
		zap.String("remote-addr", r.RemoteAddr))
	err := p.writeEtcdStream(w, rc, r, out, ch, enc)
	if typ == etcdStreamMessage {
		p.deactivate(err)
	}
	p.dropQueued(ch)
}

// writeEtcdStream writes the queue ch to the stream until it breaks, is
// replaced, or the peer stops, with a link heartbeat whenever it was idle
// for the keepalive interval.
func (p *peer) writeEtcdStream(w http.ResponseWriter, rc *http.ResponseController, r *http.Request, out *etcdOut, ch chan raftpb.Message, enc etcdEncoder) error {
	tm := p.t.timing
	ticker := time.NewTicker(tm.keepalive)
	defer ticker.Stop()
	var buf []byte
	write := func(count int) error {
		_ = rc.SetWriteDeadline(time.Now().Add(tm.writeTimeout))
		_, err := w.Write(buf)
		if err == nil {
			err = rc.Flush()
		}
		if err != nil {
			sentFailures.WithLabelValues(p.idStr).Add(float64(count))
			p.reportUnreachable()
			return fmt.Errorf("write to stream: %w", err)
		}
		sentBytes.WithLabelValues(p.idStr).Add(float64(len(buf)))
		buf = buf[:0]
		return nil
	}
	add := func(m *raftpb.Message) bool {
		var err error
		if buf, err = enc.appendMessage(buf, m); err != nil {
			p.lg.Error("dropped a message that cannot be encoded", zap.Error(err))
			sentFailures.WithLabelValues(p.idStr).Inc()
			return false
		}
		return true
	}
	for {
		select {
		case m := <-ch:
			count := 0
			if add(&m) {
				count++
			}
		fill:
			for count < maxBatch && len(buf) < maxBatchBytes {
				select {
				case m := <-ch:
					if add(&m) {
						count++
					}
				default:
					break fill
				}
			}
			if err := write(count); err != nil {
				return err
			}
		case <-ticker.C:
			add(&linkHeartbeat)
			if err := write(0); err != nil {
				return err
			}
		case <-out.closec:
			return errStreamClosed
		case <-r.Context().Done():
			return fmt.Errorf("stream closed by remote peer: %w", r.Context().Err())
		case <-p.ctx.Done():
			return errStreamClosed
		}
	}
}

// attachEtcdOut makes out the peer's stream of type typ, closing the one
// it replaces and waiting for its handler; it fails once the peer stopped.
func (p *peer) attachEtcdOut(typ string, out *etcdOut) bool {
	p.mu.Lock()
	if p.mu.stopped {
		p.mu.Unlock()
		return false
	}
	old := p.mu.etcdOut[typ]
	p.mu.etcdOut[typ] = out
	p.mu.Unlock()
	if old != nil {
		old.close()
		<-old.done
	}
	return true
}

func (p *peer) detachEtcdOut(typ string, out *etcdOut) {
	p.mu.Lock()
	if p.mu.etcdOut[typ] == out {
		delete(p.mu.etcdOut, typ)
	}
	p.mu.Unlock()
}

func (o *etcdOut) close() {
	select {
	case <-o.closec:
	default:
		close(o.closec)
	}
}

// servePipeline serves POST /raft: one message per request, which etcd
// sends while its streams to this member are down.
func (t *Transport) servePipeline(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Etcd-Cluster-ID", t.clusterIDStr)
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	from, err := strconv.ParseUint(r.Header.Get("X-Server-From"), 16, 64)
	if err == nil && t.cfg.Raft.IsIDRemoved(from) {
		// etcd's sender takes 403 for "removed".
		http.Error(w, "cannot process message from removed member", http.StatusForbidden)
		return
	}
	if _, ok := t.checkRequest(w, r, http.MethodPost, false); !ok {
		return
	}
	if !t.track() {
		http.Error(w, errStopped.Error(), http.StatusServiceUnavailable)
		return
	}
	defer t.wg.Done()
	b, err := io.ReadAll(io.LimitReader(r.Body, maxFrameSize+1))
	if err != nil || len(b) > maxFrameSize {
		recvFailures.WithLabelValues(r.RemoteAddr).Inc()
		http.Error(w, "error reading raft message", http.StatusBadRequest)
		return
	}
	var m raftpb.Message
	if err := m.Unmarshal(b); err != nil {
		recvFailures.WithLabelValues(r.RemoteAddr).Inc()
		http.Error(w, "error unmarshalling raft message", http.StatusBadRequest)
		return
	}
	receivedBytes.WithLabelValues(idString(m.From)).Add(float64(len(b)))
	if err := t.cfg.Raft.Process(t.ctx, m); err != nil {
		t.lg.Warn("failed to process Raft message", zap.String("local-member-id", t.idStr), zap.Error(err))
		http.Error(w, "error processing raft message", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// serveEtcdProbing answers etcd's prober (GET /raft/probing).
func (t *Transport) serveEtcdProbing(w http.ResponseWriter, r *http.Request) {
	_ = json.NewEncoder(w).Encode(struct {
		OK  bool
		Now time.Time
	}{true, time.Now()})
}
