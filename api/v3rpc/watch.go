package v3rpc

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/basaltkv/basalt/auth"
	"go.uber.org/zap"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/basaltkv/basalt/storage/mvcc"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// DefaultWatchProgressNotifyInterval is how often an idle watcher that
// asked for progress notifications gets one (etcd's default).
const DefaultWatchProgressNotifyInterval = 10 * time.Minute

// minWatchProgressNotifyInterval is the shortest interval accepted.
const minWatchProgressNotifyInterval = 100 * time.Millisecond

// progressWatchID is the watch ID of a stream-wide progress notification:
// it speaks for every watcher of the stream (clientv3's InvalidWatchID).
const progressWatchID = -1

// ctrlBufLen bounds the control responses (created, canceled, progress
// requests) queued between the receive and send loops: clients send few.
const ctrlBufLen = 16

type watchServer struct {
	pb.UnimplementedWatchServer
	m   Member
	hdr header
	lg  *zap.Logger
	// fragmentBytes is the response size beyond which a watcher that
	// asked for fragments gets its events split over several responses.
	fragmentBytes    int
	progressInterval time.Duration
}

// progressTick is the progress interval plus up to a tenth of jitter, so
// that the watchers of clients that restarted together do not all get
// their notifications at the same moment.
func (s *watchServer) progressTick() time.Duration {
	return s.progressInterval + time.Duration(rand.Int64N(int64(s.progressInterval)/10+1))
}

// watchOptions are a watcher's per-response options.
type watchOptions struct {
	prevKV   bool
	fragment bool
	// progress is set for watchers that asked for progress notifications.
	progress bool
}

// ctrlMsg is a control message from the receive loop to the send loop:
// a created/canceled response, or a stream-wide progress request.
type ctrlMsg struct {
	resp        *pb.WatchResponse
	progressAll bool
}

// watchStream serves one gRPC Watch stream: a receive loop turns requests
// into watchers of one mvcc.WatchStream, and a send loop forwards their
// events and the control responses, in order, to the client.
type watchStream struct {
	s      *watchServer
	grpc   pb.Watch_WatchServer
	ws     *mvcc.WatchStream
	ctrl   chan ctrlMsg
	closec chan struct{}
	wg     sync.WaitGroup
	// st is the send loop's, and Watch's once the send loop has ended.
	st *sendState

	mu struct {
		sync.Mutex
		opts map[mvcc.WatchID]watchOptions
		// progressDue marks watchers owed a progress notification at the
		// next tick: cleared when they receive events meanwhile.
		progressDue map[mvcc.WatchID]bool
	}
}

func (s *watchServer) Watch(stream pb.Watch_WatchServer) error {
	sws := &watchStream{
		s:      s,
		grpc:   stream,
		ws:     s.m.Store().NewWatchStream(),
		ctrl:   make(chan ctrlMsg, ctrlBufLen),
		closec: make(chan struct{}),
		st:     &sendState{announced: map[mvcc.WatchID]struct{}{}, pending: map[mvcc.WatchID][]*pb.WatchResponse{}},
	}
	sws.mu.opts = map[mvcc.WatchID]watchOptions{}
	sws.mu.progressDue = map[mvcc.WatchID]bool{}

	sws.wg.Add(1)
	go func() {
		defer sws.wg.Done()
		sws.sendLoop()
	}()

	// The receive loop is not waited for: Recv may go on blocking after
	// the stream's context ends.
	errc := make(chan error, 1)
	go func() {
		if err := sws.recvLoop(); err != nil {
			if isClientCtxErr(stream.Context().Err(), err) {
				s.lg.Debug("failed to receive watch request from gRPC stream", zap.Error(err))
			} else {
				s.lg.Warn("failed to receive watch request from gRPC stream", zap.Error(err))
				streamFailures.WithLabelValues("receive", "watch").Inc()
			}
			errc <- err
		}
	}()

	var err error
	select {
	case err = <-errc:
		close(sws.ctrl)
	case <-stream.Context().Done():
		// A cancellation by the server (no leader) carries its reason.
		err = stream.Context().Err()
	}
	if errors.Is(err, context.Canceled) {
		err = rpctypes.ErrGRPCWatchCanceled
	}
	sws.ws.Close()
	close(sws.closec)
	sws.wg.Wait()
	sws.dropUnsent()
	return err
}

// dropUnsent reports the events left unsent to the store's metrics: those
// held for watchers never announced, and those still queued, to which the
// closed stream adds no more.
func (sws *watchStream) dropUnsent() {
	for _, rs := range sws.st.pending {
		for _, r := range rs {
			mvcc.EventsReceived(len(r.Events))
		}
	}
	for {
		select {
		case wr := <-sws.ws.Chan():
			mvcc.EventsReceived(len(wr.Events))
		default:
			return
		}
	}
}

// header returns a response header at rev.
func (sws *watchStream) header(rev int64) *pb.ResponseHeader {
	h := &pb.ResponseHeader{Revision: rev}
	sws.s.hdr.fillWithoutRevision(h)
	return h
}

// queue hands a control message to the send loop; false once the stream
// is closing.
func (sws *watchStream) queue(c ctrlMsg) bool {
	select {
	case sws.ctrl <- c:
		return true
	case <-sws.closec:
		return false
	}
}

func (sws *watchStream) recvLoop() error {
	for {
		req, err := sws.grpc.Recv()
		if errors.Is(err, io.EOF) {
			// The client closed its side; it may still be reading.
			return nil
		}
		if err != nil {
			return err
		}
		var c ctrlMsg
		switch u := req.RequestUnion.(type) {
		case *pb.WatchRequest_CreateRequest:
			if u.CreateRequest == nil {
				continue
			}
			c.resp = sws.create(u.CreateRequest)
		case *pb.WatchRequest_CancelRequest:
			if u.CancelRequest == nil {
				continue
			}
			id := mvcc.WatchID(u.CancelRequest.WatchId)
			if err := sws.ws.Cancel(id); err != nil {
				continue // unknown watcher: nothing to say, as etcd
			}
			sws.forget(id)
			c.resp = &pb.WatchResponse{Header: sws.header(sws.ws.Rev()), WatchId: int64(id), Canceled: true}
		case *pb.WatchRequest_ProgressRequest:
			if u.ProgressRequest == nil || !sws.hasWatchers() {
				// With no watcher there is nothing to report, as in etcd.
				continue
			}
			c.progressAll = true
		default:
			// An unknown request does not end the stream.
			sws.s.lg.Info("invalid watch request type received in gRPC stream")
			continue
		}
		if !sws.queue(c) {
			return nil
		}
	}
}

// create adds a watcher and returns the response announcing it (or its
// failure: Created and Canceled, with the reason).
func (sws *watchStream) create(r *pb.WatchCreateRequest) *pb.WatchResponse {
	failed := func(reason string) *pb.WatchResponse {
		return &pb.WatchResponse{
			Header:       sws.header(sws.ws.Rev()),
			WatchId:      progressWatchID,
			Created:      true,
			Canceled:     true,
			CancelReason: reason,
		}
	}
	if err := sws.permitted(r); err != nil {
		return failed(watchCancelReason(err))
	}
	if r.StartRevision < 0 {
		return failed(rpctypes.ErrCompacted.Error())
	}
	key := r.Key
	if len(key) == 0 {
		key = []byte{0} // the smallest key
	}
	// nil: the single key; empty: every key from key on.
	var end []byte
	switch {
	case len(r.RangeEnd) == 0:
	case len(r.RangeEnd) == 1 && r.RangeEnd[0] == 0:
		end = []byte{}
	default:
		end = r.RangeEnd
	}
	var filters []mvcc.FilterFunc
	for _, f := range r.Filters {
		switch f {
		case pb.WatchCreateRequest_NOPUT:
			filters = append(filters, mvcc.FilterNoPut)
		case pb.WatchCreateRequest_NODELETE:
			filters = append(filters, mvcc.FilterNoDelete)
		}
	}
	// The client's watch ID 0 asks the server to choose, as in etcd.
	id := mvcc.WatchID(r.WatchId)
	if id == 0 {
		id = mvcc.AutoWatchID
	}
	// Options are recorded before the watcher exists: its first events
	// may reach the send loop before Watch returns.
	sws.mu.Lock()
	id, err := sws.ws.Watch(id, key, end, r.StartRevision, filters...)
	if err == nil {
		sws.mu.opts[id] = watchOptions{prevKV: r.PrevKv, fragment: r.Fragment, progress: r.ProgressNotify}
		if r.ProgressNotify {
			sws.mu.progressDue[id] = true
		}
	}
	sws.mu.Unlock()
	if err != nil {
		return failed(err.Error())
	}
	return &pb.WatchResponse{Header: sws.header(sws.ws.Rev()), WatchId: int64(id), Created: true}
}

func (sws *watchStream) hasWatchers() bool {
	sws.mu.Lock()
	defer sws.mu.Unlock()
	return len(sws.mu.opts) > 0
}

func (sws *watchStream) forget(id mvcc.WatchID) {
	sws.mu.Lock()
	delete(sws.mu.opts, id)
	delete(sws.mu.progressDue, id)
	sws.mu.Unlock()
}

func (sws *watchStream) options(id mvcc.WatchID) watchOptions {
	o, _ := sws.lookup(id)
	return o
}

// lookup returns a watcher's options, and whether it is still watching.
func (sws *watchStream) lookup(id mvcc.WatchID) (watchOptions, bool) {
	sws.mu.Lock()
	defer sws.mu.Unlock()
	o, ok := sws.mu.opts[id]
	return o, ok
}

// sendState is the send loop's own bookkeeping.
type sendState struct {
	// announced holds the watchers whose Created response was sent.
	announced map[mvcc.WatchID]struct{}
	// pending holds responses of watchers not yet announced: a client
	// must learn of a watcher before its events.
	pending map[mvcc.WatchID][]*pb.WatchResponse
}

func (sws *watchStream) sendLoop() {
	st := sws.st
	ticker := time.NewTicker(sws.s.progressTick())
	defer ticker.Stop()
	for {
		var err error
		select {
		case wr := <-sws.ws.Chan():
			err = sws.sendEvents(st, wr)
		case c, ok := <-sws.ctrl:
			if !ok {
				return
			}
			if c.progressAll {
				err = sws.sendProgressAll(st)
				break
			}
			start := time.Now()
			if err = sws.sendCtrl(st, c.resp); err == nil {
				watchSendLoopControlStreamSec.Observe(time.Since(start).Seconds())
			}
		case <-ticker.C:
			start := time.Now()
			sws.mu.Lock()
			for id, due := range sws.mu.progressDue {
				if due {
					sws.ws.RequestProgress(id)
				}
				sws.mu.progressDue[id] = true
			}
			sws.mu.Unlock()
			watchSendLoopProgressSec.Observe(time.Since(start).Seconds())
		case <-sws.closec:
			return
		}
		if err != nil {
			if isClientCtxErr(sws.grpc.Context().Err(), err) {
				sws.s.lg.Debug("failed to send watch response to gRPC stream", zap.Error(err))
			} else {
				sws.s.lg.Warn("failed to send watch response to gRPC stream", zap.Error(err))
				streamFailures.WithLabelValues("send", "watch").Inc()
			}
			return
		}
	}
}

func (sws *watchStream) sendCtrl(st *sendState, r *pb.WatchResponse) error {
	if err := sws.grpc.Send(r); err != nil {
		return err
	}
	id := mvcc.WatchID(r.WatchId)
	switch {
	case r.Canceled && r.Created:
		// A watcher that was never created.
	case r.Canceled:
		delete(st.announced, id)
		for _, p := range st.pending[id] {
			mvcc.EventsReceived(len(p.Events))
		}
		delete(st.pending, id)
	case r.Created:
		st.announced[id] = struct{}{}
		opts := sws.options(id)
		for _, p := range st.pending[id] {
			mvcc.EventsReceived(len(p.Events))
			if err := sws.send(p, opts); err != nil {
				return err
			}
		}
		delete(st.pending, id)
	}
	return nil
}

// sendEvents forwards one mvcc response: events (with their previous
// values if asked), a progress notification, or a compaction cancel. Its
// events are reported to the store's metrics as they are sent or
// dropped; held for a watcher not yet announced, as they leave st.pending.
func (sws *watchStream) sendEvents(st *sendState, wr mvcc.WatchResponse) error {
	start := time.Now()
	opts, known := sws.lookup(wr.WatchID)
	evs := wr.Events
	if opts.prevKV && len(evs) > 0 {
		evs = sws.withPrevKVs(evs)
	}
	resp := &pb.WatchResponse{
		Header:          sws.header(wr.Revision),
		WatchId:         int64(wr.WatchID),
		Events:          evs,
		CompactRevision: wr.CompactRevision,
		Canceled:        wr.CompactRevision != 0,
	}
	if resp.Canceled {
		// History the watcher needs is gone: the store dropped it; free
		// its ID too.
		_ = sws.ws.Cancel(wr.WatchID)
		sws.forget(wr.WatchID)
		defer delete(st.announced, wr.WatchID)
	}
	if wr.WatchID != progressWatchID {
		if _, ok := st.announced[wr.WatchID]; !ok {
			if known {
				// Created, not yet announced: hold until it is.
				st.pending[wr.WatchID] = append(st.pending[wr.WatchID], resp)
				return nil
			}
			// Else cancelled meanwhile: nothing left to tell.
			mvcc.EventsReceived(len(wr.Events))
			return nil
		}
	}
	mvcc.EventsReceived(len(wr.Events))
	if err := sws.send(resp, opts); err != nil {
		return err
	}
	took := time.Since(start).Seconds()
	watchSendLoopWatchStreamSec.Observe(took)
	if n := len(wr.Events); n > 0 {
		watchSendLoopWatchStreamPerEventSec.Observe(took / float64(n))
	}
	if len(evs) > 0 {
		sws.mu.Lock()
		if _, ok := sws.mu.progressDue[wr.WatchID]; ok {
			// Events are progress enough until the next tick.
			sws.mu.progressDue[wr.WatchID] = false
		}
		sws.mu.Unlock()
	}
	return nil
}

// send sends a response, in fragments if its watcher asked for them.
// Events straight from the store are encoded once for all their watchers
// (watch_encode.go); copies with previous values are the watcher's own.
// opts are the options of r's watcher.
func (sws *watchStream) send(r *pb.WatchResponse, opts watchOptions) error {
	switch {
	case r.WatchId == progressWatchID:
		return sws.grpc.Send(r)
	case opts.fragment:
		return sendFragments(r, sws.s.fragmentBytes, sws.grpc.Send)
	case len(r.Events) == 0 || opts.prevKV:
		return sws.grpc.Send(r)
	}
	enc, err := sharedEvents.encode(r)
	if err != nil {
		return err
	}
	return sws.grpc.SendMsg(enc)
}

// withPrevKVs returns copies of the events with each key's previous value
// (read at the revision before the event) attached. The events are
// shared with other watchers and must not be changed in place. A
// previous value lost to compaction is left out, as in etcd.
func (sws *watchStream) withPrevKVs(evs []*mvccpb.Event) []*mvccpb.Event {
	txn := sws.s.m.Store().Read()
	defer txn.End()
	out := make([]*mvccpb.Event, len(evs))
	for i, e := range evs {
		c := &mvccpb.Event{Type: e.Type, Kv: e.Kv}
		out[i] = c
		if e.Type == mvccpb.Event_PUT && e.Kv.CreateRevision == e.Kv.ModRevision {
			continue // a creation has no previous value
		}
		res, err := txn.Range(e.Kv.Key, nil, mvcc.RangeOptions{Rev: e.Kv.ModRevision - 1})
		if err == nil && len(res.KVs) > 0 {
			c.PrevKv = res.KVs[0]
		}
	}
	return out
}

// sendProgressAll answers a client's progress request with one
// notification for the whole stream, at a revision every watcher of the
// stream has caught up to; while one is catching up, the request goes
// unanswered, as in etcd (its next events carry the progress).
//
// The notification must follow every event at or below its revision and
// precede every event above it. Events at or below rev were all queued on
// the mvcc stream before AllSynced returned, events above it only after:
// so the queue is drained until it is empty or shows an event above rev,
// and the notification goes out just before that event.
func (sws *watchStream) sendProgressAll(st *sendState) error {
	synced, rev := sws.ws.AllSynced()
	if !synced {
		return nil
	}
	progress := &pb.WatchResponse{Header: sws.header(rev), WatchId: progressWatchID}
	sendProgress := func() error {
		start := time.Now()
		if err := sws.grpc.Send(progress); err != nil {
			return err
		}
		watchSendLoopWatchStreamSec.Observe(time.Since(start).Seconds())
		return nil
	}
	for {
		select {
		case wr := <-sws.ws.Chan():
			if wr.Revision > rev {
				if err := sendProgress(); err != nil {
					return err
				}
				return sws.sendEvents(st, wr)
			}
			if err := sws.sendEvents(st, wr); err != nil {
				return err
			}
		default:
			return sendProgress()
		}
	}
}

// sendFragments splits a response too large for one message over several,
// each with Fragment set but the last; a response with a single event is
// sent whole whatever its size. A fragment takes events while it stays
// under limit, and always at least one.
func sendFragments(r *pb.WatchResponse, limit int, send func(*pb.WatchResponse) error) error {
	if proto.Size(r) < limit || len(r.Events) < 2 {
		return send(r)
	}
	// The encoded size of a response is that of its other fields plus,
	// per event, the event's own size with its tag and length prefix.
	fragment := func(evs []*mvccpb.Event, more bool) *pb.WatchResponse {
		return &pb.WatchResponse{
			Header:          r.Header,
			WatchId:         r.WatchId,
			Created:         r.Created,
			Canceled:        r.Canceled,
			CompactRevision: r.CompactRevision,
			CancelReason:    r.CancelReason,
			Fragment:        more,
			Events:          evs,
		}
	}
	base := proto.Size(fragment(nil, true))
	eventTag := protowire.SizeTag(watchResponseEventsField)
	rest := r.Events
	for len(rest) > 0 {
		size, n := base, 0
		for n < len(rest) {
			size += eventTag + protowire.SizeBytes(proto.Size(rest[n]))
			if n > 0 && size >= limit {
				break
			}
			n++
		}
		// A new message per fragment: send may hold on to it.
		evs := rest[:n]
		rest = rest[n:]
		if err := send(fragment(evs, len(rest) > 0)); err != nil {
			return err
		}
	}
	return nil
}

// watchResponseEventsField is the field number of WatchResponse.events.
const watchResponseEventsField = 11

// permitted checks that the stream's user may read what r watches.
func (sws *watchStream) permitted(r *pb.WatchCreateRequest) error {
	ctx, err := watchAuthContext(sws.grpc.Context(), sws.s.m)
	if err != nil {
		return err
	}
	return sws.s.m.CheckRange(ctx, r.Key, r.RangeEnd)
}

// watchCancelReason is the reason a refused watch is cancelled with: the
// auth error's gRPC message, as etcd's, which tells clients to get a new
// token (invalid token, old revision) or not (permission denied).
func watchCancelReason(err error) string {
	switch {
	case errors.Is(err, auth.ErrInvalidAuthToken):
		return rpctypes.ErrGRPCInvalidAuthToken.Error()
	case errors.Is(err, auth.ErrAuthOldRevision):
		return rpctypes.ErrGRPCAuthOldRevision.Error()
	case errors.Is(err, auth.ErrUserEmpty):
		return rpctypes.ErrGRPCUserEmpty.Error()
	}
	return rpctypes.ErrGRPCPermissionDenied.Error()
}
