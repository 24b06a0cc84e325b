package rafthttp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/basaltkv/basalt/pkg/testutil"
	"github.com/basaltkv/basalt/raft"
	"github.com/basaltkv/basalt/raft/raftpb"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
)

// seq orders events across fakes, to check what happened before what.
var seq atomic.Int64

// fakeRaft records what the transport delivers and reports.
type fakeRaft struct {
	mu          sync.Mutex
	msgs        map[uint64][]raftpb.Message // by sender
	removed     map[uint64]bool
	unreachable map[uint64]int
	snapReports map[uint64][]raft.SnapshotStatus
	snapSeq     int64 // when a MsgSnap was processed
	// processErr, if set, fails every MsgSnap.
	processErr error
	counts     map[uint64]int
	discard    bool // count messages without keeping them
}

func newFakeRaft() *fakeRaft {
	return &fakeRaft{
		msgs:        make(map[uint64][]raftpb.Message),
		removed:     make(map[uint64]bool),
		unreachable: make(map[uint64]int),
		snapReports: make(map[uint64][]raft.SnapshotStatus),
		counts:      make(map[uint64]int),
	}
}

func (r *fakeRaft) setDiscard() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.discard = true
}

func (r *fakeRaft) Process(_ context.Context, m raftpb.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if m.Type == raftpb.MsgSnap {
		if r.processErr != nil {
			return r.processErr
		}
		r.snapSeq = seq.Add(1)
	}
	r.counts[m.From]++
	if !r.discard {
		r.msgs[m.From] = append(r.msgs[m.From], m)
	}
	return nil
}

func (r *fakeRaft) IsIDRemoved(id uint64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.removed[id]
}

func (r *fakeRaft) ReportUnreachable(id uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.unreachable[id]++
}

func (r *fakeRaft) ReportSnapshot(id uint64, status raft.SnapshotStatus) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.snapReports[id] = append(r.snapReports[id], status)
}

func (r *fakeRaft) setRemoved(id uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.removed[id] = true
}

func (r *fakeRaft) setProcessErr(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.processErr = err
}

func (r *fakeRaft) count(from uint64) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counts[from]
}

func (r *fakeRaft) countType(from uint64, typ raftpb.MessageType) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.msgs[from] {
		if m.Type == typ {
			n++
		}
	}
	return n
}

func (r *fakeRaft) received(from uint64) []raftpb.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]raftpb.Message(nil), r.msgs[from]...)
}

func (r *fakeRaft) unreachableCount(id uint64) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.unreachable[id]
}

func (r *fakeRaft) snapshotReports(id uint64) []raft.SnapshotStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]raft.SnapshotStatus(nil), r.snapReports[id]...)
}

// memSink keeps received databases in memory.
type memSink struct {
	mu   sync.Mutex
	dbs  map[uint64][]byte
	seqs map[uint64]int64 // when each was saved
	err  error            // returned after reading everything, if set
}

func newMemSink() *memSink {
	return &memSink{dbs: make(map[uint64][]byte), seqs: make(map[uint64]int64)}
}

func (s *memSink) SaveSnapshotDB(index uint64, r io.Reader) (int64, error) {
	var buf bytes.Buffer
	n, err := io.Copy(&buf, r)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		err = s.err
	}
	if err != nil {
		return n, err
	}
	s.dbs[index] = buf.Bytes()
	s.seqs[index] = seq.Add(1)
	return n, nil
}

func (s *memSink) setErr(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.err = err
}

func (s *memSink) get(index uint64) ([]byte, int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	db, ok := s.dbs[index]
	return db, s.seqs[index], ok
}

// funcSource opens databases with a function.
type funcSource func(index uint64) (int64, io.ReadCloser, error)

func (f funcSource) OpenSnapshotDB(index uint64) (int64, io.ReadCloser, error) { return f(index) }

// bytesSource serves one database for every index.
func bytesSource(db []byte) funcSource {
	return func(uint64) (int64, io.ReadCloser, error) {
		return int64(len(db)), io.NopCloser(bytes.NewReader(db)), nil
	}
}

// gate is an HTTP handler in front of a transport's that can play dead:
// while down it closes every connection it is given without answering.
type gate struct {
	h       http.Handler
	down    atomic.Bool
	mu      sync.Mutex
	streams []time.Time // arrival of every stream request
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == streamPath {
		g.mu.Lock()
		g.streams = append(g.streams, time.Now())
		g.mu.Unlock()
	}
	if g.down.Load() {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	g.h.ServeHTTP(w, r)
}

func (g *gate) streamAttempts() []time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]time.Time(nil), g.streams...)
}

// member is one transport with its listener and fakes.
type member struct {
	id     uint64
	tr     *Transport
	raft   *fakeRaft
	sink   *memSink
	gate   *gate
	srv    *httptest.Server
	url    string
	closed atomic.Bool
}

type memberOpts struct {
	clusterID uint64
	source    SnapshotSource
	tune      func(*timing)
	serverTLS bool
	clientTLS *testCA
	logger    *zap.Logger
	// localIP is the address its connections come from; wrap, if set,
	// wraps the handler its listener serves.
	localIP string
	wrap    func(http.Handler) http.Handler
}

func newMember(t testing.TB, id uint64, o memberOpts) *member {
	t.Helper()
	if o.clusterID == 0 {
		o.clusterID = 0xc1
	}
	lg := o.logger
	if lg == nil {
		lg = zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel))
	}
	m := &member{id: id, raft: newFakeRaft(), sink: newMemSink()}
	cfg := Config{
		ID:        id,
		ClusterID: o.clusterID,
		Raft:      m.raft,
		Source:    o.source,
		Sink:      m.sink,
		Logger:    lg,
		LocalIP:   o.localIP,
	}
	if o.clientTLS != nil {
		cfg.TLS = o.clientTLS.clientConfig()
	}
	m.tr = New(cfg)
	if o.tune != nil {
		o.tune(&m.tr.timing)
		m.tr.buildRoundTrippers()
	}
	m.gate = &gate{h: m.tr.Handler()}
	if o.wrap != nil {
		m.gate.h = o.wrap(m.gate.h)
	}
	if o.serverTLS {
		m.srv = httptest.NewUnstartedServer(m.gate)
		m.srv.TLS = o.clientTLS.serverConfig(t)
		m.srv.StartTLS()
	} else {
		m.srv = httptest.NewServer(m.gate)
	}
	m.url = m.srv.URL
	t.Cleanup(m.close)
	return m
}

// close stops the transport, then the listener.
func (m *member) close() {
	if m.closed.Swap(true) {
		return
	}
	m.tr.Stop()
	m.srv.Close()
}

// connectAll makes every member a peer of every other and waits until all
// streams are up.
func connectAll(t testing.TB, ms ...*member) {
	t.Helper()
	for _, a := range ms {
		for _, b := range ms {
			if a != b {
				a.tr.AddPeer(b.id, []string{b.url})
			}
		}
	}
	for _, a := range ms {
		for _, b := range ms {
			if a != b {
				waitConnected(t, a, b)
			}
		}
	}
}

func waitConnected(t testing.TB, a, b *member) {
	t.Helper()
	testutil.WaitUntil(t, 10*time.Second, fmt.Sprintf("stream %x->%x", a.id, b.id), func() bool {
		return !a.tr.ActiveSince(b.id).IsZero()
	})
}

func app(from, to, index uint64) raftpb.Message {
	return raftpb.Message{
		Type: raftpb.MsgApp, From: from, To: to, Term: 3, LogTerm: 3, Index: index, Commit: index,
		Entries: []raftpb.Entry{{Term: 3, Index: index + 1, Data: []byte("some entry data of moderate size")}},
	}
}

func heartbeat(from, to uint64, commit uint64) raftpb.Message {
	return raftpb.Message{Type: raftpb.MsgHeartbeat, From: from, To: to, Term: 3, Commit: commit}
}

// sendWindowed sends n MsgApps from a to b, keeping at most window of them
// unacknowledged so that no queue overflows.
func sendWindowed(t testing.TB, a, b *member, n, window int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		if i-b.raft.count(a.id) > window {
			deadline := time.Now().Add(10 * time.Second)
			for i-b.raft.count(a.id) > window/2 {
				if time.Now().After(deadline) {
					t.Errorf("%x->%x: stuck at %d of %d delivered", a.id, b.id, b.raft.count(a.id), i)
					return
				}
				time.Sleep(200 * time.Microsecond)
			}
		}
		a.tr.Send([]raftpb.Message{app(a.id, b.id, uint64(i))})
	}
}

// checkInOrder checks that b received exactly n MsgApps from a, in order.
func checkInOrder(t testing.TB, a, b *member, n int) {
	t.Helper()
	msgs := b.raft.received(a.id)
	if len(msgs) != n {
		t.Fatalf("%x->%x: received %d messages, want %d", a.id, b.id, len(msgs), n)
	}
	for i, m := range msgs {
		if m.Index != uint64(i+1) || m.To != b.id || m.Type != raftpb.MsgApp || len(m.Entries) != 1 {
			t.Fatalf("%x->%x: message %d is %s", a.id, b.id, i, raft.DescribeMessage(m))
		}
	}
}

// checkNoLeak waits for the goroutine count to come back to base.
func checkNoLeak(t testing.TB, base int) {
	t.Helper()
	err := testutil.Poll(10*time.Second, func() error {
		if n := runtime.NumGoroutine(); n > base {
			return fmt.Errorf("%d goroutines, %d before the test", n, base)
		}
		return nil
	})
	if err != nil {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		t.Fatalf("%v:\n%s", err, interesting(string(buf)))
	}
}

// interesting drops the test framework's own goroutines from a dump.
func interesting(dump string) string {
	var out []string
	for _, g := range strings.Split(dump, "\n\n") {
		if strings.Contains(g, "testing.(*T).Run") || strings.Contains(g, "testing.tRunner") && strings.Contains(g, "checkNoLeak") {
			continue
		}
		out = append(out, g)
	}
	return strings.Join(out, "\n\n")
}

// freePortClosed returns an address nothing listens on.
func freePortClosed(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

var errTest = errors.New("injected failure")

// restartMember starts a new transport for id listening on addr, or
// returns nil if addr cannot be had.
func restartMember(t testing.TB, id uint64, addr string) *member {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil
	}
	m := &member{id: id, raft: newFakeRaft(), sink: newMemSink()}
	m.tr = New(Config{ID: id, ClusterID: 0xc1, Raft: m.raft, Sink: m.sink,
		Logger: zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel))})
	fastBackoff(&m.tr.timing)
	m.tr.buildRoundTrippers()
	m.gate = &gate{h: m.tr.Handler()}
	m.srv = httptest.NewUnstartedServer(m.gate)
	m.srv.Listener.Close()
	m.srv.Listener = l
	m.srv.Start()
	m.url = m.srv.URL
	t.Cleanup(m.close)
	return m
}

// metricValue reads a counter or gauge, or a histogram's sample count.
func metricValue(c prometheus.Metric) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return 0
}
