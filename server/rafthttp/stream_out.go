package rafthttp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/basaltkv/basalt/raft/raftpb"
	"go.uber.org/zap"
)

const (
	// maxBatch bounds the messages written in one batch.
	maxBatch = sendQueueSize / 2
	// maxBatchBytes bounds the bytes of one batch, unless a single message
	// is larger.
	maxBatchBytes = 1 << 20
	// dialKeepalive is how often the body of a stream whose answer has not
	// come yet sends an empty frame: if the connection died, writing it
	// fails, which is how the HTTP client gives up on the request.
	dialKeepalive = 50 * time.Millisecond
)

// errStreamClosed ends a stream that this side closes.
var errStreamClosed = errors.New("stream closed")

// streamBody is the endless request body of an outbound stream. The
// session hands it whole batches of frames; when none comes for a while,
// it produces a keepalive frame itself, between batches only.
type streamBody struct {
	datac  chan []byte
	takenc chan struct{} // the batch handed over was read entirely
	closec chan struct{}
	once   sync.Once
	idle   atomic.Int64 // time.Duration before a keepalive

	// Read is called by one goroutine at a time.
	cur   []byte
	timer *time.Timer
}

func newStreamBody(idle time.Duration) *streamBody {
	b := &streamBody{
		datac:  make(chan []byte),
		takenc: make(chan struct{}, 1),
		closec: make(chan struct{}),
	}
	b.idle.Store(int64(idle))
	return b
}

func (b *streamBody) Read(p []byte) (int, error) {
	if len(b.cur) == 0 {
		d := time.Duration(b.idle.Load())
		if b.timer == nil {
			b.timer = time.NewTimer(d)
		} else {
			b.timer.Reset(d)
		}
		select {
		case b.cur = <-b.datac:
			b.timer.Stop()
		case <-b.timer.C:
			return copy(p, keepaliveFrame[:]), nil
		case <-b.closec:
			b.timer.Stop()
			return 0, errStreamClosed
		}
	}
	n := copy(p, b.cur)
	b.cur = b.cur[n:]
	if len(b.cur) == 0 {
		b.takenc <- struct{}{}
	}
	return n, nil
}

// write hands batch to the HTTP client and waits until it has all been
// read, so that the caller may reuse batch.
func (b *streamBody) write(batch []byte) error {
	select {
	case b.datac <- batch:
	case <-b.closec:
		return errStreamClosed
	}
	select {
	case <-b.takenc:
		return nil
	case <-b.closec:
		return errStreamClosed
	}
}

func (b *streamBody) close() { b.once.Do(func() { close(b.closec) }) }

// Close is called by the HTTP client when it gives up writing the body.
func (b *streamBody) Close() error {
	b.close()
	return nil
}

// outboundStream is one established POST /raft/stream.
type outboundStream struct {
	url    url.URL
	resp   *http.Response
	body   *streamBody
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
		if p.etcd.Load() {
			p.runEtcd()
			return
		}
		s, err := p.dialStream()
		switch {
		case errors.Is(err, errEtcdPeer):
			p.becomeEtcd()
			continue
		case err == nil:
			start := time.Now()
			p.activate()
			err = p.runSession(s)
			p.deactivate(err)
			p.dropQueued(p.msgc)
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
			repeated := err.Error() == lastErr && !dialLog.allow()
			switch {
			case repeated:
				p.lg.Debug("failed to dial stream to remote peer", zap.Duration("retry-in", backoff), zap.Error(err))
			case errors.Is(err, ErrClusterIDMismatch):
				p.lg.Error("request sent was ignored by remote peer due to cluster ID mismatch", zap.Error(err))
			default:
				p.lg.Warn("failed to dial stream to remote peer", zap.Duration("retry-in", backoff), zap.Error(err))
			}
			lastErr = err.Error()
		}
		timer := time.NewTimer(backoff)
		select {
		case <-timer.C:
			backoff = min(2*backoff, tm.backoffMax)
		case <-p.urlsChangedc:
			timer.Stop()
			backoff = tm.backoffMin
		case <-p.etcdc:
			timer.Stop()
		case <-p.ctx.Done():
			timer.Stop()
			return
		}
	}
}

// dialStream opens a stream and returns once the peer has accepted it.
func (p *peer) dialStream() (*outboundStream, error) {
	u, ok := p.pickURL()
	if !ok {
		return nil, errNoURL
	}
	body := newStreamBody(min(dialKeepalive, p.t.timing.keepalive))
	ctx, cancel := context.WithCancel(p.ctx)
	// Cancelling a request does not interrupt the client's read of its
	// body; closing the body does.
	context.AfterFunc(ctx, body.close)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint(u, streamPath), body)
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
		cancel()
		p.urlFailed(u)
		return nil, fmt.Errorf("dial stream to %s: %w", u.Host, err)
	}
	if resp.StatusCode != http.StatusOK {
		text, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		resp.Body.Close()
		cancel()
		if isEtcdAnswer(resp.StatusCode) {
			return nil, errEtcdPeer
		}
		if resp.StatusCode != http.StatusPreconditionFailed && resp.StatusCode != http.StatusGone {
			p.urlFailed(u)
		}
		return nil, fmt.Errorf("stream to %s: %w", u.Host, refusal(resp, text))
	}
	body.idle.Store(int64(p.t.timing.keepalive))
	return &outboundStream{url: u, resp: resp, body: body, cancel: cancel}, nil
}

// runSession writes the send queue into an established stream until the
// stream breaks, the peer's URLs change or the peer stops.
func (p *peer) runSession(s *outboundStream) error {
	readErrc := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		err := drainKeepalives(s.resp.Body)
		s.body.close() // a write waiting for the client must give up
		readErrc <- err
	}()
	defer func() {
		s.cancel() // closes the body too
		s.resp.Body.Close()
		wg.Wait()
	}()

	var batch frameBatch
	for {
		select {
		case m := <-p.msgc:
			if err := p.writeBatch(s.body, &batch, &m); err != nil {
				return err
			}
		case err := <-readErrc:
			return fmt.Errorf("stream closed by remote peer: %w", err)
		case <-p.urlsChangedc:
			if !p.hasURL(s.url) {
				return errURLChanged
			}
		case <-p.etcdc:
			return errEtcdPeer
		case <-p.ctx.Done():
			return errStreamClosed
		}
	}
}

// writeBatch writes first and whatever else is queued, up to maxBatch
// messages or maxBatchBytes, in one write.
func (p *peer) writeBatch(body *streamBody, batch *frameBatch, first *raftpb.Message) error {
	defer batch.reset()
	count := 0
	add := func(m *raftpb.Message) {
		if _, err := batch.appendMessage(m); err != nil {
			p.lg.Error("dropped a message that cannot be encoded", zap.Error(err))
			sentFailures.WithLabelValues(p.idStr).Inc()
			return
		}
		count++
	}
	add(first)
fill:
	for count < maxBatch && len(batch.buf) < maxBatchBytes {
		select {
		case m := <-p.msgc:
			add(&m)
		default:
			break fill
		}
	}
	if len(batch.buf) == 0 {
		return nil
	}
	if err := body.write(batch.buf); err != nil {
		sentFailures.WithLabelValues(p.idStr).Add(float64(count))
		p.reportUnreachable()
		return fmt.Errorf("write to stream: %w", err)
	}
	sentBytes.WithLabelValues(p.idStr).Add(float64(len(batch.buf)))
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
