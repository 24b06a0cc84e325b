package raft

import (
	"fmt"
	"strings"

	pb "github.com/basaltkv/basalt/raft/raftpb"
)

const noLimit = ^uint64(0)

// entsSize is the encoded size of the entries' payload.
func entsSize(ents []pb.Entry) uint64 {
	var s uint64
	for i := range ents {
		s += uint64(ents[i].Size())
	}
	return s
}

// payloadSize is what an entry costs against the uncommitted-size limit.
func payloadSize(e *pb.Entry) uint64 { return uint64(len(e.Data)) }

func payloadsSize(ents []pb.Entry) uint64 {
	var s uint64
	for i := range ents {
		s += payloadSize(&ents[i])
	}
	return s
}

// limitSize returns the longest prefix of ents within maxSize bytes, but
// at least one entry.
func limitSize(ents []pb.Entry, maxSize uint64) []pb.Entry {
	if len(ents) == 0 || maxSize == noLimit {
		return ents
	}
	size := uint64(ents[0].Size())
	var n int
	for n = 1; n < len(ents); n++ {
		size += uint64(ents[n].Size())
		if size > maxSize {
			break
		}
	}
	return ents[:n]
}

// IsLocalMsg reports whether t is a message a member sends itself, never
// one that arrives over the network.
func IsLocalMsg(t pb.MessageType) bool {
	switch t {
	case pb.MsgHup, pb.MsgBeat, pb.MsgUnreachable, pb.MsgSnapStatus, pb.MsgCheckQuorum:
		return true
	}
	return false
}

// IsResponseMsg reports whether t answers another message.
func IsResponseMsg(t pb.MessageType) bool {
	switch t {
	case pb.MsgAppResp, pb.MsgVoteResp, pb.MsgHeartbeatResp, pb.MsgUnreachable, pb.MsgPreVoteResp, pb.MsgReadIndexResp:
		return true
	}
	return false
}

// voteRespMsgType is the response type of a vote request type.
func voteRespMsgType(t pb.MessageType) pb.MessageType {
	if t == pb.MsgVote {
		return pb.MsgVoteResp
	}
	return pb.MsgPreVoteResp
}

// CanSendBeforePersist reports whether the leader may send m while the
// entries of the same Ready are still being persisted (Raft thesis
// §10.2.1: a leader may write to its disk in parallel with replicating).
// Every other message must wait until the Ready's HardState, Entries and
// Snapshot are durable, because it promises something about them.
func CanSendBeforePersist(m pb.Message) bool {
	switch m.Type {
	case pb.MsgApp, pb.MsgSnap, pb.MsgHeartbeat:
		return true
	}
	return false
}

// DescribeMessage renders a message on one line for logs and tests.
func DescribeMessage(m pb.Message) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d->%d %s Term:%d Log:%d/%d", m.From, m.To, m.Type, m.Term, m.LogTerm, m.Index)
	if m.Reject {
		fmt.Fprintf(&b, " Rejected (Hint: %d)", m.RejectHint)
	}
	if m.Commit != 0 {
		fmt.Fprintf(&b, " Commit:%d", m.Commit)
	}
	if len(m.Entries) > 0 {
		b.WriteString(" Entries:[")
		for i, e := range m.Entries {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(DescribeEntry(e))
		}
		b.WriteByte(']')
	}
	if m.Snapshot != nil {
		fmt.Fprintf(&b, " Snapshot: Index:%d Term:%d ConfState:%v", m.Snapshot.Metadata.Index, m.Snapshot.Metadata.Term, m.Snapshot.Metadata.ConfState.String())
	}
	if len(m.Context) > 0 {
		fmt.Fprintf(&b, " Context:%q", m.Context)
	}
	return b.String()
}

// DescribeEntry renders an entry as term/index, type and data.
func DescribeEntry(e pb.Entry) string {
	switch e.Type {
	case pb.EntryNormal:
		return fmt.Sprintf("%d/%d %q", e.Term, e.Index, e.Data)
	case pb.EntryConfChange:
		var cc pb.ConfChange
		if err := cc.Unmarshal(e.Data); err != nil {
			return fmt.Sprintf("%d/%d ConfChange(undecodable: %v)", e.Term, e.Index, err)
		}
		return fmt.Sprintf("%d/%d %s %d", e.Term, e.Index, cc.Type, cc.NodeID)
	}
	return fmt.Sprintf("%d/%d %s %q", e.Term, e.Index, e.Type, e.Data)
}
