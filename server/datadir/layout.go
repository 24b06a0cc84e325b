// Package datadir is a member's data dir: where its files live (the
// layout is etcd's, so etcd's tools find them), and the tools that work on
// a stopped member's data dir or on a database file, as etcdutl's do:
// restoring a snapshot into the data dir of a member of a new cluster,
// backing a data dir up, and the status, hash and defragmentation of a
// database file. The running member is package server; nothing here runs
// while it does (the database's file lock keeps them apart).
//
//	DATA_DIR/member/wal/          the write-ahead log (or --wal-dir)
//	DATA_DIR/member/snap/*.snap   raft snapshots
//	DATA_DIR/member/snap/*.snap.db  databases received from the leader
//	DATA_DIR/member/snap/db       the backend (bbolt)
package datadir

import "path/filepath"

// Layout names the files of the data dir DataDir whose WAL is in WALDir
// (empty: the data dir's own).
type Layout struct {
	DataDir, WALDir string
}

// MemberDir is DataDir/member.
func (l Layout) MemberDir() string { return filepath.Join(l.DataDir, "member") }

// SnapDir holds raft snapshots, received databases and the backend.
func (l Layout) SnapDir() string { return filepath.Join(l.MemberDir(), "snap") }

// WALPath holds the WAL.
func (l Layout) WALPath() string {
	if l.WALDir != "" {
		return l.WALDir
	}
	return filepath.Join(l.MemberDir(), "wal")
}

// BackendPath is the bbolt file.
func (l Layout) BackendPath() string { return filepath.Join(l.SnapDir(), "db") }

// BackendPathOf is where the backend of the data dir lives.
func BackendPathOf(dataDir string) string { return Layout{DataDir: dataDir}.BackendPath() }
