package rafthttp

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"go.uber.org/zap"
)

// runProber measures the round trip to the peer every probeInterval.
func (p *peer) runProber() {
	defer p.t.wg.Done()
	ticker := time.NewTicker(p.t.timing.probeInterval)
	defer ticker.Stop()
	var unhealthyLog logLimiter
	unhealthyLog.every = p.t.timing.logEvery
	for {
		select {
		case <-ticker.C:
		case <-p.ctx.Done():
			return
		}
		rtt, err := p.probe()
		if err != nil {
			if p.ctx.Err() == nil && unhealthyLog.allow() {
				p.lg.Warn("prober detected unhealthy status", zap.Error(err))
			}
			continue
		}
		rttSec.WithLabelValues(p.idStr).Observe(rtt.Seconds())
	}
}

// probe sends one GET /raft/probe (etcd's /raft/probing to a peer that
// speaks etcd's protocol) and returns its round trip.
func (p *peer) probe() (time.Duration, error) {
	u, ok := p.pickURL()
	if !ok {
		return 0, errNoURL
	}
	ctx, cancel := context.WithTimeout(p.ctx, p.t.timing.probeTimeout)
	defer cancel()
	probe := probePath
	if p.etcd.Load() {
		probe = etcdProbingPath
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint(u, probe), nil)
	if err != nil {
		return 0, fmt.Errorf("new probe request to %s: %w", u.Host, err)
	}
	p.t.setHeaders(req.Header, 0)
	start := time.Now()
	resp, err := p.t.snapRT.RoundTrip(req)
	if err != nil {
		return 0, fmt.Errorf("probe %s: %w", u.Host, err)
	}
	_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	rtt := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("read probe answer from %s: %w", u.Host, err)
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("probe %s: unexpected http status %s", u.Host, resp.Status)
	}
	return rtt, nil
}
