package raft

import (
	"errors"
	"fmt"

	pb "github.com/basaltkv/basalt/raft/raftpb"
)

// SoftState is volatile state worth telling the application about: who
// leads, and our role. It is never persisted.
type SoftState struct {
	Lead      uint64
	RaftState StateType
}

// Ready is everything raft wants the application to do. The application
// must handle it in this order, then call Advance:
//
//  1. Persist HardState (if not empty), Entries and Snapshot (if not
//     empty) to stable storage; fsync if MustSync. Entries replace any
//     persisted entries at and after their first index.
//  2. Send Messages. The leader's MsgApp, MsgSnap and MsgHeartbeat may go
//     out before or while step 1 runs (CanSendBeforePersist); every other
//     message only after, since it promises what step 1 makes durable. A
//     MsgSnap's outcome must be reported with ReportSnapshot.
//  3. Apply the Snapshot (if not empty), then CommittedEntries in order;
//     for an EntryConfChange, call ApplyConfChange.
//  4. Serve ReadStates once the applied index reaches each one's Index.
//  5. Call Advance. No further Ready is produced until then.
type Ready struct {
	// SoftState is nil unless it changed.
	*SoftState
	// HardState is empty unless it changed.
	pb.HardState
	ReadStates       []ReadState
	Entries          []pb.Entry
	Snapshot         pb.Snapshot
	CommittedEntries []pb.Entry
	Messages         []pb.Message
	// MustSync: HardState or Entries must reach the disk before step 2.
	MustSync bool
}

// IsEmptyHardState reports whether st is the zero HardState.
func IsEmptyHardState(st pb.HardState) bool { return st == pb.HardState{} }

// IsEmptySnap reports whether sp carries no snapshot.
func IsEmptySnap(sp pb.Snapshot) bool { return sp.Metadata.Index == 0 }

func isHardStateEqual(a, b pb.HardState) bool { return a == b }

// mustSync reports whether a Ready changing st to this and adding
// entries must be fsynced: term, vote and entries must be durable before
// anyone is told; commit alone need not be.
func mustSync(st, prevst pb.HardState, entsnum int) bool {
	return entsnum != 0 || st.Vote != prevst.Vote || st.Term != prevst.Term
}

// Errors from RawNode.Step for messages that may not come from the network.
var (
	ErrStepLocalMsg     = errors.New("raft: cannot step raft local message")
	ErrStepPeerNotFound = errors.New("raft: cannot step as peer not found")
)

// maxMessageIndex is the largest log index a message may carry.
const maxMessageIndex = 1<<63 - 1

// validateMessage rejects messages that no correct peer sends, so that bad
// input from the network is dropped rather than trusted.
func validateMessage(m pb.Message) error {
	if _, ok := pb.MessageType_name[int32(m.Type)]; !ok {
		return fmt.Errorf("unknown message type %d", m.Type)
	}
	// No log comes near 2^63 entries; an index up there can only make
	// index+1 arithmetic wrap around to 0.
	if m.Index > maxMessageIndex || m.Commit > maxMessageIndex || m.RejectHint > maxMessageIndex {
		return fmt.Errorf("index %d, commit %d or hint %d out of range", m.Index, m.Commit, m.RejectHint)
	}
	if m.Snapshot != nil && m.Snapshot.Metadata.Index > maxMessageIndex {
		return fmt.Errorf("snapshot index %d out of range", m.Snapshot.Metadata.Index)
	}
	switch m.Type {
	case pb.MsgApp, pb.MsgHeartbeat, pb.MsgSnap, pb.MsgTimeoutNow:
		// Step treats term 0 as local; these speak for a leader of a term,
		// and without one a candidate would take the sender as leader at
		// term 0 and go back in time.
		if m.Term == 0 {
			return fmt.Errorf("%s without a term", m.Type)
		}
	}
	switch m.Type {
	case pb.MsgApp:
		prev := m.Index
		prevTerm := m.LogTerm
		if m.LogTerm > m.Term {
			return fmt.Errorf("log term %d above message term %d", m.LogTerm, m.Term)
		}
		for i := range m.Entries {
			e := &m.Entries[i]
			if e.Index != prev+1 || e.Index == 0 {
				return fmt.Errorf("entry %d has index %d, want %d", i, e.Index, prev+1)
			}
			if e.Term < prevTerm || e.Term > m.Term {
				return fmt.Errorf("entry %d has term %d, outside [%d, %d]", i, e.Term, prevTerm, m.Term)
			}
			prev, prevTerm = e.Index, e.Term
		}
	case pb.MsgSnap:
		if m.Snapshot == nil || IsEmptySnap(*m.Snapshot) {
			return errors.New("snapshot message without a snapshot")
		}
		if m.Snapshot.Metadata.Term > m.Term {
			return fmt.Errorf("snapshot term %d above message term %d", m.Snapshot.Metadata.Term, m.Term)
		}
		// restore trusts the membership once it has replaced the log.
		if err := validateConfState(m.Snapshot.Metadata.ConfState); err != nil {
			return fmt.Errorf("snapshot membership: %w", err)
		}
	case pb.MsgReadIndex, pb.MsgReadIndexResp:
		if len(m.Entries) != 1 {
			return fmt.Errorf("read index message with %d entries, want 1", len(m.Entries))
		}
	case pb.MsgVote, pb.MsgPreVote, pb.MsgVoteResp, pb.MsgPreVoteResp:
		if m.Term == 0 {
			return errors.New("vote message without a term")
		}
		if m.LogTerm > m.Term {
			return fmt.Errorf("log term %d above message term %d", m.LogTerm, m.Term)
		}
	case pb.MsgProp:
		for i := range m.Entries {
			if t := m.Entries[i].Type; t != pb.EntryNormal && t != pb.EntryConfChange {
				return fmt.Errorf("proposal entry %d of unknown type %d", i, t)
			}
		}
	}
	return nil
}

// validateConfState rejects a membership no cluster can be in: no voters
// (the last voter can never be removed), the None member, or a member
// that is both voter and learner.
func validateConfState(cs pb.ConfState) error {
	if len(cs.Voters) == 0 {
		return errors.New("no voters")
	}
	voters := make(map[uint64]bool, len(cs.Voters))
	for _, id := range cs.Voters {
		if id == None {
			return errors.New("voter with id 0")
		}
		voters[id] = true
	}
	for _, id := range cs.Learners {
		if id == None {
			return errors.New("learner with id 0")
		}
		if voters[id] {
			return fmt.Errorf("member %x is both voter and learner", id)
		}
	}
	return nil
}
