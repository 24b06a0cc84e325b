package rafthttp

import (
	"bytes"
	"crypto/rand"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/basaltkv/basalt/pkg/testutil"
	"github.com/basaltkv/basalt/raft"
	"github.com/basaltkv/basalt/raft/raftpb"
)

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func snapMsg(from, to, index uint64) raftpb.Message {
	return raftpb.Message{
		Type: raftpb.MsgSnap, From: from, To: to, Term: 3,
		Snapshot: &raftpb.Snapshot{
			Data: []byte("membership and v2 store"),
			Metadata: raftpb.SnapshotMetadata{
				Index: index, Term: 3, ConfState: raftpb.ConfState{Voters: []uint64{1, 2}},
			},
		},
	}
}

// gatedReader hands out its data one step at a time: before each step it
// says where it is on reached and waits for the test on release.
type gatedReader struct {
	data     []byte
	off      int
	step     int
	nextGate int
	reached  chan int
	release  chan struct{}
	once     sync.Once
	closed   chan struct{}
}

func newGatedReader(data []byte, step int) *gatedReader {
	return &gatedReader{data: data, step: step, reached: make(chan int), release: make(chan struct{}), closed: make(chan struct{})}
}

func (g *gatedReader) Read(p []byte) (int, error) {
	if g.off == len(g.data) {
		return 0, io.EOF
	}
	if g.off == g.nextGate {
		select {
		case g.reached <- g.off:
		case <-g.closed:
			return 0, errTest
		}
		select {
		case <-g.release:
		case <-g.closed:
			return 0, errTest
		}
		g.nextGate += g.step
	}
	n := copy(p, g.data[g.off:min(g.nextGate, len(g.data))])
	g.off += n
	return n, nil
}

func (g *gatedReader) Close() error {
	g.once.Do(func() { close(g.closed) })
	return nil
}

// A snapshot of several MB travels while heartbeats keep flowing on the
// stream: the database is held back step by step, and each step waits for
// a heartbeat to arrive first.
func TestSnapshotDoesNotBlockHeartbeats(t *testing.T) {
	const size, step = 8 << 20, 1 << 20
	db := randomBytes(t, size)
	reader := newGatedReader(db, step)
	t.Cleanup(func() { reader.Close() })
	source := funcSource(func(index uint64) (int64, io.ReadCloser, error) {
		if index != 77 {
			t.Errorf("source asked for index %d, want 77", index)
		}
		return size, reader, nil
	})
	a := newMember(t, 1, memberOpts{source: source})
	b := newMember(t, 2, memberOpts{})
	connectAll(t, a, b)
	sendOK := metricValue(snapshotSend.WithLabelValues("2"))
	recvOK := metricValue(snapshotReceive.WithLabelValues("1"))

	a.tr.Send([]raftpb.Message{snapMsg(1, 2, 77)})
	for i := 0; i < size/step; i++ {
		select {
		case off := <-reader.reached:
			if off != i*step {
				t.Fatalf("reader at %d, want %d", off, i*step)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("snapshot transfer stalled before step %d", i)
		}
		a.tr.Send([]raftpb.Message{heartbeat(1, 2, uint64(i))})
		testutil.WaitUntil(t, 5*time.Second, "heartbeat during the snapshot", func() bool {
			return b.raft.countType(1, raftpb.MsgHeartbeat) == i+1
		})
		if b.raft.countType(1, raftpb.MsgSnap) != 0 {
			t.Fatal("MsgSnap delivered before its database was complete")
		}
		reader.release <- struct{}{}
	}

	testutil.WaitUntil(t, 10*time.Second, "snapshot report", func() bool { return len(a.raft.snapshotReports(2)) > 0 })
	if got := a.raft.snapshotReports(2); len(got) != 1 || got[0] != raft.SnapshotFinish {
		t.Fatalf("snapshot reports %v, want [SnapshotFinish]", got)
	}
	got, savedAt, ok := b.sink.get(77)
	if !ok || !bytes.Equal(got, db) {
		t.Fatalf("sink has %d bytes (saved %v), want the %d sent", len(got), ok, len(db))
	}
	b.raft.mu.Lock()
	processedAt := b.raft.snapSeq
	b.raft.mu.Unlock()
	if processedAt <= savedAt {
		t.Fatal("MsgSnap reached raft before the sink saved its database")
	}
	if msgs := b.raft.received(1); msgs[len(msgs)-1].Snapshot.Metadata.Index != 77 {
		t.Fatalf("last message is %s", raft.DescribeMessage(msgs[len(msgs)-1]))
	}
	if d := metricValue(snapshotSend.WithLabelValues("2")) - sendOK; d != 1 {
		t.Errorf("etcd_network_snapshot_send_success{To=2} grew by %v", d)
	}
	if d := metricValue(snapshotReceive.WithLabelValues("1")) - recvOK; d != 1 {
		t.Errorf("etcd_network_snapshot_receive_success{From=1} grew by %v", d)
	}
}

// failingReader fails after some bytes.
type failingReader struct{ left int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.left == 0 {
		return 0, errTest
	}
	n := min(len(p), f.left)
	clear(p[:n])
	f.left -= n
	return n, nil
}

func (f *failingReader) Close() error { return nil }

func TestSnapshotFailureReported(t *testing.T) {
	const size = 1 << 20
	db := make([]byte, size)
	cases := []struct {
		name   string
		source funcSource
		setup  func(b *member)
	}{
		{name: "sink fails", source: bytesSource(db), setup: func(b *member) { b.sink.setErr(errTest) }},
		{name: "raft refuses", source: bytesSource(db), setup: func(b *member) { b.raft.setProcessErr(errTest) }},
		{name: "peer down", source: bytesSource(db), setup: func(b *member) { b.gate.down.Store(true) }},
		{name: "source cannot open", source: func(uint64) (int64, io.ReadCloser, error) { return 0, nil, errTest }},
		{name: "source fails midway", source: func(uint64) (int64, io.ReadCloser, error) {
			return size, &failingReader{left: size / 3}, nil
		}},
		{name: "source short", source: func(uint64) (int64, io.ReadCloser, error) {
			return size, io.NopCloser(bytes.NewReader(db[:size/4])), nil
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := newMember(t, 1, memberOpts{source: c.source, tune: fastBackoff})
			b := newMember(t, 2, memberOpts{tune: fastBackoff})
			connectAll(t, a, b)
			if c.setup != nil {
				c.setup(b)
			}
			failures := metricValue(snapshotSendFailures.WithLabelValues("2"))
			a.tr.Send([]raftpb.Message{snapMsg(1, 2, 5)})
			testutil.WaitUntil(t, 10*time.Second, "snapshot report", func() bool { return len(a.raft.snapshotReports(2)) > 0 })
			if got := a.raft.snapshotReports(2); len(got) != 1 || got[0] != raft.SnapshotFailure {
				t.Fatalf("reports %v, want [SnapshotFailure]", got)
			}
			if b.raft.countType(1, raftpb.MsgSnap) != 0 {
				t.Fatal("a failed snapshot reached raft")
			}
			if _, _, ok := b.sink.get(5); ok && c.name != "raft refuses" {
				t.Fatal("the sink kept a database that failed")
			}
			if d := metricValue(snapshotSendFailures.WithLabelValues("2")) - failures; d != 1 {
				t.Errorf("etcd_network_snapshot_send_failures{To=2} grew by %v", d)
			}
			testutil.WaitUntil(t, 5*time.Second, "unreachable report", func() bool { return a.raft.unreachableCount(2) > 0 })
			// The stream is unaffected (unless the peer is down).
			if c.name != "peer down" {
				a.tr.Send([]raftpb.Message{heartbeat(1, 2, 1)})
				testutil.WaitUntil(t, 5*time.Second, "heartbeat after failure", func() bool {
					return b.raft.countType(1, raftpb.MsgHeartbeat) == 1
				})
			}
		})
	}
}

func TestSnapshotBodyRoundTrip(t *testing.T) {
	for _, size := range []int{0, 1, 4095, 100_000} {
		db := randomBytes(t, size)
		m := snapMsg(1, 2, 9)
		body, err := newSnapshotBody(&m, int64(size), io.NopCloser(bytes.NewReader(db)), false)
		if err != nil {
			t.Fatal(err)
		}
		wire, err := io.ReadAll(body)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(wire)) != body.total {
			t.Fatalf("size %d: body is %d bytes, announced %d", size, len(wire), body.total)
		}
		r := bytes.NewReader(wire)
		got, _, gotSize, err := readSnapshotHeader(r, false)
		if err != nil || gotSize != int64(size) || got.Snapshot.Metadata.Index != 9 {
			t.Fatalf("size %d: header %s, %d, %v", size, raft.DescribeMessage(got), gotSize, err)
		}
		dbr := newDBReader(r, gotSize)
		out, err := io.ReadAll(dbr)
		if err != nil || !bytes.Equal(out, db) || !dbr.complete() {
			t.Fatalf("size %d: database read %d bytes, err %v, complete %v", size, len(out), err, dbr.complete())
		}
	}
}

// A corrupt or short database is an error, never io.EOF — also through
// io.ReadFull, which hides errors once it has read enough.
func TestDBReaderRejectsDamage(t *testing.T) {
	const size = 10_000
	db := randomBytes(t, size)
	m := snapMsg(1, 2, 9)
	body, _ := newSnapshotBody(&m, size, io.NopCloser(bytes.NewReader(db)), false)
	wire, _ := io.ReadAll(body)
	headLen := len(wire) - size - 4

	damage := map[string][]byte{
		"flipped byte":     flip(wire, headLen+size/2),
		"flipped last":     flip(wire, headLen+size-1),
		"flipped checksum": flip(wire, len(wire)-1),
		"no checksum":      wire[:len(wire)-4],
		"half checksum":    wire[:len(wire)-2],
		"short database":   wire[:headLen+size/2],
	}
	for name, w := range damage {
		for _, readFull := range []bool{false, true} {
			r := bytes.NewReader(w[headLen:])
			dbr := newDBReader(r, size)
			var err error
			if readFull {
				_, err = io.ReadFull(dbr, make([]byte, size))
			} else {
				_, err = io.ReadAll(dbr)
			}
			if err == nil || dbr.complete() {
				t.Errorf("%s (ReadFull %v): no error", name, readFull)
			}
		}
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x40
	return c
}
