// Package utl is basaltutl, the offline tool of a basalt (or etcd) data
// dir and of database snapshots: etcdutl's commands (snapshot restore and
// status, defrag, hashkv, migrate, version, completion, and etcdutl 3.5's
// backup, which etcd 3.6 removed), flags, output formats, messages, log
// lines and exit codes. The work itself is package server/datadir's
// (RestoreSnapshot, Backup, DBFileStatus, DBFileHashKV, DefragDataDir,
// Migrate); this package parses, checks and prints as etcdutl does.
//
// Main returns the exit status instead of exiting, so that commands run in
// process in tests; cmd/basaltutl only wires it to os.Exit.
package utl
