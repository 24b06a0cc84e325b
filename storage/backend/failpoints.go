package backend

import "github.com/basaltkv/basalt/pkg/failpoint"

// Crash points (see package failpoint), named as etcd's where etcd has
// one: around a batch commit, in a defragmentation, and around the rename
// of ReplaceWith.
var (
	fpBeforeCommit        = failpoint.New("beforeCommit")
	fpAfterCommit         = failpoint.New("afterCommit")
	fpDefragBeforeCopy    = failpoint.New("defragBeforeCopy")
	fpDefragBeforeRename  = failpoint.New("defragBeforeRename")
	fpDefragAfterRename   = failpoint.New("defragAfterRename")
	fpBeforeReplaceRename = failpoint.New("backendBeforeReplaceRename")
	fpAfterReplaceRename  = failpoint.New("backendAfterReplaceRename")
)
