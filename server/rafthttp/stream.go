package rafthttp

import (
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/basaltkv/basalt/raft/raftpb"
	"go.uber.org/zap"
)

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

// streamPeer is the peer a stream comes from, the request counted for
// Stop (the caller calls t.wg.Done), or false once it answered the
// refusal: an unknown sender, a stopped transport.
func (t *Transport) streamPeer(w http.ResponseWriter, from uint64) (*peer, bool) {
	p := t.peer(from)
	if p == nil {
		t.lg.Warn("failed to find remote peer in cluster", zap.String("local-member-id", t.idStr),
			zap.String("remote-peer-id-from", idString(from)), zap.String("cluster-id", t.clusterIDStr))
		http.Error(w, errSenderNotFound.Error(), http.StatusNotFound)
		return nil, false
	}
	if !t.track() {
		http.Error(w, errStopped.Error(), http.StatusServiceUnavailable)
		return nil, false
	}
	return p, true
}

// serveStream receives a peer's message stream.
func (t *Transport) serveStream(w http.ResponseWriter, r *http.Request) {
	from, ok := t.checkRequest(w, r, http.MethodPost, true)
	if !ok {
		return
	}
	p, ok := t.streamPeer(w, from)
	if !ok {
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
