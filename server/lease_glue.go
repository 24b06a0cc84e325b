package server

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/basaltkv/basalt/lease"
	"github.com/basaltkv/basalt/pkg/netutil"
	"github.com/basaltkv/basalt/server/membership"
	"github.com/basaltkv/basalt/server/serverr"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.uber.org/zap"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// leaseAttacher adapts the lessor to the store's Leases.
type leaseAttacher struct{ le *lease.Lessor }

func (a leaseAttacher) LeaseOf(key []byte) int64 {
	return int64(a.le.GetLease(lease.LeaseItem{Key: string(key)}))
}

func (a leaseAttacher) Attach(id int64, key []byte) {
	_ = a.le.Attach(lease.ID(id), []lease.LeaseItem{{Key: string(key)}})
}

func (a leaseAttacher) Detach(id int64, key []byte) {
	_ = a.le.Detach(lease.ID(id), []lease.LeaseItem{{Key: string(key)}})
}

// leaseExists adapts the lessor to kvapply.Leases.
type leaseExists struct{ le *lease.Lessor }

func (l leaseExists) LeaseExists(id int64) bool { return l.le.Lookup(lease.ID(id)) != nil }

// zapLeaseLogger adapts zap to the lessor's logger.
type zapLeaseLogger struct{ lg *zap.Logger }

func (l zapLeaseLogger) Info(msg string, kv ...any) { l.lg.Sugar().Infow(msg, kv...) }
func (l zapLeaseLogger) Warn(msg string, kv ...any) { l.lg.Sugar().Warnw(msg, kv...) }

// leaseLoop revokes, through raft, the leases the leader's lessor finds
// expired, and proposes the lessor's checkpoints.
func (m *Member) leaseLoop() {
	if m.cfg.LeaseCheckpoint {
		// etcd's LeaseCheckpoint gate: remaining TTLs survive a leader
		// change. Checkpoints are persisted, as etcd 3.6+ persists them.
		m.st.lessor.SetCheckpointer(func(ctx context.Context, cps []lease.LeaseCheckpoint) error {
			req := &pb.LeaseCheckpointRequest{}
			for _, cp := range cps {
				req.Checkpoints = append(req.Checkpoints, &pb.LeaseCheckpoint{ID: int64(cp.ID), Remaining_TTL: cp.RemainingTTL})
			}
			_, err := m.propose(ctx, &pb.InternalRaftRequest{LeaseCheckpoint: req})
			return err
		})
	}
	// Revokes run concurrently but bounded, so a mass expiry does not
	// start thousands of goroutines.
	sem := make(chan struct{}, 64)
	for {
		select {
		case leases := <-m.st.lessor.ExpiredLeasesC():
			for _, l := range leases {
				id := int64(l.ID)
				select {
				case sem <- struct{}{}:
				case <-m.stopping:
					return
				}
				m.goAttach(func() {
					defer func() { <-sem }()
					ctx, cancel := context.WithTimeout(context.Background(), m.requestTimeout())
					defer cancel()
					// The member revokes as root, as etcd's does: the keys
					// of an expired lease go whoever wrote them.
					_, err := m.LeaseRevoke(m.WithRoot(ctx), &pb.LeaseRevokeRequest{ID: id})
					switch {
					case err == nil:
						m.metrics.leaseExpired.Inc()
					case !errors.Is(err, lease.ErrLeaseNotFound):
						m.lg.Warn("failed to revoke expired lease", zap.String("lease-id", fmt.Sprintf("%016x", id)), zap.Error(err))
					}
				})
			}
		case <-m.stopping:
			return
		}
	}
}

// Peer endpoints for lease requests a follower forwards to the leader.
const (
	peerLeasesPrefix       = "/leases"
	peerLeasesInternalPath = "/leases/internal"
)

func isRetryableForward(err error) bool {
	return errors.Is(err, serverr.ErrNotLeader) || errors.Is(err, errForwardFailed)
}

var errForwardFailed = errors.New("forwarding to the leader failed")

// leaseForwarder carries a follower's lease requests to the leader over
// the peer URLs: time-to-live requests one by one, renewals in batches
// (lease_batch.go).
type leaseForwarder struct {
	http    *http.Client
	cluster *membership.Cluster
	raft    *raftNode
	timeout time.Duration
	// calls queues the renewals waiting for a forwarder.
	calls chan *renewCall
}

func newLeaseForwarder(cfg Config, cluster *membership.Cluster, r *raftNode, timeout time.Duration) *leaseForwarder {
	// Every client's keep-alive reaching a follower is forwarded: keep as
	// many connections as there are concurrent forwards, or each one past
	// the idle limit costs a new TCP (and TLS) handshake.
	tr := netutil.WithUnixSockets(&http.Transport{TLSClientConfig: cfg.PeerTLS, DialContext: netutil.Dial(30*time.Second, cfg.PeerLocalIP), MaxIdleConnsPerHost: 1024, IdleConnTimeout: 30 * time.Second})
	return &leaseForwarder{http: &http.Client{Transport: tr}, cluster: cluster, raft: r, timeout: timeout, calls: make(chan *renewCall)}
}

// timeToLive asks the leader, on /leases/internal, with the request
// wrapped as etcd's leasepb.LeaseInternalRequest (and the answer in a
// LeaseInternalResponse), so that an etcd leader understands it too.
func (f *leaseForwarder) timeToLive(ctx context.Context, lead uint64, r *pb.LeaseTimeToLiveRequest) (*pb.LeaseTimeToLiveResponse, error) {
	inner, err := proto.Marshal(r)
	if err != nil {
		return nil, err
	}
	out, err := f.post(ctx, lead, peerLeasesInternalPath, wrapLeaseInternal(inner))
	if err != nil {
		return nil, err
	}
	if out, err = unwrapLeaseInternal(out); err != nil {
		return nil, fmt.Errorf("leader's time-to-live answer: %w", err)
	}
	var resp pb.LeaseTimeToLiveResponse
	if err := proto.Unmarshal(out, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}

// renewOne renews one lease on the leader's /leases, etcd's per-renewal
// endpoint: for a leader without basalt's batches (an etcd member).
func (f *leaseForwarder) renewOne(ctx context.Context, lead uint64, id int64) (int64, error) {
	body, err := proto.Marshal(&pb.LeaseKeepAliveRequest{ID: id})
	if err != nil {
		return -1, err
	}
	out, err := f.post(ctx, lead, peerLeasesPrefix, body)
	if err != nil {
		return -1, err
	}
	var resp pb.LeaseKeepAliveResponse
	if err := proto.Unmarshal(out, &resp); err != nil {
		return -1, err
	}
	return resp.TTL, nil
}

// post sends a protobuf request to the leader's peer endpoint and returns
// the answer. A lease the leader does not know comes back as 404; a
// leader that is no longer one as 412 (basalt) or 400 "not a primary
// lessor" (etcd).
func (f *leaseForwarder) post(ctx context.Context, lead uint64, path string, body []byte) ([]byte, error) {
	mem := f.cluster.Member(lead)
	if mem == nil || len(mem.PeerURLs) == 0 {
		return nil, errForwardFailed
	}
	cctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	for _, u := range mem.PeerURLs {
		a, err := callPeer(cctx, f.http, http.MethodPost, u+path, body, "application/protobuf", 0)
		switch {
		case err != nil:
			continue
		case a.status == http.StatusNotFound:
			return nil, lease.ErrLeaseNotFound
		case a.status == http.StatusPreconditionFailed,
			a.status == http.StatusBadRequest && strings.Contains(string(a.body), lease.ErrNotPrimary.Error()):
			return nil, serverr.ErrNotLeader
		case a.status != http.StatusOK:
			continue
		}
		return a.body, nil
	}
	return nil, errForwardFailed
}

// etcd's leasepb.LeaseInternalRequest and LeaseInternalResponse carry the
// time-to-live request and answer between members as their field 1.
const leaseInternalTag = 1<<3 | 2

func wrapLeaseInternal(inner []byte) []byte {
	b := binary.AppendUvarint([]byte{leaseInternalTag}, uint64(len(inner)))
	return append(b, inner...)
}

// unwrapLeaseInternal returns field 1 of a LeaseInternalRequest or
// Response (the last, as protobuf decodes), skipping unknown fields.
func unwrapLeaseInternal(b []byte) ([]byte, error) {
	var inner []byte
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		b = b[n:]
		if num == 1 && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, protowire.ParseError(n)
			}
			inner, b = v, b[n:]
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		b = b[n:]
	}
	return inner, nil
}

// serveLeases answers forwarded renewals and time-to-live requests.
func (m *Member) serveLeases(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if !m.IsLeader() {
		http.Error(w, serverr.ErrNotLeader.Error(), http.StatusPreconditionFailed)
		return
	}
	var resp proto.Message
	switch r.URL.Path {
	case peerLeasesPrefix:
		var req pb.LeaseKeepAliveRequest
		if err := proto.Unmarshal(data, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ttl, err := m.renewLocal(lease.ID(req.ID))
		if err != nil {
			writeLeaseError(w, err)
			return
		}
		resp = &pb.LeaseKeepAliveResponse{Header: &pb.ResponseHeader{}, ID: req.ID, TTL: ttl}
	case peerLeasesInternalPath:
		var req pb.LeaseTimeToLiveRequest
		inner, err := unwrapLeaseInternal(data)
		if err == nil {
			err = proto.Unmarshal(inner, &req)
		}
		if err != nil {
			http.Error(w, "error unmarshalling request", http.StatusBadRequest)
			return
		}
		ttlResp, err := m.leaseTimeToLiveLocal(&req)
		if err != nil {
			writeLeaseError(w, err)
			return
		}
		out, err := proto.Marshal(ttlResp)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/protobuf")
		_, _ = w.Write(wrapLeaseInternal(out))
		return
	default:
		http.NotFound(w, r)
		return
	}
	out, err := proto.Marshal(resp)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/protobuf")
	_, _ = w.Write(out)
}

func writeLeaseError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, lease.ErrLeaseNotFound):
		http.Error(w, err.Error(), http.StatusNotFound)
	case errors.Is(err, lease.ErrNotPrimary):
		http.Error(w, err.Error(), http.StatusPreconditionFailed)
	default:
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}
