package server

import (
	"encoding/json"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/basaltkv/basalt/raft/raftpb"
)

// raftStats are etcd's v2 statistics of the member's raft traffic
// (/v2/stats/self and /v2/stats/leader): appends sent and received with
// their recent rates, the leader it follows and since when, and, on a
// leader, each follower's heartbeat round trip and unreachable reports.
// etcd times its followers by the writes of its append streams; basalt by
// heartbeat round trips, which measure the same link without counting
// its batching.
type raftStats struct {
	id        uint64
	name      string
	startTime time.Time

	mu struct {
		sync.Mutex
		leader       bool
		leaderID     uint64
		leaderSince  time.Time
		recvAppends  uint64
		sendAppends  uint64
		recvRate     rateWindow
		sendRate     rateWindow
		followers    map[uint64]*followerStats
		heartbeatOut map[uint64]time.Time
	}
}

func newRaftStats(id uint64, name string) *raftStats {
	now := time.Now()
	s := &raftStats{id: id, name: name, startTime: now}
	s.mu.leaderSince = now
	s.mu.followers = map[uint64]*followerStats{}
	s.mu.heartbeatOut = map[uint64]time.Time{}
	return s
}

// sent notes the messages the member sends.
func (s *raftStats) sent(msgs []raftpb.Message) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range msgs {
		switch msgs[i].Type {
		case raftpb.MsgApp:
			s.becomeLeaderLocked(now)
			s.mu.sendAppends++
			s.mu.sendRate.add(now, msgs[i].Size())
		case raftpb.MsgHeartbeat:
			if _, waiting := s.mu.heartbeatOut[msgs[i].To]; !waiting {
				s.mu.heartbeatOut[msgs[i].To] = now
			}
		}
	}
}

// received notes a message from a peer.
func (s *raftStats) received(m *raftpb.Message) {
	switch m.Type {
	case raftpb.MsgApp, raftpb.MsgHeartbeatResp:
	default:
		return
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.Type == raftpb.MsgApp {
		s.mu.leader = false
		if m.From != s.mu.leaderID {
			s.mu.leaderID, s.mu.leaderSince = m.From, now
		}
		s.mu.recvAppends++
		s.mu.recvRate.add(now, m.Size())
		return
	}
	if sent, ok := s.mu.heartbeatOut[m.From]; ok {
		delete(s.mu.heartbeatOut, m.From)
		s.followerLocked(m.From).succeeded(now.Sub(sent))
	}
}

// unreachable notes a failed send to a peer.
func (s *raftStats) unreachable(id uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.followerLocked(id).Counts.Fail++
}

// becomeLeader notes that this member leads.
func (s *raftStats) becomeLeader() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.becomeLeaderLocked(time.Now())
}

func (s *raftStats) becomeLeaderLocked(now time.Time) {
	if !s.mu.leader {
		s.mu.leader = true
		s.mu.leaderID, s.mu.leaderSince = s.id, now
		clear(s.mu.heartbeatOut)
	}
}

func (s *raftStats) followerLocked(id uint64) *followerStats {
	f, ok := s.mu.followers[id]
	if !ok {
		f = &followerStats{}
		f.Latency.Minimum = 1 << 63
		s.mu.followers[id] = f
	}
	return f
}

// selfJSON is /v2/stats/self's body.
func (s *raftStats) selfJSON() []byte {
	now := time.Now()
	s.mu.Lock()
	st := selfStats{
		Name: s.name, ID: fmt.Sprintf("%x", s.id), State: "StateFollower", StartTime: s.startTime,
		RecvAppendRequestCnt: s.mu.recvAppends, SendAppendRequestCnt: s.mu.sendAppends,
	}
	if s.mu.leader {
		st.State = "StateLeader"
	}
	if s.mu.leaderID != 0 {
		st.LeaderInfo.Leader = fmt.Sprintf("%x", s.mu.leaderID)
	}
	st.LeaderInfo.StartTime = s.mu.leaderSince
	st.LeaderInfo.Uptime = now.Sub(s.mu.leaderSince).String()
	st.RecvPkgRate, st.RecvBandwidthRate = s.mu.recvRate.rate(now)
	st.SendPkgRate, st.SendBandwidthRate = s.mu.sendRate.rate(now)
	s.mu.Unlock()
	b, _ := json.Marshal(st)
	return b
}

// leaderJSON is /v2/stats/leader's body, for the given followers; nil if
// this member does not lead.
func (s *raftStats) leaderJSON(peers []uint64) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.mu.leader {
		return nil
	}
	out := struct {
		Leader    string                    `json:"leader"`
		Followers map[string]*followerStats `json:"followers"`
	}{Leader: fmt.Sprintf("%x", s.id), Followers: map[string]*followerStats{}}
	for _, id := range peers {
		if id != s.id {
			f := *s.followerLocked(id)
			out.Followers[fmt.Sprintf("%x", id)] = &f
		}
	}
	b, _ := json.Marshal(out)
	return b
}

// selfStats is etcd's /v2/stats/self.
type selfStats struct {
	Name       string    `json:"name"`
	ID         string    `json:"id"`
	State      string    `json:"state"`
	StartTime  time.Time `json:"startTime"`
	LeaderInfo struct {
		Leader    string    `json:"leader"`
		Uptime    string    `json:"uptime"`
		StartTime time.Time `json:"startTime"`
	} `json:"leaderInfo"`
	RecvAppendRequestCnt uint64  `json:"recvAppendRequestCnt"`
	RecvPkgRate          float64 `json:"recvPkgRate,omitempty"`
	RecvBandwidthRate    float64 `json:"recvBandwidthRate,omitempty"`
	SendAppendRequestCnt uint64  `json:"sendAppendRequestCnt"`
	SendPkgRate          float64 `json:"sendPkgRate,omitempty"`
	SendBandwidthRate    float64 `json:"sendBandwidthRate,omitempty"`
}

// followerStats is a follower in etcd's /v2/stats/leader: latencies in
// milliseconds.
type followerStats struct {
	Latency struct {
		Current           float64 `json:"current"`
		Average           float64 `json:"average"`
		averageSquare     float64
		StandardDeviation float64 `json:"standardDeviation"`
		Minimum           float64 `json:"minimum"`
		Maximum           float64 `json:"maximum"`
	} `json:"latency"`
	Counts struct {
		Fail    uint64 `json:"fail"`
		Success uint64 `json:"success"`
	} `json:"counts"`
}

func (f *followerStats) succeeded(d time.Duration) {
	l := &f.Latency
	n := float64(f.Counts.Success)
	f.Counts.Success++
	l.Current = float64(d) / float64(time.Millisecond)
	l.Maximum = math.Max(l.Maximum, l.Current)
	l.Minimum = math.Min(l.Minimum, l.Current)
	l.Average = (n*l.Average + l.Current) / (n + 1)
	l.averageSquare = (n*l.averageSquare + l.Current*l.Current) / (n + 1)
	l.StandardDeviation = math.Sqrt(math.Max(0, l.averageSquare-l.Average*l.Average))
}

// rateWindow keeps the sizes of the last messages to tell their rate over
// the last second, as etcd's stats queue does.
type rateWindow struct {
	times []time.Time
	sizes []int
}

const rateWindowLen = 200

func (w *rateWindow) add(now time.Time, size int) {
	if len(w.times) == rateWindowLen {
		w.times, w.sizes = w.times[1:], w.sizes[1:]
	}
	w.times = append(w.times, now)
	w.sizes = append(w.sizes, size)
}

// rate is messages and bytes per second over the window, zero when the
// last message is more than a second old.
func (w *rateWindow) rate(now time.Time) (float64, float64) {
	n := len(w.times)
	if n == 0 || now.Sub(w.times[n-1]) > time.Second {
		return 0, 0
	}
	span := now.Sub(w.times[0]).Seconds()
	if span <= 0 {
		return 0, 0
	}
	total := 0
	for _, s := range w.sizes {
		total += s
	}
	return float64(n) / span, float64(total) / span
}

// V2SelfStats is /v2/stats/self's body.
func (m *Member) V2SelfStats() []byte { return m.raft.stats.selfJSON() }

// V2LeaderStats is /v2/stats/leader's body; nil if this member does not
// lead.
func (m *Member) V2LeaderStats() []byte {
	var peers []uint64
	for _, mem := range m.st.cluster.Members() {
		peers = append(peers, mem.ID)
	}
	return m.raft.stats.leaderJSON(peers)
}
