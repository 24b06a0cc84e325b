package rafthttp

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/basaltkv/basalt/pkg/testutil"
	"github.com/basaltkv/basalt/raft"
	"github.com/basaltkv/basalt/raft/raftpb"
	"github.com/prometheus/client_golang/prometheus"
)

func shortTimeouts(tm *timing) {
	fastBackoff(tm)
	tm.readTimeout = 300 * time.Millisecond
	tm.writeTimeout = 300 * time.Millisecond
	tm.keepalive = 100 * time.Millisecond
}

// A peer that accepts the stream and then says nothing (a machine that
// vanished) is given up within the read timeout.
func TestSilentReceiverDetected(t *testing.T) {
	a := newMember(t, 1, memberOpts{tune: shortTimeouts})
	var accepted = make(chan struct{}, 100)
	release := make(chan struct{})
	silent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != streamPath {
			http.NotFound(w, r)
			return
		}
		rc := http.NewResponseController(w)
		_ = rc.EnableFullDuplex()
		w.WriteHeader(http.StatusOK)
		_ = rc.Flush()
		accepted <- struct{}{}
		<-release
	}))
	t.Cleanup(silent.Close)
	t.Cleanup(func() { close(release) })

	a.tr.AddPeer(2, []string{silent.URL})
	<-accepted
	testutil.WaitUntil(t, 5*time.Second, "stream up", func() bool { return !a.tr.ActiveSince(2).IsZero() })
	testutil.WaitUntil(t, 5*time.Second, "silent stream dropped", func() bool { return a.tr.ActiveSince(2).IsZero() })
	select {
	case <-accepted: // and redialed
	case <-time.After(5 * time.Second):
		t.Fatal("no redial after a silent stream")
	}
}

// A sender that opens a stream and then sends nothing is cut off by the
// receiver within the read timeout.
func TestSilentSenderDetected(t *testing.T) {
	b := newMember(t, 2, memberOpts{tune: shortTimeouts})
	b.tr.AddPeer(1, []string{"http://" + freePortClosed(t)})
	conn, err := net.Dial("tcp", strings.TrimPrefix(b.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"+
		"X-Server-From: 1\r\nX-Etcd-Cluster-ID: c1\r\nX-Raft-To: 2\r\n\r\n", streamPath)
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("stream answered %s", resp.Status)
	}
	start := time.Now()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil && !strings.Contains(err.Error(), "EOF") {
		t.Fatalf("stream ended with %v, want the receiver to close it", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("silent sender cut off after %v", took)
	}
}

func TestProberRecordsRoundTrip(t *testing.T) {
	tune := func(tm *timing) { tm.probeInterval = 20 * time.Millisecond }
	a := newMember(t, 0x1a, memberOpts{tune: tune})
	b := newMember(t, 0x2b, memberOpts{tune: tune})
	connectAll(t, a, b)
	before := testutil.HistogramCount(t, rttSec.WithLabelValues("2b"))
	testutil.WaitUntil(t, 5*time.Second, "round trips recorded", func() bool {
		return testutil.HistogramCount(t, rttSec.WithLabelValues("2b")) >= before+3
	})
}

func TestMetricsCarryEtcdNames(t *testing.T) {
	// Touch every vector so that it has a series to gather.
	for _, c := range []*prometheus.CounterVec{sentBytes, receivedBytes, sentFailures, recvFailures,
		snapshotSend, snapshotSendFailures, snapshotReceive, snapshotReceiveFailures} {
		c.WithLabelValues("ff")
	}
	snapshotSendInflights.WithLabelValues("ff")
	snapshotReceiveInflights.WithLabelValues("ff")
	snapshotSendSeconds.WithLabelValues("ff")
	snapshotReceiveSeconds.WithLabelValues("ff")
	rttSec.WithLabelValues("ff")
	activePeers.WithLabelValues("ff", "fe")
	disconnectedPeers.WithLabelValues("ff", "fe")

	families, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string][]string{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				have[f.GetName()] = append(have[f.GetName()], l.GetName())
			}
		}
	}
	want := map[string]string{
		"etcd_network_peer_sent_bytes_total":                   "To",
		"etcd_network_peer_received_bytes_total":               "From",
		"etcd_network_peer_sent_failures_total":                "To",
		"etcd_network_peer_received_failures_total":            "From",
		"etcd_network_peer_round_trip_time_seconds":            "To",
		"etcd_network_snapshot_send_success":                   "To",
		"etcd_network_snapshot_send_failures":                  "To",
		"etcd_network_snapshot_send_total_duration_seconds":    "To",
		"etcd_network_snapshot_send_inflights_total":           "To",
		"etcd_network_snapshot_receive_success":                "From",
		"etcd_network_snapshot_receive_failures":               "From",
		"etcd_network_snapshot_receive_total_duration_seconds": "From",
		"etcd_network_snapshot_receive_inflights_total":        "From",
		"etcd_network_active_peers":                            "Local",
		"etcd_network_disconnected_peers_total":                "Remote",
	}
	for name, label := range want {
		labels, ok := have[name]
		if !ok {
			t.Errorf("%s is not registered", name)
			continue
		}
		found := false
		for _, l := range labels {
			found = found || l == label
		}
		if !found {
			t.Errorf("%s has labels %v, want %s", name, labels, label)
		}
	}
}

func TestDroppedMessagesCounted(t *testing.T) {
	a := newMember(t, 1, memberOpts{})
	a.tr.AddPeer(9, []string{"http://" + freePortClosed(t)})
	before := metricValue(sentFailures.WithLabelValues("9"))
	a.tr.Send([]raftpb.Message{heartbeat(1, 9, 1), heartbeat(1, 9, 1), heartbeat(1, 9, 1)})
	if d := metricValue(sentFailures.WithLabelValues("9")) - before; d != 3 {
		t.Fatalf("etcd_network_peer_sent_failures_total{To=9} grew by %v, want 3", d)
	}
	testutil.WaitUntil(t, 5*time.Second, "unreachable report", func() bool { return a.raft.unreachableCount(9) > 0 })
}

// Stop ends every goroutine the transports started, including those
// serving inbound streams and snapshots.
func TestStopLeavesNoGoroutines(t *testing.T) {
	base := runtime.NumGoroutine()
	func() {
		db := bytes.Repeat([]byte("db"), 1<<19)
		opts := memberOpts{source: bytesSource(db), tune: func(tm *timing) { tm.probeInterval = 10 * time.Millisecond }}
		ms := []*member{newMember(t, 1, opts), newMember(t, 2, opts), newMember(t, 3, opts)}
		connectAll(t, ms...)
		for _, a := range ms {
			for _, b := range ms {
				if a != b {
					sendWindowed(t, a, b, 500, 200)
				}
			}
		}
		ms[0].tr.Send([]raftpb.Message{snapMsg(1, 2, 3)})
		testutil.WaitUntil(t, 10*time.Second, "snapshot", func() bool { return len(ms[0].raft.snapshotReports(2)) == 1 })
		if got := ms[0].raft.snapshotReports(2)[0]; got != raft.SnapshotFinish {
			t.Fatalf("snapshot reported %v", got)
		}
		ms[1].tr.RemovePeer(3)
		ms[1].tr.AddPeer(3, []string{ms[2].url})
		waitConnected(t, ms[1], ms[2])
		// A member stopping while peers still stream to it.
		ms[2].close()
		for _, m := range ms {
			m.close()
		}
	}()
	checkNoLeak(t, base)
}

// A stopped transport refuses inbound requests and ignores Send.
func TestStoppedTransport(t *testing.T) {
	a := newMember(t, 1, memberOpts{})
	b := newMember(t, 2, memberOpts{})
	connectAll(t, a, b)
	b.tr.Stop()
	b.tr.Stop() // twice is fine
	b.tr.Send([]raftpb.Message{heartbeat(2, 1, 1)})
	b.tr.AddPeer(3, []string{a.url})
	if !b.tr.ActiveSince(1).IsZero() {
		t.Fatal("stopped transport reports an active peer")
	}
	testutil.WaitUntil(t, 5*time.Second, "a's stream to b to break", func() bool { return a.tr.ActiveSince(2).IsZero() })
	req, _ := http.NewRequest(http.MethodPost, b.url+streamPath, strings.NewReader(""))
	a.tr.setHeaders(req.Header, 2)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("stopped transport answered %s", resp.Status)
	}
}
