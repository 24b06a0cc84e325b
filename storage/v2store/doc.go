// Package v2store is the v2 API's key space: a tree of keys and
// directories with one global index, TTLs, and a hub of watchers fed by
// the last 1,000 events. It is etcd 3.4's v2 store in behaviour: the same
// operations, results, errors (codes, messages, causes, indexes) and
// counters, and the same JSON when saved into a raft snapshot.
//
// The store is a replicated state machine: the member changes it only by
// applying committed raft entries, in log order, so every member holds the
// same tree at the same index. Nothing in it reads the clock to decide
// anything: a TTL is an absolute expiry time chosen by the member that
// proposed the write, and keys expire only when DeleteExpiredKeys is
// applied with the time the leader proposed (etcd's SYNC request). The
// clock is read only to show a key's remaining TTL.
//
// Namespaces are top-level directories created with the store (etcd's
// "/0" for the membership and "/1" for the keys clients see, "/2" for v2
// auth); they and the root are read-only. Names that begin with '_' are
// hidden: listings and recursive watches above them leave them out.
//
// Saved form (Save, Recover): encoding/json of
//
//	{"Root": node, "WatcherHub": {"EventHistory": {"Queue": {"Events": [...],
//	 "Size", "Front", "Back", "Capacity"}, "StartIndex", "LastIndex"}},
//	 "CurrentIndex", "Stats": {...}, "CurrentVersion": 2}
//
// where a node is {"Path", "CreatedIndex", "ModifiedIndex", "ExpireTime",
// "Value", "Children"} (Children null for a key, an object by name for a
// directory). This is what etcd writes into its snapshot files, so each
// reads the other's.
package v2store
