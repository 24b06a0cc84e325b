package rafthttp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/basaltkv/basalt/raft/raftpb"
	"go.uber.org/zap"
)

const (
	// streamBufferSize is the write buffer of an outbound stream.
	streamBufferSize = 64 << 10
	// maxBatch bounds the messages written between two flushes.
	maxBatch = sendQueueSize / 2
)

// errStreamClosed ends an outbound stream that this side closes.
var errStreamClosed = errors.New("stream closed")

// outboundStream is one established POST /raft/stream.
type outboundStream struct {
	url    url.URL
	resp   *http.Response
	body   *io.PipeWriter
	cancel context.CancelFunc
}

// runStream keeps a stream to the peer up: dial, write until it breaks,
// back off, redial.
func (p *peer) runStream() {
	defer p.t.wg.Done()
	tm := p.t.timing
	backoff := tm.backoffMin
	var dialLog logLimiter
	dialLog.every = tm.logEvery
	lastErr := ""
	for p.ctx.Err() == nil {
		s, err := p.dialStream()
		switch {
		case err == nil:
			start := time.Now()
			p.activate()
			err = p.runSession(s)
			p.deactivate(err)
			p.dropQueued()
			if time.Since(start) >= tm.stableStream {
				backoff = tm.backoffMin
			}
			lastErr = ""
		case p.ctx.Err() != nil:
			return
		case errors.Is(err, ErrMemberRemoved):
			p.lg.Error("rejected by remote peer: this member was removed", zap.Error(err))
			p.t.markRemoved()
			// Nothing more will be accepted; wait for new URLs or the end.
			select {
			case <-p.urlsChangedc:
				backoff = tm.backoffMin
				continue
			case <-p.ctx.Done():
				return
			}
		default:
			if errors.Is(err, ErrClusterIDMismatch) && (err.Error() != lastErr || dialLog.allow()) {
				p.lg.Error("request sent was ignored by remote peer due to cluster ID mismatch", zap.Error(err))
			} else if err.Error() != lastErr || dialLog.allow() {
				p.lg.Warn("failed to dial stream to remote peer", zap.Duration("retry-in", backoff), zap.Error(err))
			} else {
				p.lg.Debug("failed to dial stream to remote peer", zap.Duration("retry-in", backoff), zap.Error(err))
			}
			lastErr = err.Error()
		}
		select {
		case <-time.After(backoff):
			backoff = min(2*backoff, tm.backoffMax)
		case <-p.urlsChangedc:
			backoff = tm.backoffMin
		case <-p.ctx.Done():
			return
		}
	}
}

// dialStream opens a stream: the request body is a pipe the session
// writes frames into.
func (p *peer) dialStream() (*outboundStream, error) {
	u, ok := p.pickURL()
	if !ok {
		return nil, errNoURL
	}
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(p.ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint(u, streamPath), pr)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("new stream request to %s: %w", u.Host, err)
	}
	p.t.setHeaders(req.Header, p.id)
	req.Header.Set("Content-Type", "application/octet-stream")

	// The answer comes at once from a live peer; the request body never
	// ends, so ResponseHeaderTimeout cannot bound the wait.
	timer := time.AfterFunc(p.t.timing.dialTimeout+p.t.timing.readTimeout, cancel)
	resp, err := p.t.streamRT.RoundTrip(req)
	if !timer.Stop() && err == nil {
		// The timer fired: the stream's context is cancelled.
		resp.Body.Close()
		err = context.DeadlineExceeded
	}
	if err != nil {
		pw.Close()
		cancel()
		p.urlFailed(u)
		return nil, fmt.Errorf("dial stream to %s: %w", u.Host, err)
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		resp.Body.Close()
		pw.Close()
		cancel()
		if resp.StatusCode != http.StatusPreconditionFailed && resp.StatusCode != http.StatusGone {
			p.urlFailed(u)
		}
		return nil, fmt.Errorf("stream to %s: %w", u.Host, refusal(resp, body))
	}
	return &outboundStream{url: u, resp: resp, body: pw, cancel: cancel}, nil
}

// runSession writes the send queue into an established stream until the
// stream breaks, the peer's URLs change or the peer stops.
func (p *peer) runSession(s *outboundStream) error {
	readErrc := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		readErrc <- drainKeepalives(s.resp.Body)
	}()
	defer func() {
		s.cancel()
		s.body.CloseWithError(errStreamClosed)
		s.resp.Body.Close()
		wg.Wait()
	}()

	bw := bufio.NewWriterSize(s.body, streamBufferSize)
	fw := newFrameWriter(bw)
	keepalive := time.NewTicker(p.t.timing.keepalive)
	defer keepalive.Stop()
	wrote := false
	for {
		select {
		case m := <-p.msgc:
			if err := p.writeBatch(fw, bw, &m); err != nil {
				return err
			}
			wrote = true
		case <-keepalive.C:
			if !wrote {
				err := fw.writeKeepalive()
				if err == nil {
					err = bw.Flush()
				}
				if err != nil {
					return fmt.Errorf("write keepalive: %w", err)
				}
			}
			wrote = false
		case err := <-readErrc:
			return fmt.Errorf("stream closed by remote peer: %w", err)
		case <-p.urlsChangedc:
			if !p.hasURL(s.url) {
				return errURLChanged
			}
		case <-p.ctx.Done():
			return errStreamClosed
		}
	}
}

// writeBatch writes first and whatever else is queued, up to maxBatch
// messages, then flushes.
func (p *peer) writeBatch(fw *frameWriter, bw *bufio.Writer, first *raftpb.Message) error {
	count, bytes := 0, 0
	var err error
	write := func(m *raftpb.Message) {
		if err != nil {
			return
		}
		var n int
		n, err = fw.writeMessage(m)
		if err != nil && (errors.Is(err, errEmptyMessage) || errors.Is(err, errFrameTooLarge)) {
			p.lg.Error("dropped a message that cannot be encoded", zap.Error(err))
			sentFailures.WithLabelValues(p.idStr).Inc()
			err = nil
			return
		}
		count++
		bytes += n
	}
	write(first)
	for count < maxBatch && err == nil {
		select {
		case m := <-p.msgc:
			write(&m)
			continue
		default:
		}
		break
	}
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		sentFailures.WithLabelValues(p.idStr).Add(float64(count))
		p.reportUnreachable()
		return fmt.Errorf("write to stream: %w", err)
	}
	sentBytes.WithLabelValues(p.idStr).Add(float64(bytes))
	return nil
}

// drainKeepalives reads the receiver's keepalive frames until the response
// ends.
func drainKeepalives(body io.Reader) error {
	fr := newFrameReader(body)
	for {
		if _, _, err := fr.next(); err != nil {
			if err == io.EOF {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
}

// inboundStream is the receiving end of a peer's stream, served by one
// request handler.
type inboundStream struct {
	rc     *http.ResponseController
	closec chan struct{}
	done   chan struct{} // closed when the handler returns
	once   sync.Once
}

func newInboundStream(rc *http.ResponseController) *inboundStream {
	return &inboundStream{rc: rc, closec: make(chan struct{}), done: make(chan struct{})}
}

// close ends the stream: the handler's blocked read fails at once. The
// handler calls close before it returns, so the response controller is
// never used after that.
func (s *inboundStream) close() {
	s.once.Do(func() {
		close(s.closec)
		_ = s.rc.SetReadDeadline(time.Now())
	})
}

func (s *inboundStream) closed() bool {
	select {
	case <-s.closec:
		return true
	default:
		return false
	}
}

// serveStream receives a peer's message stream.
func (t *Transport) serveStream(w http.ResponseWriter, r *http.Request) {
	from, ok := t.checkRequest(w, r, http.MethodPost, true)
	if !ok {
		return
	}
	p := t.peer(from)
	if p == nil {
		t.lg.Warn("failed to find remote peer in cluster", zap.String("local-member-id", t.idStr),
			zap.String("remote-peer-id-from", idString(from)), zap.String("cluster-id", t.clusterIDStr))
		http.Error(w, errSenderNotFound.Error(), http.StatusNotFound)
		return
	}
	if !t.track() {
		http.Error(w, errStopped.Error(), http.StatusServiceUnavailable)
		return
	}
	defer t.wg.Done()

	rc := http.NewResponseController(w)
	// HTTP/1 would otherwise consume the whole request body before the
	// response starts. HTTP/2 is always full duplex.
	_ = rc.EnableFullDuplex()
	in := newInboundStream(rc)
	defer close(in.done)
	if !p.attachInbound(in) {
		http.Error(w, errStopped.Error(), http.StatusServiceUnavailable)
		return
	}
	defer p.detachInbound(in)
	defer in.close()

	w.Header().Set("Content-Type", "application/octet-stream")
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		p.lg.Warn("failed to answer stream request", zap.Error(err))
		return
	}
	keepalivesDone := make(chan struct{})
	go func() {
		defer close(keepalivesDone)
		t.writeKeepalives(w, in)
	}()

	p.lg.Info("established TCP streaming connection with remote peer", zap.String("remote-addr", r.RemoteAddr))
	err := t.readStream(p, in, r.Body)
	replaced := in.closed()
	in.close()
	<-keepalivesDone
	if !replaced && t.ctx.Err() == nil {
		p.lg.Warn("lost TCP streaming connection with remote peer", zap.Error(err))
	}
}

// readStream delivers the messages of a stream until it fails or closes.
func (t *Transport) readStream(p *peer, in *inboundStream, body io.Reader) error {
	fr := newFrameReader(body)
	timeout := t.timing.readTimeout
	var deadlineSet time.Time
	for {
		// Moving the deadline on every frame would cost more than it
		// buys; moving it every fifth of the timeout keeps it near.
		if now := time.Now(); now.Sub(deadlineSet) > timeout/5 {
			_ = in.rc.SetReadDeadline(now.Add(timeout))
			deadlineSet = now
			if in.closed() {
				return errStreamClosed
			}
		}
		payload, n, err := fr.next()
		if err != nil {
			return err
		}
		receivedBytes.WithLabelValues(p.idStr).Add(float64(n))
		if len(payload) == 0 {
			continue
		}
		var m raftpb.Message
		if err := m.Unmarshal(payload); err != nil {
			recvFailures.WithLabelValues(p.idStr).Inc()
			return fmt.Errorf("unmarshal raft message: %w", err)
		}
		p.deliver(m)
	}
}

// writeKeepalives answers a stream with empty frames so that the sender
// notices a receiver that disappeared.
func (t *Transport) writeKeepalives(w http.ResponseWriter, in *inboundStream) {
	ticker := time.NewTicker(t.timing.keepalive)
	defer ticker.Stop()
	for {
		select {
		case <-ticker.C:
			_ = in.rc.SetWriteDeadline(time.Now().Add(t.timing.writeTimeout))
			_, err := w.Write(keepaliveFrame[:])
			if err == nil {
				err = in.rc.Flush()
			}
			if err != nil {
				in.close()
				return
			}
		case <-in.closec:
			return
		}
	}
}
