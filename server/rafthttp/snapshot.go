package rafthttp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/basaltkv/basalt/raft"
	"github.com/basaltkv/basalt/raft/raftpb"
	"go.uber.org/zap"
)

// startSnapshotLocked sends m on a request of its own; t.mu is held for
// reading. Raft sends one snapshot at a time to a follower, so a second one
// while the first is in flight is dropped: the first one's outcome will
// be reported.
func (p *peer) startSnapshotLocked(m raftpb.Message) {
	if !p.snapshotting.CompareAndSwap(false, true) {
		sentFailures.WithLabelValues(p.idStr).Inc()
		p.lg.Warn("dropped MsgSnap since a snapshot to the peer is in flight",
			zap.Uint64("snapshot-index", snapshotIndex(&m)))
		return
	}
	p.t.wg.Add(1)
	go p.sendSnapshot(m)
}

func (p *peer) sendSnapshot(m raftpb.Message) {
	defer p.t.wg.Done()
	defer p.snapshotting.Store(false)
	start := time.Now()
	index := snapshotIndex(&m)
	snapshotSendInflights.WithLabelValues(p.idStr).Inc()
	defer snapshotSendInflights.WithLabelValues(p.idStr).Dec()

	n, err := p.postSnapshot(&m)
	if err != nil {
		if p.ctx.Err() != nil {
			// Stopped, or the peer was removed: raft no longer cares.
			p.lg.Info("cancelled sending database snapshot", zap.Uint64("snapshot-index", index))
			return
		}
		p.lg.Warn("failed to send database snapshot", zap.Uint64("snapshot-index", index), zap.Error(err))
		if errors.Is(err, ErrMemberRemoved) {
			p.t.markRemoved()
		}
		sentFailures.WithLabelValues(p.idStr).Inc()
		snapshotSendFailures.WithLabelValues(p.idStr).Inc()
		p.reportUnreachable()
		p.t.cfg.Raft.ReportSnapshot(p.id, raft.SnapshotFailure)
		return
	}
	took := time.Since(start)
	sentBytes.WithLabelValues(p.idStr).Add(float64(n))
	snapshotSend.WithLabelValues(p.idStr).Inc()
	snapshotSendSeconds.WithLabelValues(p.idStr).Observe(took.Seconds())
	p.lg.Info("sent database snapshot", zap.Uint64("snapshot-index", index), zap.Int64("bytes", n), zap.Duration("took", took))
	p.t.cfg.Raft.ReportSnapshot(p.id, raft.SnapshotFinish)
}

// postSnapshot sends m and its database and returns the bytes sent once the
// peer has saved the database and given m to raft.
func (p *peer) postSnapshot(m *raftpb.Message) (int64, error) {
	if m.Snapshot == nil {
		return 0, fmt.Errorf("MsgSnap without a snapshot")
	}
	index := m.Snapshot.Metadata.Index
	src := p.t.cfg.Source
	if src == nil {
		return 0, errors.New("no snapshot source configured")
	}
	size, db, err := src.OpenSnapshotDB(index)
	if err != nil {
		return 0, fmt.Errorf("open database for snapshot at index %d: %w", index, err)
	}
	etcd := p.etcd.Load()
	body, err := newSnapshotBody(m, size, db, etcd)
	if err != nil {
		_ = db.Close()
		return 0, err
	}
	defer body.close()

	u, ok := p.pickURL()
	if !ok {
		return 0, errNoURL
	}
	req, err := http.NewRequestWithContext(p.ctx, http.MethodPost, endpoint(u, snapshotPath), body)
	if err != nil {
		return 0, fmt.Errorf("new snapshot request to %s: %w", u.Host, err)
	}
	req.ContentLength = body.total
	p.t.setHeaders(req.Header, p.id)
	req.Header.Set("Content-Type", "application/octet-stream")
	if etcd {
		req.Header.Set("X-Min-Cluster-Version", minClusterVersion)
	} else {
		req.Header.Set(snapshotFormatHeader, "1")
	}

	p.lg.Info("sending database snapshot", zap.Uint64("snapshot-index", index),
		zap.Int64("bytes", body.total), zap.String("url", u.String()))
	resp, err := p.t.snapRT.RoundTrip(req)
	if err != nil {
		if serr := body.sourceErr(); serr != nil {
			return 0, serr
		}
		p.urlFailed(u)
		return 0, fmt.Errorf("post snapshot to %s: %w", u.Host, err)
	}
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return 0, fmt.Errorf("snapshot to %s: %w", u.Host, refusal(resp, answer))
	}
	if err != nil {
		return 0, fmt.Errorf("read answer to snapshot from %s: %w", u.Host, err)
	}
	return body.total, nil
}

// serveSnapshot receives a MsgSnap and its database: the sink saves the
// database, then raft gets the message, then the sender gets 204.
func (t *Transport) serveSnapshot(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	// etcd's sender names no receiver (X-Raft-To); basalt's does.
	etcd := r.Header.Get(snapshotFormatHeader) == ""
	from, ok := t.checkRequest(w, r, http.MethodPost, !etcd)
	if !ok {
		snapshotReceiveFailures.WithLabelValues(unknownSnapshotSender).Inc()
		return
	}
	if !t.track() {
		http.Error(w, errStopped.Error(), http.StatusServiceUnavailable)
		return
	}
	defer t.wg.Done()
	fromStr := idString(from)
	lg := t.lg.With(zap.String("local-member-id", t.idStr), zap.String("remote-snapshot-sender-id", fromStr))
	fail := func(status int, text string) {
		http.Error(w, text, status)
		snapshotReceiveFailures.WithLabelValues(fromStr).Inc()
	}

	// Stop must not wait for a slow sender: it ends the reads at once.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	body := &idleReader{r: r.Body, rc: http.NewResponseController(w), timeout: t.timing.snapshotIdleTimeout}
	defer body.finish()
	stopAbort := context.AfterFunc(t.ctx, func() {
		cancel()
		body.abort()
	})
	defer stopAbort()

	m, headerBytes, size, err := readSnapshotHeader(body, etcd)
	receivedBytes.WithLabelValues(fromStr).Add(float64(headerBytes))
	if err != nil {
		lg.Warn("failed to decode Raft message", zap.Error(err))
		recvFailures.WithLabelValues(fromStr).Inc()
		fail(http.StatusBadRequest, fmt.Sprintf("failed to decode raft message (%v)", err))
		return
	}
	if m.Type != raftpb.MsgSnap || m.Snapshot == nil {
		lg.Warn("unexpected Raft message type", zap.String("message-type", m.Type.String()))
		fail(http.StatusBadRequest, errNotMsgSnap.Error())
		return
	}
	snapshotReceiveInflights.WithLabelValues(fromStr).Inc()
	defer snapshotReceiveInflights.WithLabelValues(fromStr).Dec()
	index := m.Snapshot.Metadata.Index
	lg.Info("receiving database snapshot", zap.Uint64("incoming-snapshot-index", index), zap.Int64("bytes", size))

	if t.cfg.Sink == nil {
		fail(http.StatusInternalServerError, "no snapshot sink configured")
		return
	}
	var n int64
	if etcd {
		db := &etcdDBReader{r: body}
		n, err = t.cfg.Sink.SaveSnapshotDB(index, db)
		if err == nil && !db.done {
			err = fmt.Errorf("sink stored %d bytes without reading the database to its end", n)
		}
		receivedBytes.WithLabelValues(fromStr).Add(float64(db.n))
	} else {
		db := newDBReader(body, size)
		n, err = t.cfg.Sink.SaveSnapshotDB(index, db)
		if err == nil && !db.complete() {
			err = fmt.Errorf("sink stored %d bytes without reading the database to its end", n)
		}
		receivedBytes.WithLabelValues(fromStr).Add(float64(size - db.remaining))
	}
	if err != nil {
		lg.Warn("failed to save incoming database snapshot", zap.Uint64("incoming-snapshot-index", index), zap.Error(err))
		fail(http.StatusInternalServerError, fmt.Sprintf("failed to save KV snapshot (%v)", err))
		return
	}
	lg.Info("received and saved database snapshot", zap.Uint64("incoming-snapshot-index", index),
		zap.Int64("bytes", n), zap.Duration("took", time.Since(start)))

	if err := t.cfg.Raft.Process(ctx, m); err != nil {
		lg.Warn("failed to process Raft message", zap.Error(err))
		fail(http.StatusInternalServerError, "error processing raft message")
		return
	}
	snapshotReceive.WithLabelValues(fromStr).Inc()
	snapshotReceiveSeconds.WithLabelValues(fromStr).Observe(time.Since(start).Seconds())
	w.WriteHeader(http.StatusNoContent)
}

// idleReader bounds every read of a request body with a deadline, and
// lets another goroutine end the reads.
type idleReader struct {
	r       io.Reader
	rc      *http.ResponseController
	timeout time.Duration

	mu struct {
		sync.Mutex
		aborted  bool
		finished bool // the handler is returning: rc must not be used
	}
}

func (ir *idleReader) Read(p []byte) (int, error) {
	ir.mu.Lock()
	if ir.mu.aborted {
		ir.mu.Unlock()
		return 0, errStopped
	}
	_ = ir.rc.SetReadDeadline(time.Now().Add(ir.timeout))
	ir.mu.Unlock()
	return ir.r.Read(p)
}

func (ir *idleReader) abort() {
	ir.mu.Lock()
	defer ir.mu.Unlock()
	if ir.mu.finished || ir.mu.aborted {
		return
	}
	ir.mu.aborted = true
	_ = ir.rc.SetReadDeadline(time.Now())
}

func (ir *idleReader) finish() {
	ir.mu.Lock()
	defer ir.mu.Unlock()
	ir.mu.finished = true
}

// snapshotIndex is the index of m's snapshot, 0 if it has none.
func snapshotIndex(m *raftpb.Message) uint64 {
	if m.Snapshot == nil {
		return 0
	}
	return m.Snapshot.Metadata.Index
}
