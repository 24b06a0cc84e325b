package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/basaltkv/basalt/lease"
	"github.com/basaltkv/basalt/server/serverr"
)

// A follower forwards its clients' keep-alives to the leader in batches:
// whatever renewals are waiting when a forwarder is free go in one
// request to the leader's peerLeasesRenewPath, so that under load one
// HTTP exchange serves many clients (etcd forwards each renewal on its
// own request; basalt still answers those, on peerLeasesPrefix). A
// lone renewal goes at once: batching never adds a wait.
//
// The body is the lease IDs, 8 bytes each, big-endian; the answer, for
// each in order, a status byte and the TTL in 8 bytes.
const peerLeasesRenewPath = "/basalt/leases/renew"

const (
	// renewForwarders is how many batches may be in flight at once.
	renewForwarders = 4
	// maxRenewBatch bounds one batch.
	maxRenewBatch = 1024
)

// Per-lease statuses of a batch's answer.
const (
	renewOK byte = iota
	renewNotFound
	renewNotPrimary
	renewFailed
)

type renewCall struct {
	id   int64
	done chan renewResult
}

type renewResult struct {
	ttl int64
	err error
}

// run takes batches of waiting renewals to the leader until stopping
// closes; renewForwarders of them run at once.
func (f *leaseForwarder) run(stopping <-chan struct{}) {
	for {
		var first *renewCall
		select {
		case first = <-f.calls:
		case <-stopping:
			return
		}
		batch := []*renewCall{first}
	drain:
		for len(batch) < maxRenewBatch {
			select {
			case c := <-f.calls:
				batch = append(batch, c)
			default:
				break drain
			}
		}
		results := f.renewBatch(batch, stopping)
		for i, c := range batch {
			c.done <- results[i]
		}
	}
}

// renew renews id on the leader, in the next batch.
func (f *leaseForwarder) renew(ctx context.Context, id int64, stopping <-chan struct{}) (int64, error) {
	c := &renewCall{id: id, done: make(chan renewResult, 1)}
	select {
	case f.calls <- c:
	case <-ctx.Done():
		return -1, errForwardFailed
	case <-stopping:
		return -1, serverr.ErrStopped
	}
	select {
	case r := <-c.done:
		return r.ttl, r.err
	case <-ctx.Done():
		return -1, errForwardFailed
	}
}

// renewBatch sends one batch to the current leader and returns each
// call's result.
func (f *leaseForwarder) renewBatch(batch []*renewCall, stopping <-chan struct{}) []renewResult {
	results := make([]renewResult, len(batch))
	fail := func(err error) []renewResult {
		for i := range results {
			results[i] = renewResult{ttl: -1, err: err}
		}
		return results
	}
	lead := f.raft.lead.Load()
	mem := f.cluster.Member(lead)
	if mem == nil || len(mem.PeerURLs) == 0 {
		return fail(errForwardFailed)
	}
	body := make([]byte, 0, 8*len(batch))
	for _, c := range batch {
		body = binary.BigEndian.AppendUint64(body, uint64(c.id))
	}
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	defer cancel()
	// A stopping member does not wait out a slow leader.
	go func() {
		select {
		case <-stopping:
			cancel()
		case <-ctx.Done():
		}
	}()
	for _, u := range mem.PeerURLs {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, u+peerLeasesRenewPath, bytes.NewReader(body))
		if err != nil {
			continue
		}
		req.Header.Set("Content-Type", "application/octet-stream")
		resp, err := f.http.Do(req)
		if err != nil {
			continue
		}
		data, err := io.ReadAll(io.LimitReader(resp.Body, int64(9*len(batch)+1)))
		resp.Body.Close()
		switch {
		case err != nil:
			continue
		case resp.StatusCode == http.StatusPreconditionFailed:
			return fail(serverr.ErrNotLeader)
		case resp.StatusCode == http.StatusNotFound:
			// An etcd leader: no batches, one renewal per request.
			return f.renewEach(ctx, lead, batch)
		case resp.StatusCode != http.StatusOK || len(data) != 9*len(batch):
			continue
		}
		for i := range batch {
			rec := data[9*i : 9*i+9]
			ttl := int64(binary.BigEndian.Uint64(rec[1:]))
			switch rec[0] {
			case renewOK:
				results[i] = renewResult{ttl: ttl}
			case renewNotFound:
				results[i] = renewResult{ttl: -1, err: lease.ErrLeaseNotFound}
			case renewNotPrimary:
				results[i] = renewResult{ttl: -1, err: serverr.ErrNotLeader}
			default:
				results[i] = renewResult{ttl: -1, err: errForwardFailed}
			}
		}
		return results
	}
	return fail(errForwardFailed)
}

// renewEach renews the batch's leases one request each on the leader's
// /leases, etcd's endpoint, a few at a time.
func (f *leaseForwarder) renewEach(ctx context.Context, lead uint64, batch []*renewCall) []renewResult {
	results := make([]renewResult, len(batch))
	sem := make(chan struct{}, renewForwarders)
	var wg sync.WaitGroup
	for i, c := range batch {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			ttl, err := f.renewOne(ctx, lead, c.id)
			results[i] = renewResult{ttl: ttl, err: err}
		})
	}
	wg.Wait()
	return results
}

// serveLeaseRenewals answers a follower's batch of renewals.
func (m *Member) serveLeaseRenewals(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, 8*maxRenewBatch+1))
	if err != nil || len(data)%8 != 0 || len(data) > 8*maxRenewBatch {
		http.Error(w, fmt.Sprintf("bad renewal batch of %d bytes (%v)", len(data), err), http.StatusBadRequest)
		return
	}
	if !m.IsLeader() {
		http.Error(w, serverr.ErrNotLeader.Error(), http.StatusPreconditionFailed)
		return
	}
	out := make([]byte, 0, len(data)/8*9)
	for i := 0; i < len(data); i += 8 {
		id := lease.ID(binary.BigEndian.Uint64(data[i:]))
		ttl, err := m.renewLocal(id)
		status := renewOK
		switch {
		case err == nil:
		case errors.Is(err, lease.ErrLeaseNotFound):
			status = renewNotFound
		case errors.Is(err, lease.ErrNotPrimary):
			status = renewNotPrimary
		default:
			status = renewFailed
		}
		out = append(out, status)
		out = binary.BigEndian.AppendUint64(out, uint64(ttl))
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	_, _ = w.Write(out)
}
