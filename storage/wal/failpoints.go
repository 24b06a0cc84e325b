package wal

import "github.com/basaltkv/basalt/pkg/failpoint"

// Crash points (see package failpoint) between the steps of cutting a new
// segment and of purging released ones.
var (
	fpBeforeCut          = failpoint.New("walBeforeCut")
	fpAfterCutTailSynced = failpoint.New("walAfterCutTailSynced")
	fpBeforeCutRename    = failpoint.New("walBeforeCutRename")
	fpAfterCutRename     = failpoint.New("walAfterCutRename")
	fpBeforePurgeSegment = failpoint.New("walBeforePurgeSegment")
	fpAfterPurgeSegment  = failpoint.New("walAfterPurgeSegment")
)
