package snap

import "github.com/basaltkv/basalt/pkg/failpoint"

// Crash points (see package failpoint) in saving a database received from
// the leader: once it is written and synced under its temporary name, and
// once it is verified, before the rename that makes it the snapshot's.
var (
	fpDBAfterReceive = failpoint.New("snapDBAfterReceive")
	fpDBBeforeRename = failpoint.New("snapDBBeforeRename")
)
