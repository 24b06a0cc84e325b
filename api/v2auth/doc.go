// Package v2auth is etcd 3.4's access control for the v2 API: users with
// bcrypt password hashes and roles, the key patterns a role may read and
// write, the built-in root role, the guest role that requests without
// credentials act as, and whether auth is on. The state lives in the v2
// store itself, as etcd keeps it: JSON values under /2 (/2/users/<name>,
// /2/roles/<name>, /2/enabled), written as ordinary v2 requests through
// the member, so raft replicates them and raft snapshots carry them.
//
// Like etcd's, a change is a read followed by a conditional write, not
// one atomic step, and the checks of a request read the member's local
// store: a member may briefly judge a request by a state that another
// member has already changed.
package v2auth
