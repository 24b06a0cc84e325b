package server

import "github.com/basaltkv/basalt/pkg/failpoint"

// Crash points (see package failpoint) between the member's persist and
// install steps, named as etcd's where etcd has one. doc.go gives the
// order of the steps they separate; tests/e2e kills a member at each and
// checks that it comes back.
var (
	// A Ready (raft_node.go).
	fpRaftBeforeLeaderSend      = failpoint.New("raftBeforeLeaderSend")
	fpRaftBeforeSaveSnap        = failpoint.New("raftBeforeSaveSnap")
	fpRaftBeforeWALSaveSnapshot = failpoint.New("raftBeforeWALSaveSnapshot")
	fpRaftAfterSaveSnap         = failpoint.New("raftAfterSaveSnap")
	fpRaftBeforeSave            = failpoint.New("raftBeforeSave")
	fpRaftAfterSave             = failpoint.New("raftAfterSave")
	fpRaftAfterSync             = failpoint.New("raftAfterSync")
	fpRaftBeforeApplySnap       = failpoint.New("raftBeforeApplySnap")
	fpRaftAfterApplySnap        = failpoint.New("raftAfterApplySnap")
	fpRaftAfterPersistNotify    = failpoint.New("raftAfterPersistNotify")
	fpRaftAfterWALRelease       = failpoint.New("raftAfterWALRelease")
	fpRaftBeforeFollowerSend    = failpoint.New("raftBeforeFollowerSend")
	fpRaftBeforeAdvance         = failpoint.New("raftBeforeAdvance")

	// Applying entries (applier.go).
	fpBeforeApplyOneEntryNormal = failpoint.New("beforeApplyOneEntryNormal")
	fpBeforeApplyOneConfChange  = failpoint.New("beforeApplyOneConfChange")

	// Installing a snapshot from the leader (snapshot.go); the database's
	// receipt and verification are in storage/snap, its rename in
	// storage/backend.
	fpApplyBeforeOpenSnapshot     = failpoint.New("applyBeforeOpenSnapshot")
	fpApplyAfterOpenSnapshot      = failpoint.New("applyAfterOpenSnapshot")
	fpApplyAfterRestoreLeases     = failpoint.New("applyAfterRestoreLeases")
	fpApplyAfterRestoreAlarms     = failpoint.New("applyAfterRestoreAlarms")
	fpApplyAfterRestoreMembership = failpoint.New("applyAfterRestoreMembership")
	fpApplyAfterRestoreKV         = failpoint.New("applyAfterRestoreKV")
	fpApplyBeforeReleaseSnapDBs   = failpoint.New("applyBeforeReleaseSnapDBs")

	// Taking the member's own snapshot (snapshot.go).
	fpSnapshotBeforeSaveSnap        = failpoint.New("snapshotBeforeSaveSnap")
	fpSnapshotBeforeWALSaveSnapshot = failpoint.New("snapshotBeforeWALSaveSnapshot")
	fpSnapshotAfterWALSaveSnapshot  = failpoint.New("snapshotAfterWALSaveSnapshot")
)
