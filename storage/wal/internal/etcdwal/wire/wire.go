// Package wire is what the WAL's tests and the etcdwal helper exchange
// as JSON: a request on the helper's stdin, a reply on its stdout (see
// the helper's doc). Raft messages travel in raftpb encoding.
package wire

// Snapshot is a walpb.Snapshot: index, term and the configuration.
type Snapshot struct {
	Index     uint64 `json:"index"`
	Term      uint64 `json:"term"`
	ConfState []byte `json:"conf_state,omitempty"`
}

// Step is one save: a hard state and entries, or a snapshot record.
type Step struct {
	HardState []byte    `json:"hard_state,omitempty"`
	Entries   [][]byte  `json:"entries,omitempty"`
	Snapshot  *Snapshot `json:"snapshot,omitempty"`
}

// Request asks the helper to create, append to or read a WAL.
type Request struct {
	Op          string   `json:"op"`
	Dir         string   `json:"dir"`
	SegmentSize int64    `json:"segment_size"`
	Metadata    []byte   `json:"metadata"`
	At          Snapshot `json:"at"`
	Steps       []Step   `json:"steps"`
}

// Reply is what etcd's ReadAll returned, the snapshot records
// ValidSnapshotEntries lists and Verify's error.
type Reply struct {
	Metadata  []byte     `json:"metadata"`
	HardState []byte     `json:"hard_state"`
	Entries   [][]byte   `json:"entries"`
	Snapshots []Snapshot `json:"snapshots"`
	VerifyErr string     `json:"verify_error"`
}
