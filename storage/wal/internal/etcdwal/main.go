// Command etcdwal drives etcd 3.7's own wal package for basalt's WAL
// tests, which cannot link it beside basalt's (both register the same
// metrics). It reads one JSON request on stdin and writes one JSON reply.
//
//	{"op": "create", "dir": D, "segment_size": N, "metadata": B64, "steps": [...]}
//	{"op": "append", "dir": D, "segment_size": N, "at": {"index": I, "term": T}, "steps": [...]}
//	{"op": "read", "dir": D, "at": {...}}
//
// A step is {"hard_state": B64, "entries": [B64...]} or {"snapshot": {...}},
// the raft messages in raftpb encoding. read replies with the metadata,
// hard state and entries ReadAll returns, the snapshot records
// ValidSnapshotEntries lists and Verify's error.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/basaltkv/basalt/storage/wal/internal/etcdwal/wire"
	"go.etcd.io/etcd/server/v3/storage/wal"
	"go.etcd.io/etcd/server/v3/storage/wal/walpb"
	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"
)

func main() {
	var req wire.Request
	if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
		fail("decode request", err)
	}
	if req.SegmentSize > 0 {
		wal.SegmentSizeBytes = req.SegmentSize
	}
	lg := zap.NewNop()
	at := &walpb.Snapshot{Index: proto.Uint64(req.At.Index), Term: proto.Uint64(req.At.Term)}
	switch req.Op {
	case "create":
		w, err := wal.Create(lg, req.Dir, req.Metadata)
		if err != nil {
			fail("create", err)
		}
		write(w, req.Steps)
	case "append":
		w, err := wal.Open(lg, req.Dir, at)
		if err != nil {
			fail("open", err)
		}
		if _, _, _, err := w.ReadAll(); err != nil {
			fail("read all", err)
		}
		write(w, req.Steps)
	case "read":
		var rep wire.Reply
		w, err := wal.OpenForRead(lg, req.Dir, at)
		if err != nil {
			fail("open for read", err)
		}
		meta, st, ents, err := w.ReadAll()
		if err != nil {
			fail("read all", err)
		}
		w.Close()
		rep.Metadata, rep.HardState = meta, marshal(st)
		for _, e := range ents {
			rep.Entries = append(rep.Entries, marshal(e))
		}
		snaps, err := wal.ValidSnapshotEntries(lg, req.Dir)
		if err != nil {
			fail("valid snapshot entries", err)
		}
		for _, s := range snaps {
			rs := wire.Snapshot{Index: s.GetIndex(), Term: s.GetTerm()}
			if s.ConfState != nil {
				rs.ConfState = marshal(s.ConfState)
			}
			rep.Snapshots = append(rep.Snapshots, rs)
		}
		if _, err := wal.Verify(lg, req.Dir, at); err != nil {
			rep.VerifyErr = err.Error()
		}
		if err := json.NewEncoder(os.Stdout).Encode(rep); err != nil {
			fail("encode reply", err)
		}
	default:
		fail("op", fmt.Errorf("unknown op %q", req.Op))
	}
}

func write(w *wal.WAL, steps []wire.Step) {
	for _, s := range steps {
		if s.Snapshot != nil {
			ws := &walpb.Snapshot{Index: proto.Uint64(s.Snapshot.Index), Term: proto.Uint64(s.Snapshot.Term), ConfState: &raftpb.ConfState{}}
			unmarshal(s.Snapshot.ConfState, ws.ConfState)
			if err := w.SaveSnapshot(ws); err != nil {
				fail("save snapshot", err)
			}
			continue
		}
		st := &raftpb.HardState{}
		unmarshal(s.HardState, st)
		var ents []*raftpb.Entry
		for _, b := range s.Entries {
			e := &raftpb.Entry{}
			unmarshal(b, e)
			ents = append(ents, e)
		}
		if err := w.Save(st, ents); err != nil {
			fail("save", err)
		}
	}
	if err := w.Close(); err != nil {
		fail("close", err)
	}
}

func marshal(m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		fail("marshal", err)
	}
	return b
}

func unmarshal(b []byte, m proto.Message) {
	if err := proto.Unmarshal(b, m); err != nil {
		fail("unmarshal", err)
	}
}

func fail(what string, err error) {
	fmt.Fprintf(os.Stderr, "etcdwal: %s: %v\n", what, err)
	os.Exit(1)
}
