package mvcc

import "github.com/basaltkv/basalt/pkg/failpoint"

// Crash points between the steps of a compaction, with etcd's gofail
// names. The scheduled record is committed first; then every batch but
// the last deletes under the batch lock and commits; the last one records
// the compaction as finished instead (committed with the next batch of
// writes). A crash at any of them after the scheduled record is committed
// leaves the compaction scheduled and, unless its finish was committed,
// not finished: the store resumes it on start (see doc.go). Before, the
// compaction is lost with its raft entry's application, which the
// member replays.
var (
	fpCompactBeforeCommitScheduledCompact = failpoint.New("compactBeforeCommitScheduledCompact")
	fpCompactAfterCommitScheduledCompact  = failpoint.New("compactAfterCommitScheduledCompact")

	fpCompactAfterAcquiredBatchTxLock = failpoint.New("compactAfterAcquiredBatchTxLock")
	fpCompactBeforeCommitBatch        = failpoint.New("compactBeforeCommitBatch")
	fpCompactAfterCommitBatch         = failpoint.New("compactAfterCommitBatch")
	fpCompactBeforeSetFinishedCompact = failpoint.New("compactBeforeSetFinishedCompact")
	fpCompactAfterSetFinishedCompact  = failpoint.New("compactAfterSetFinishedCompact")
)

// at passes the crash point p: it performs p's action if p is armed, then
// calls the store's test hook, if a test set one.
func (s *Store) at(p *failpoint.Point) {
	p.Hit()
	if s.testAt != nil {
		s.testAt(p)
	}
}
