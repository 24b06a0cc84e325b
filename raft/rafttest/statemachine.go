package rafttest

import (
	"encoding/binary"
	"errors"
	"fmt"

	pb "github.com/basaltkv/basalt/raft/raftpb"
)

// bootstrapHash is the prefix hash of the log up to index 1, the initial
// snapshot every founding member starts from. Every prefix hash in a run
// descends from it, so equal hashes at an index mean equal logs up to it.
const bootstrapHash uint64 = 0xcbf29ce484222325

const hashPrime uint64 = 0x100000001b3

func mixWord(h, v uint64) uint64 {
	h ^= v
	h *= hashPrime
	return h ^ h>>31
}

// chainHash folds entry e into prev, the hash of the log before it. The
// same function serves the logs on disk and the state machines, which
// apply exactly the committed log prefix.
func chainHash(prev uint64, e *pb.Entry) uint64 {
	h := mixWord(prev, e.Index)
	h = mixWord(h, e.Term)
	h = mixWord(h, uint64(e.Type))
	h = mixWord(h, uint64(len(e.Data)))
	for _, b := range e.Data {
		h = (h ^ uint64(b)) * hashPrime
	}
	return h
}

// AppliedEntry is one normal entry a member's state machine applied.
type AppliedEntry struct {
	Index, Term uint64
	Data        string
}

// stateMachine is what each member applies: the list of normal entries
// with data, plus the index and prefix hash of everything applied (empty
// entries and conf changes included), so that a snapshot of it can be
// checked against the global history.
type stateMachine struct {
	applied uint64
	chain   uint64
	entries []AppliedEntry
}

func bootstrapStateMachine() stateMachine {
	return stateMachine{applied: 1, chain: bootstrapHash}
}

func (sm *stateMachine) apply(e *pb.Entry) {
	sm.applied = e.Index
	sm.chain = chainHash(sm.chain, e)
	if e.Type == pb.EntryNormal && len(e.Data) > 0 {
		sm.entries = append(sm.entries, AppliedEntry{Index: e.Index, Term: e.Term, Data: string(e.Data)})
	}
}

const snapMagic = "BSIM"

// encode is the snapshot data: magic, applied index, prefix hash, then
// the applied list.
func (sm *stateMachine) encode() []byte {
	b := make([]byte, 0, 32+len(sm.entries)*16)
	b = append(b, snapMagic...)
	b = binary.AppendUvarint(b, sm.applied)
	b = binary.LittleEndian.AppendUint64(b, sm.chain)
	b = binary.AppendUvarint(b, uint64(len(sm.entries)))
	for _, e := range sm.entries {
		b = binary.AppendUvarint(b, e.Index)
		b = binary.AppendUvarint(b, e.Term)
		b = binary.AppendUvarint(b, uint64(len(e.Data)))
		b = append(b, e.Data...)
	}
	return b
}

var errBadSnapshotData = errors.New("malformed snapshot data")

func decodeStateMachine(b []byte) (stateMachine, error) {
	var sm stateMachine
	if len(b) < len(snapMagic) || string(b[:len(snapMagic)]) != snapMagic {
		return sm, errBadSnapshotData
	}
	b = b[len(snapMagic):]
	next := func() (uint64, error) {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, errBadSnapshotData
		}
		b = b[n:]
		return v, nil
	}
	var err error
	if sm.applied, err = next(); err != nil {
		return sm, err
	}
	if len(b) < 8 {
		return sm, errBadSnapshotData
	}
	sm.chain = binary.LittleEndian.Uint64(b)
	b = b[8:]
	n, err := next()
	if err != nil || n > uint64(len(b)) {
		return sm, errBadSnapshotData
	}
	sm.entries = make([]AppliedEntry, 0, n)
	for range n {
		var e AppliedEntry
		if e.Index, err = next(); err != nil {
			return sm, err
		}
		if e.Term, err = next(); err != nil {
			return sm, err
		}
		l, err := next()
		if err != nil || l > uint64(len(b)) {
			return sm, errBadSnapshotData
		}
		e.Data = string(b[:l])
		b = b[l:]
		sm.entries = append(sm.entries, e)
	}
	if len(b) != 0 {
		return sm, fmt.Errorf("%w: %d trailing bytes", errBadSnapshotData, len(b))
	}
	return sm, nil
}
