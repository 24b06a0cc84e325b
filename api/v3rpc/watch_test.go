package v3rpc_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/metadata"

	"github.com/basaltkv/basalt/api/v3rpc"
	"github.com/basaltkv/basalt/pkg/testutil"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// next receives one watch response or fails the test.
func next(t *testing.T, wch clientv3.WatchChan) clientv3.WatchResponse {
	t.Helper()
	select {
	case wr, ok := <-wch:
		if !ok {
			t.Fatal("watch channel closed")
		}
		return wr
	case <-time.After(10 * time.Second):
		t.Fatal("no watch response")
	}
	panic("unreachable")
}

type ev struct {
	typ       mvccpb.Event_EventType
	key, val  string
	prevValue string
}

func events(wr clientv3.WatchResponse) []ev {
	var out []ev
	for _, e := range wr.Events {
		x := ev{typ: e.Type, key: string(e.Kv.Key), val: string(e.Kv.Value)}
		if e.PrevKv != nil {
			x.prevValue = string(e.PrevKv.Value)
		}
		out = append(out, x)
	}
	return out
}

func TestWatchEndToEnd(t *testing.T) {
	c := newCluster(t, v3rpc.Config{})
	cli := c.client
	wctx, cancel := context.WithCancel(ctx(t))
	defer cancel()

	if _, err := cli.Put(ctx(t), "a", "0"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		key  string
		opts []clientv3.OpOption
		want []ev
	}{
		{"one key", "a", nil, []ev{{typ: mvccpb.PUT, key: "a", val: "1"}, {typ: mvccpb.PUT, key: "a", val: "2"}, {typ: mvccpb.DELETE, key: "a"}}},
		{"prefix with prev kv", "", []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithPrevKV()}, []ev{
			{typ: mvccpb.PUT, key: "a", val: "1", prevValue: "0"},
			{typ: mvccpb.PUT, key: "b", val: "x"},
			{typ: mvccpb.PUT, key: "a", val: "2", prevValue: "1"},
			{typ: mvccpb.DELETE, key: "a", prevValue: "2"},
		}},
		{"from key", "b", []clientv3.OpOption{clientv3.WithFromKey()}, []ev{{typ: mvccpb.PUT, key: "b", val: "x"}}},
		{"no put", "a", []clientv3.OpOption{clientv3.WithFilterPut()}, []ev{{typ: mvccpb.DELETE, key: "a"}}},
		{"no delete", "a", []clientv3.OpOption{clientv3.WithFilterDelete()}, []ev{{typ: mvccpb.PUT, key: "a", val: "1"}, {typ: mvccpb.PUT, key: "a", val: "2"}}},
		{"history", "a", []clientv3.OpOption{clientv3.WithRev(2)}, []ev{{typ: mvccpb.PUT, key: "a", val: "0"}, {typ: mvccpb.PUT, key: "a", val: "1"}, {typ: mvccpb.PUT, key: "a", val: "2"}, {typ: mvccpb.DELETE, key: "a"}}},
	}
	chans := make([]clientv3.WatchChan, len(tests))
	for i, tt := range tests {
		chans[i] = cli.Watch(wctx, tt.key, append(tt.opts, clientv3.WithCreatedNotify())...)
		if wr := next(t, chans[i]); !wr.Created {
			t.Fatalf("%s: first response %+v is not the creation", tt.name, wr)
		}
	}
	for _, op := range []clientv3.Op{clientv3.OpPut("a", "1"), clientv3.OpPut("b", "x"), clientv3.OpPut("a", "2"), clientv3.OpDelete("a")} {
		if _, err := cli.Do(ctx(t), op); err != nil {
			t.Fatal(err)
		}
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []ev
			for len(got) < len(tt.want) {
				wr := next(t, chans[i])
				if err := wr.Err(); err != nil {
					t.Fatal(err)
				}
				checkHeader(t, wr.Header, 0)
				got = append(got, events(wr)...)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("got %v\nwant %v", got, tt.want)
			}
		})
	}
}

func TestWatchCompacted(t *testing.T) {
	c := newCluster(t, v3rpc.Config{})
	cli := c.client
	for i := range 5 {
		if _, err := cli.Put(ctx(t), "k", fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cli.Compact(ctx(t), 4); err != nil {
		t.Fatal(err)
	}
	wr := next(t, cli.Watch(ctx(t), "k", clientv3.WithRev(2)))
	if !wr.Canceled || wr.CompactRevision != 4 || !errors.Is(wr.Err(), rpctypes.ErrCompacted) {
		t.Fatalf("got %+v (err %v), want canceled at compact revision 4", wr, wr.Err())
	}
}

// rawWatch opens a Watch stream without clientv3 in between.
func rawWatch(t *testing.T, c *cluster) pb.Watch_WatchClient {
	t.Helper()
	s, err := pb.NewWatchClient(c.client.ActiveConnection()).Watch(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func recv(t *testing.T, s pb.Watch_WatchClient) *pb.WatchResponse {
	t.Helper()
	r, err := s.Recv()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func createReq(r *pb.WatchCreateRequest) *pb.WatchRequest {
	return &pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: r}}
}

func TestWatchCreateErrors(t *testing.T) {
	c := newCluster(t, v3rpc.Config{})
	s := rawWatch(t, c)
	tests := []struct {
		name       string
		req        *pb.WatchCreateRequest
		wantID     int64
		wantReason string
	}{
		{"chosen id", &pb.WatchCreateRequest{Key: []byte("a"), WatchId: 7}, 7, ""},
		{"duplicate id", &pb.WatchCreateRequest{Key: []byte("b"), WatchId: 7}, -1, "mvcc: duplicate watch ID provided on the WatchStream"},
		{"negative start revision", &pb.WatchCreateRequest{Key: []byte("a"), StartRevision: -1}, -1, "etcdserver: mvcc: required revision has been compacted"},
		{"empty range", &pb.WatchCreateRequest{Key: []byte("b"), RangeEnd: []byte("a")}, -1, "mvcc: watcher range is empty"},
		{"auto id", &pb.WatchCreateRequest{Key: []byte("a")}, 0, ""},
		{"empty key is the smallest", &pb.WatchCreateRequest{RangeEnd: []byte("\x00")}, 1, ""},
	}
	for _, tt := range tests {
		if err := s.Send(createReq(tt.req)); err != nil {
			t.Fatal(err)
		}
		r := recv(t, s)
		canceled := tt.wantReason != ""
		if !r.Created || r.Canceled != canceled || r.WatchId != tt.wantID || r.CancelReason != tt.wantReason {
			t.Errorf("%s: got %+v", tt.name, r)
		}
		checkHeader(t, r.Header, 1)
	}
	// Cancel a watcher, then an unknown one (no answer to that).
	for _, id := range []int64{7, 99, 0} {
		if err := s.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CancelRequest{CancelRequest: &pb.WatchCancelRequest{WatchId: id}}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []int64{7, 0} {
		if r := recv(t, s); !r.Canceled || r.WatchId != id {
			t.Fatalf("cancel %d: got %+v", id, r)
		}
	}
}

func TestWatchProgressRequest(t *testing.T) {
	c := newCluster(t, v3rpc.Config{})
	s := rawWatch(t, c)
	progress := &pb.WatchRequest{RequestUnion: &pb.WatchRequest_ProgressRequest{ProgressRequest: &pb.WatchProgressRequest{}}}
	// No watcher: nothing to report, as etcd.
	if err := s.Send(progress); err != nil {
		t.Fatal(err)
	}
	if err := s.Send(createReq(&pb.WatchCreateRequest{Key: []byte("a")})); err != nil {
		t.Fatal(err)
	}
	if r := recv(t, s); !r.Created {
		t.Fatalf("got %+v", r)
	}
	for i := range 3 {
		if _, err := c.client.Put(ctx(t), "other", fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	// The store's revision is 4; the watcher is synced: one stream-wide
	// notification at 4, with watch ID -1.
	testutil.WaitUntil(t, 10*time.Second, "a progress notification at revision 4", func() bool {
		if err := s.Send(progress); err != nil {
			t.Fatal(err)
		}
		r := recv(t, s)
		if r.WatchId != -1 || len(r.Events) != 0 || r.Created || r.Canceled {
			t.Fatalf("got %+v", r)
		}
		return r.Header.Revision == 4
	})

	// Through clientv3: RequestProgress reaches every watcher.
	wch := c.client.Watch(ctx(t), "a", clientv3.WithCreatedNotify())
	next(t, wch)
	if err := c.client.RequestProgress(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if wr := next(t, wch); !wr.IsProgressNotify() || wr.Header.Revision != 4 {
		t.Fatalf("got %+v", wr)
	}
}

// TestWatchProgressOrder checks that a stream-wide progress notification
// never claims a revision before events already sent, nor comes before
// events at or below its revision, while writes go on.
func TestWatchProgressOrder(t *testing.T) {
	c := newCluster(t, v3rpc.Config{})
	s := rawWatch(t, c)
	for _, k := range []string{"a", "b"} {
		if err := s.Send(createReq(&pb.WatchCreateRequest{Key: []byte(k), RangeEnd: []byte(k + "\xff")})); err != nil {
			t.Fatal(err)
		}
		if r := recv(t, s); !r.Created {
			t.Fatalf("got %+v", r)
		}
	}
	const writes = 200
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := range writes {
			k := "a"
			if i%2 == 1 {
				k = "b"
			}
			if _, err := c.client.Put(context.Background(), k+fmt.Sprint(i), "v"); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		for range 50 {
			if err := s.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_ProgressRequest{ProgressRequest: &pb.WatchProgressRequest{}}}); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	var lastEvent, lastProgress int64
	seen := 0
	for seen < writes {
		r := recv(t, s)
		if r.WatchId == -1 {
			if r.Header.Revision < lastEvent || r.Header.Revision < lastProgress {
				t.Fatalf("progress at %d after event %d / progress %d", r.Header.Revision, lastEvent, lastProgress)
			}
			lastProgress = r.Header.Revision
			continue
		}
		for _, e := range r.Events {
			if e.Kv.ModRevision <= lastProgress {
				t.Fatalf("event at %d after progress at %d", e.Kv.ModRevision, lastProgress)
			}
			lastEvent = max(lastEvent, e.Kv.ModRevision)
			seen++
		}
	}
	wg.Wait()
}

func TestWatchProgressNotify(t *testing.T) {
	c := newCluster(t, v3rpc.Config{WatchProgressNotifyInterval: 100 * time.Millisecond})
	if _, err := c.client.Put(ctx(t), "x", "1"); err != nil {
		t.Fatal(err)
	}
	wch := c.client.Watch(ctx(t), "k", clientv3.WithProgressNotify())
	wr := next(t, wch)
	if !wr.IsProgressNotify() || wr.Header.Revision != 2 {
		t.Fatalf("got %+v", wr)
	}
}

func TestWatchFragment(t *testing.T) {
	// Responses above MaxRequestBytes plus gRPC's overhead (512 KiB) are
	// fragmented for watchers that ask.
	c := newCluster(t, v3rpc.Config{MaxRequestBytes: 64 * 1024})
	val := strings.Repeat("v", 60*1024)
	const n = 20 // 1.2 MB of events, caught up in one response
	for i := range n {
		if _, err := c.client.Put(ctx(t), fmt.Sprintf("f/%02d", i), val); err != nil {
			t.Fatal(err)
		}
	}

	s := rawWatch(t, c)
	if err := s.Send(createReq(&pb.WatchCreateRequest{Key: []byte("f/"), RangeEnd: []byte("f0"), StartRevision: 1, Fragment: true})); err != nil {
		t.Fatal(err)
	}
	if r := recv(t, s); !r.Created {
		t.Fatalf("got %+v", r)
	}
	var got, frags int
	for got < n {
		r := recv(t, s)
		frags++
		got += len(r.Events)
		if r.Fragment != (got < n) {
			t.Fatalf("fragment %d: Fragment=%v with %d of %d events", frags, r.Fragment, got, n)
		}
	}
	if frags < 2 {
		t.Fatalf("%d events came in %d response(s), want fragments", n, frags)
	}

	// clientv3 reassembles.
	wr := next(t, c.client.Watch(ctx(t), "f/", clientv3.WithPrefix(), clientv3.WithRev(1), clientv3.WithFragment()))
	if len(wr.Events) != n {
		t.Fatalf("reassembled %d events, want %d", len(wr.Events), n)
	}
	// Without fragment the response comes whole.
	wr = next(t, c.client.Watch(ctx(t), "f/", clientv3.WithPrefix(), clientv3.WithRev(1)))
	if len(wr.Events) != n {
		t.Fatalf("got %d events, want %d", len(wr.Events), n)
	}
}

// A stream whose client requires a leader ends once the member has had
// none for three election timeouts.
func TestWatchRequireLeaderCancelled(t *testing.T) {
	c := newCluster(t, v3rpc.Config{ElectionTimeout: 20 * time.Millisecond})
	wch := c.client.Watch(clientv3.WithRequireLeader(ctx(t)), "k", clientv3.WithCreatedNotify())
	if wr := next(t, wch); !wr.Created {
		t.Fatalf("got %+v", wr)
	}
	c.m.SetLeader(0)
	for {
		wr, ok := <-wch
		if !ok {
			t.Fatal("watch closed without an error")
		}
		if err := wr.Err(); err != nil {
			if !errors.Is(err, rpctypes.ErrNoLeader) {
				t.Fatalf("watch ended with %v, want no leader", err)
			}
			return
		}
	}
}

// Watchers of one key on several streams all get the write, each under
// its own watch ID (clientv3 routes by it), whether the events are
// shared (encoded once) or the watcher's own (previous values).
func TestWatchManyStreamsOneWrite(t *testing.T) {
	c := newCluster(t, v3rpc.Config{})
	cli := c.client
	if _, err := cli.Put(ctx(t), "k", "old"); err != nil {
		t.Fatal(err)
	}
	type watch struct {
		name string
		ch   clientv3.WatchChan
		want ev
	}
	var watches []watch
	for s := range 3 {
		// Distinct metadata: clientv3 opens a stream per metadata.
		wctx, cancel := context.WithCancel(metadata.AppendToOutgoingContext(ctx(t), "stream", fmt.Sprint(s)))
		defer cancel()
		for i := range 4 {
			watches = append(watches, watch{fmt.Sprintf("stream %d watcher %d", s, i),
				cli.Watch(wctx, "k", clientv3.WithCreatedNotify()), ev{typ: mvccpb.PUT, key: "k", val: "new"}})
		}
		watches = append(watches,
			watch{fmt.Sprintf("stream %d prefix", s), cli.Watch(wctx, "", clientv3.WithPrefix(), clientv3.WithCreatedNotify()), ev{typ: mvccpb.PUT, key: "k", val: "new"}},
			watch{fmt.Sprintf("stream %d prev kv", s), cli.Watch(wctx, "k", clientv3.WithPrevKV(), clientv3.WithCreatedNotify()), ev{typ: mvccpb.PUT, key: "k", val: "new", prevValue: "old"}})
	}
	for _, w := range watches {
		if wr := next(t, w.ch); !wr.Created {
			t.Fatalf("%s: first response %+v is not the creation", w.name, wr)
		}
	}
	if _, err := cli.Put(ctx(t), "k", "new"); err != nil {
		t.Fatal(err)
	}
	for _, w := range watches {
		wr := next(t, w.ch)
		if err := wr.Err(); err != nil {
			t.Fatalf("%s: %v", w.name, err)
		}
		checkHeader(t, wr.Header, 0)
		if got := events(wr); fmt.Sprint(got) != fmt.Sprint([]ev{w.want}) {
			t.Errorf("%s: got %v, want %v", w.name, got, w.want)
		}
	}
}

// metricValue reads a gauge or counter without labels from the default
// registry.
func metricValue(t *testing.T, name string) float64 {
	t.Helper()
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name || len(mf.Metric) == 0 {
			continue
		}
		m := mf.Metric[0]
		if g := m.GetGauge(); g != nil {
			return g.GetValue()
		}
		return m.GetCounter().GetValue()
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// TestWatchEventsAccounted: every event the store hands a stream is
// reported to etcd_debugging_mvcc_{pending_events,events}_total, sent or
// not, so that nothing stays pending once the stream is gone.
func TestWatchEventsAccounted(t *testing.T) {
	c := newCluster(t, v3rpc.Config{})
	const pendingName, eventsName = "etcd_debugging_mvcc_pending_events_total", "etcd_debugging_mvcc_events_total"
	pending, sent := metricValue(t, pendingName), metricValue(t, eventsName)
	wctx, cancel := context.WithCancel(ctx(t))
	wch := c.client.Watch(wctx, "k", clientv3.WithPrefix(), clientv3.WithCreatedNotify())
	if wr := next(t, wch); !wr.Created {
		t.Fatalf("first response %+v is not the creation", wr)
	}
	const n = 50
	for i := range n {
		if _, err := c.client.Put(ctx(t), fmt.Sprintf("k%d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	next(t, wch)
	// Cancel with events still on their way.
	cancel()
	testutil.WaitUntil(t, 10*time.Second, "every event to be accounted for", func() bool {
		return metricValue(t, pendingName) == pending && metricValue(t, eventsName)-sent >= n
	})

	// A client that stops reading: the send loop blocks on flow control,
	// events queue up behind it, and the stream ends with them unsent.
	sctx, scancel := context.WithCancel(ctx(t))
	defer scancel()
	stream, err := pb.NewWatchClient(c.client.ActiveConnection()).Watch(sctx)
	if err != nil {
		t.Fatal(err)
	}
	create := &pb.WatchCreateRequest{Key: []byte("big/"), RangeEnd: []byte("big0")}
	if err := stream.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: create}}); err != nil {
		t.Fatal(err)
	}
	if resp, err := stream.Recv(); err != nil || !resp.Created {
		t.Fatalf("create: %v %v", resp, err)
	}
	big := strings.Repeat("x", 256<<10)
	for i := range 20 {
		if _, err := c.client.Put(ctx(t), fmt.Sprintf("big/%d", i), big); err != nil {
			t.Fatal(err)
		}
	}
	scancel()
	testutil.WaitUntil(t, 10*time.Second, "the unsent events to be accounted for", func() bool {
		return metricValue(t, pendingName) == pending
	})
}
