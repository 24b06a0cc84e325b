package raft

import (
	"encoding/binary"

	"github.com/basaltkv/basalt/raft/quorum"
	pb "github.com/basaltkv/basalt/raft/raftpb"
)

// ReadState answers a ReadIndex request: once the application has applied
// up to Index, a read of its state is linearizable.
type ReadState struct {
	Index      uint64
	RequestCtx []byte
}

// readIndexRounds batches linearizable read requests on the leader. The
// requests that arrive between two Readys wait in queued; when the Ready is
// built they all join one round: a heartbeat broadcast whose context is the
// round's sequence number. Once a quorum has answered a round (or any
// later one), the leader knows it was still leader after every request of
// the round arrived, and answers them with the commit index at the start
// of the round.
type readIndexRounds struct {
	queued []pb.Message
	rounds []readRound
	seq    uint64
	// acked is each voter's highest answered round.
	acked quorum.MapAckIndexer
}

type readRound struct {
	seq   uint64
	index uint64
	reqs  []pb.Message
}

func (r *raft) handleReadIndex(m pb.Message) {
	if len(m.Entries) != 1 {
		r.logger.Warningf("raft %x: ignoring MsgReadIndex from %x with %d entries", r.id, m.From, len(m.Entries))
		return
	}
	if r.trk.IsSingleton() {
		// Nobody else can be leader: answer at once, but only after our own
		// term's first entry committed, as below.
		if r.committedEntryInCurrentTerm() {
			r.respondToRead(m, r.raftLog.committed)
			return
		}
	}
	r.reads.queued = append(r.reads.queued, m)
}

// flushReadIndex starts a round for the queued requests, if this leader
// has committed an entry of its term: until then its commit index may be
// behind what an earlier leader committed (Raft §8).
func (r *raft) flushReadIndex() {
	if len(r.reads.queued) == 0 || r.state != StateLeader || !r.committedEntryInCurrentTerm() {
		return
	}
	if r.trk.IsSingleton() {
		for _, m := range r.reads.queued {
			r.respondToRead(m, r.raftLog.committed)
		}
		r.reads.queued = nil
		return
	}
	r.reads.seq++
	round := readRound{seq: r.reads.seq, index: r.raftLog.committed, reqs: r.reads.queued}
	r.reads.queued = nil
	r.reads.rounds = append(r.reads.rounds, round)
	r.bcastHeartbeatWithCtx(roundCtx(round.seq))
}

// roundCtx is the heartbeat context of round seq.
func roundCtx(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(nil, seq)
}

// pendingCtx is the context of the newest unconfirmed round, nil if none;
// answering it confirms every round.
func (rr *readIndexRounds) pendingCtx() []byte {
	if len(rr.rounds) == 0 {
		return nil
	}
	return roundCtx(rr.rounds[len(rr.rounds)-1].seq)
}

// recvReadIndexAck records that a member answered a round's heartbeat and
// releases every round a quorum has now confirmed.
func (r *raft) recvReadIndexAck(from uint64, ctx []byte) {
	if len(ctx) != 8 || len(r.reads.rounds) == 0 {
		return
	}
	seq := binary.BigEndian.Uint64(ctx)
	if seq > r.reads.seq {
		return // not a round of ours
	}
	if r.reads.acked == nil {
		r.reads.acked = quorum.MapAckIndexer{}
	}
	if seq <= r.reads.acked[from] {
		return
	}
	r.reads.acked[from] = seq
	r.reads.acked[r.id] = r.reads.seq
	confirmed := r.trk.Voters.CommittedIndex(r.reads.acked)
	n := 0
	for ; n < len(r.reads.rounds) && r.reads.rounds[n].seq <= confirmed; n++ {
		round := r.reads.rounds[n]
		for _, req := range round.reqs {
			r.respondToRead(req, round.index)
		}
	}
	r.reads.rounds = r.reads.rounds[n:]
}

func (r *raft) respondToRead(req pb.Message, index uint64) {
	if req.From == None || req.From == r.id {
		r.readStates = append(r.readStates, ReadState{Index: index, RequestCtx: req.Entries[0].Data})
		return
	}
	r.send(pb.Message{Type: pb.MsgReadIndexResp, To: req.From, Index: index, Entries: req.Entries})
}
