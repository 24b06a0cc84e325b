package rafthttp

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/basaltkv/basalt/pkg/testutil"
	"github.com/basaltkv/basalt/raft/raftpb"
)

func TestStreamTwoMembersOrdered(t *testing.T) {
	a := newMember(t, 1, memberOpts{})
	b := newMember(t, 2, memberOpts{})
	connectAll(t, a, b)
	sentBefore := metricValue(sentBytes.WithLabelValues("2"))
	recvBefore := metricValue(receivedBytes.WithLabelValues("1"))

	const n = 5000
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); sendWindowed(t, a, b, n, 1000) }()
	go func() { defer wg.Done(); sendWindowed(t, b, a, n, 1000) }()
	wg.Wait()
	testutil.WaitUntil(t, 10*time.Second, "all messages", func() bool { return b.raft.count(1) == n && a.raft.count(2) == n })
	checkInOrder(t, a, b, n)
	checkInOrder(t, b, a, n)

	if got := metricValue(sentBytes.WithLabelValues("2")) - sentBefore; got < n*40 {
		t.Errorf("etcd_network_peer_sent_bytes_total{To=2} grew by %v, want at least %d", got, n*40)
	}
	if got := metricValue(receivedBytes.WithLabelValues("1")) - recvBefore; got < n*40 {
		t.Errorf("etcd_network_peer_received_bytes_total{From=1} grew by %v, want at least %d", got, n*40)
	}
	if u := a.raft.unreachableCount(2); u != 0 {
		t.Errorf("peer 2 reported unreachable %d times on a healthy stream", u)
	}
}

func TestStreamThreeMembersOrdered(t *testing.T) {
	ms := []*member{newMember(t, 1, memberOpts{}), newMember(t, 2, memberOpts{}), newMember(t, 3, memberOpts{})}
	connectAll(t, ms...)
	const n = 3000
	var wg sync.WaitGroup
	for _, a := range ms {
		for _, b := range ms {
			if a != b {
				wg.Add(1)
				go func() { defer wg.Done(); sendWindowed(t, a, b, n, 800) }()
			}
		}
	}
	wg.Wait()
	for _, a := range ms {
		for _, b := range ms {
			if a != b {
				testutil.WaitUntil(t, 10*time.Second, "all messages", func() bool { return b.raft.count(a.id) == n })
				checkInOrder(t, a, b, n)
			}
		}
	}
}

// A MsgProp goes through a delivery queue of its own, but still arrives.
func TestStreamDeliversProposals(t *testing.T) {
	a := newMember(t, 1, memberOpts{})
	b := newMember(t, 2, memberOpts{})
	connectAll(t, a, b)
	a.tr.Send([]raftpb.Message{
		{Type: raftpb.MsgProp, From: 1, To: 2, Entries: []raftpb.Entry{{Data: []byte("put k v")}}},
		heartbeat(1, 2, 7),
	})
	testutil.WaitUntil(t, 5*time.Second, "proposal and heartbeat", func() bool {
		return b.raft.countType(1, raftpb.MsgProp) == 1 && b.raft.countType(1, raftpb.MsgHeartbeat) == 1
	})
}

func fastBackoff(tm *timing) {
	tm.backoffMin = 20 * time.Millisecond
	tm.backoffMax = 160 * time.Millisecond
	tm.unreachableInterval = 10 * time.Millisecond
}

func TestPeerDownAndBack(t *testing.T) {
	a := newMember(t, 1, memberOpts{tune: fastBackoff})
	b := newMember(t, 2, memberOpts{tune: fastBackoff})
	connectAll(t, a, b)
	a.tr.Send([]raftpb.Message{app(1, 2, 1)})
	testutil.WaitUntil(t, 5*time.Second, "first message", func() bool { return b.raft.count(1) == 1 })

	// b goes down: its connections break and new ones are closed unanswered.
	b.gate.down.Store(true)
	b.srv.CloseClientConnections()
	testutil.WaitUntil(t, 10*time.Second, "stream to b to break", func() bool { return a.tr.ActiveSince(2).IsZero() })
	before := len(b.gate.streamAttempts())
	unreachableBefore := a.raft.unreachableCount(2)
	for i := 0; i < 100; i++ {
		a.tr.Send([]raftpb.Message{heartbeat(1, 2, 1)})
	}
	testutil.WaitUntil(t, 5*time.Second, "unreachable reports", func() bool { return a.raft.unreachableCount(2) > unreachableBefore })
	// Reports are coalesced: 100 drops are far fewer reports.
	if got := a.raft.unreachableCount(2) - unreachableBefore; got > 20 {
		t.Errorf("%d unreachable reports for 100 drops in a burst", got)
	}

	// Redials back off: each wait at least the one before, doubled, up to
	// the cap.
	testutil.WaitUntil(t, 10*time.Second, "redials", func() bool { return len(b.gate.streamAttempts()) >= before+7 })
	attempts := b.gate.streamAttempts()[before:]
	want := 20 * time.Millisecond
	for i := 1; i < len(attempts); i++ {
		gap := attempts[i].Sub(attempts[i-1])
		if i > 1 && gap < want-2*time.Millisecond {
			// The first gap may be shorter: the backoff before it may have
			// started while the stream was still being torn down.
			t.Errorf("redial %d came %v after the previous one, want at least %v", i, gap, want)
		}
		if gap > 3*time.Second {
			t.Errorf("redial %d came %v after the previous one, cap is 160ms", i, gap)
		}
		if i > 1 {
			want = min(2*want, 160*time.Millisecond)
		}
	}
	if b.raft.countType(1, raftpb.MsgHeartbeat) != 0 {
		t.Errorf("heartbeats reached a peer that was down")
	}

	// b comes back: the stream reconnects and messages flow again.
	b.gate.down.Store(false)
	waitConnected(t, a, b)
	for i := uint64(2); i <= 100; i++ {
		a.tr.Send([]raftpb.Message{app(1, 2, i)})
	}
	testutil.WaitUntil(t, 5*time.Second, "messages after recovery", func() bool { return b.raft.count(1) == 100 })
	for i, m := range b.raft.received(1) {
		if m.Index != uint64(i+1) {
			t.Fatalf("message %d after recovery has index %d", i, m.Index)
		}
	}
}

// A peer that really stops and restarts on the same address is redialed.
func TestPeerRestartsOnSameAddress(t *testing.T) {
	a := newMember(t, 1, memberOpts{tune: fastBackoff})
	b := newMember(t, 2, memberOpts{tune: fastBackoff})
	connectAll(t, a, b)
	addr := strings.TrimPrefix(b.url, "http://")
	b.close()
	testutil.WaitUntil(t, 10*time.Second, "stream to break", func() bool { return a.tr.ActiveSince(2).IsZero() })
	a.tr.Send([]raftpb.Message{app(1, 2, 1)})
	testutil.WaitUntil(t, 5*time.Second, "unreachable report", func() bool { return a.raft.unreachableCount(2) > 0 })

	b2 := restartMember(t, 2, addr)
	if b2 == nil {
		t.Skipf("address %s was taken by someone else meanwhile", addr)
	}
	b2.tr.AddPeer(1, []string{a.url})
	waitConnected(t, a, b2)
	waitConnected(t, b2, a)
	a.tr.Send([]raftpb.Message{app(1, 2, 1), app(1, 2, 2)})
	testutil.WaitUntil(t, 5*time.Second, "messages after restart", func() bool { return b2.raft.count(1) == 2 })
}

func TestClusterIDMismatchRejected(t *testing.T) {
	a := newMember(t, 1, memberOpts{clusterID: 0xaaa, tune: fastBackoff})
	b := newMember(t, 2, memberOpts{clusterID: 0xbbb, tune: fastBackoff})
	a.tr.AddPeer(2, []string{b.url})
	b.tr.AddPeer(1, []string{a.url})
	testutil.WaitUntil(t, 10*time.Second, "refused stream attempts", func() bool {
		return len(b.gate.streamAttempts()) >= 3 && len(a.gate.streamAttempts()) >= 3
	})
	if !a.tr.ActiveSince(2).IsZero() || !b.tr.ActiveSince(1).IsZero() {
		t.Fatal("a stream connected across clusters")
	}
	a.tr.Send([]raftpb.Message{heartbeat(1, 2, 1)})
	testutil.WaitUntil(t, 5*time.Second, "unreachable report", func() bool { return a.raft.unreachableCount(2) > 0 })
	if b.raft.count(1) != 0 {
		t.Fatal("a message crossed clusters")
	}

	// The refusal itself, as a peer sees it.
	req, _ := http.NewRequest(http.MethodPost, b.url+streamPath, strings.NewReader(""))
	a.tr.setHeaders(req.Header, 2)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPreconditionFailed || strings.TrimSpace(string(body)) != "cluster ID mismatch" {
		t.Fatalf("got %s %q, want 412 \"cluster ID mismatch\"", resp.Status, body)
	}
	if got := resp.Header.Get("X-Etcd-Cluster-ID"); got != "bbb" {
		t.Fatalf("X-Etcd-Cluster-ID = %q, want bbb", got)
	}
}

func TestRemovedMemberRefused(t *testing.T) {
	a := newMember(t, 1, memberOpts{tune: fastBackoff})
	b := newMember(t, 2, memberOpts{tune: fastBackoff})
	b.raft.setRemoved(1)
	a.tr.AddPeer(2, []string{b.url})
	b.tr.AddPeer(1, []string{a.url})

	select {
	case <-a.tr.Removed():
	case <-time.After(10 * time.Second):
		t.Fatal("a was not told it was removed")
	}
	select {
	case <-b.tr.Removed():
		t.Fatal("b thinks it was removed")
	default:
	}
	// b still reaches a; a no longer dials b.
	waitConnected(t, b, a)
	attempts := len(b.gate.streamAttempts())
	time.Sleep(10 * 160 * time.Millisecond) // an observation window: ten capped backoffs
	if got := len(b.gate.streamAttempts()); got != attempts {
		t.Fatalf("a kept dialing b after 410 Gone: %d more attempts", got-attempts)
	}
	a.tr.Send([]raftpb.Message{heartbeat(1, 2, 1)})
	if b.raft.count(1) != 0 {
		t.Fatal("b accepted a message from a removed member")
	}

	req, _ := http.NewRequest(http.MethodPost, b.url+snapshotPath, strings.NewReader(""))
	a.tr.setHeaders(req.Header, 2)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusGone {
		t.Fatalf("snapshot from a removed member: %s, want 410 Gone", resp.Status)
	}
}

func TestStreamFromUnknownPeerRetried(t *testing.T) {
	a := newMember(t, 1, memberOpts{tune: fastBackoff})
	b := newMember(t, 2, memberOpts{tune: fastBackoff})
	a.tr.AddPeer(2, []string{b.url})
	testutil.WaitUntil(t, 10*time.Second, "refused attempts", func() bool { return len(b.gate.streamAttempts()) >= 2 })
	if !a.tr.ActiveSince(2).IsZero() {
		t.Fatal("stream connected to a member that does not know us")
	}
	b.tr.AddPeer(1, []string{a.url})
	waitConnected(t, a, b)
	a.tr.Send([]raftpb.Message{app(1, 2, 1)})
	testutil.WaitUntil(t, 5*time.Second, "message", func() bool { return b.raft.count(1) == 1 })
}

func TestUpdatePeerRedials(t *testing.T) {
	a := newMember(t, 1, memberOpts{tune: fastBackoff})
	b := newMember(t, 2, memberOpts{tune: fastBackoff})
	b.tr.AddPeer(1, []string{a.url})
	a.tr.AddPeer(2, []string{"http://" + freePortClosed(t)})
	a.tr.Send([]raftpb.Message{heartbeat(1, 2, 1)})
	testutil.WaitUntil(t, 5*time.Second, "unreachable report", func() bool { return a.raft.unreachableCount(2) > 0 })
	a.tr.UpdatePeer(2, []string{b.url})
	waitConnected(t, a, b)
	first := a.tr.ActiveSince(2)

	// Moving the peer to another URL replaces the stream.
	second := &gate{h: b.tr.Handler()} // another listener for b
	srv2 := httptest.NewServer(second)
	defer srv2.Close()
	defer a.tr.Stop() // before srv2 closes: it waits for a's stream
	a.tr.UpdatePeer(2, []string{srv2.URL})
	testutil.WaitUntil(t, 10*time.Second, "stream on the new URL", func() bool {
		s := a.tr.ActiveSince(2)
		return !s.IsZero() && s.After(first) && len(second.streamAttempts()) > 0
	})
	a.tr.Send([]raftpb.Message{app(1, 2, 1)})
	testutil.WaitUntil(t, 5*time.Second, "message", func() bool { return b.raft.count(1) == 1 })
}

func TestRemovePeerStopsTraffic(t *testing.T) {
	a := newMember(t, 1, memberOpts{})
	b := newMember(t, 2, memberOpts{})
	connectAll(t, a, b)
	b.tr.RemovePeer(1)
	// b closed a's inbound stream, and refuses the redial with 404.
	testutil.WaitUntil(t, 10*time.Second, "a's stream to close", func() bool { return a.tr.ActiveSince(2).IsZero() })
	b.tr.Send([]raftpb.Message{heartbeat(2, 1, 1)}) // ignored: unknown peer
	if !b.tr.ActiveSince(1).IsZero() {
		t.Fatal("removed peer still active")
	}
	a.tr.Send([]raftpb.Message{heartbeat(1, 2, 1)})
	if b.raft.count(1) != 0 {
		t.Fatal("b received from a removed peer")
	}
}

func TestHTTPRefusals(t *testing.T) {
	b := newMember(t, 2, memberOpts{})
	a := New(Config{ID: 1, ClusterID: 0xc1, Raft: newFakeRaft()})
	defer a.Stop()
	cases := []struct {
		name   string
		method string
		path   string
		header func(http.Header)
		status int
	}{
		{"wrong method", http.MethodGet, streamPath, nil, http.StatusMethodNotAllowed},
		{"no sender", http.MethodPost, streamPath, func(h http.Header) { h.Del("X-Server-From") }, http.StatusBadRequest},
		{"wrong target", http.MethodPost, streamPath, func(h http.Header) { h.Set("X-Raft-To", "9") }, http.StatusPreconditionFailed},
		{"no cluster", http.MethodPost, snapshotPath, func(h http.Header) { h.Del("X-Etcd-Cluster-ID") }, http.StatusPreconditionFailed},
		{"unknown sender", http.MethodPost, streamPath, nil, http.StatusNotFound},
		{"garbage snapshot", http.MethodPost, snapshotPath, nil, http.StatusBadRequest},
		{"probe", http.MethodGet, probePath, nil, http.StatusOK},
		{"unknown path", http.MethodGet, "/raft/nothing", nil, http.StatusNotFound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(c.method, b.url+c.path, strings.NewReader("garbage"))
			a.setHeaders(req.Header, 2)
			if c.header != nil {
				c.header(req.Header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Fatalf("got %s, want %d", resp.Status, c.status)
			}
		})
	}
}
