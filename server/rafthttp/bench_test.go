package rafthttp

import (
	"testing"
	"time"

	"github.com/basaltkv/basalt/pkg/testutil"
	"github.com/basaltkv/basalt/raft/raftpb"
	"go.uber.org/zap"
)

// BenchmarkStreamThroughput measures MsgApps per second over one stream,
// each carrying one 128-byte entry, as the raft loop would hand them over:
// in Sends of 64, never more than 2048 outstanding.
func BenchmarkStreamThroughput(b *testing.B) {
	lg := zap.NewNop()
	a := newMember(b, 1, memberOpts{logger: lg})
	c := newMember(b, 2, memberOpts{logger: lg})
	c.raft.setDiscard()
	connectAll(b, a, c)
	entry := make([]byte, 128)
	batch := make([]raftpb.Message, 64)
	for i := range batch {
		batch[i] = raftpb.Message{Type: raftpb.MsgApp, From: 1, To: 2, Term: 5, LogTerm: 5, Commit: 10,
			Entries: []raftpb.Entry{{Term: 5, Data: entry}}}
	}
	const window = 2048
	b.ResetTimer()
	start := time.Now()
	sent := 0
	for sent < b.N {
		for sent-c.raft.count(1) > window-len(batch) {
			time.Sleep(50 * time.Microsecond)
		}
		n := min(len(batch), b.N-sent)
		for i := range n {
			batch[i].Index = uint64(sent + i)
		}
		a.tr.Send(batch[:n])
		sent += n
	}
	testutil.WaitUntil(b, 30*time.Second, "all messages", func() bool { return c.raft.count(1) == b.N })
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
	if u := a.raft.unreachableCount(2); u != 0 {
		b.Fatalf("%d unreachable reports: messages were dropped", u)
	}
}
