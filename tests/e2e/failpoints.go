package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Crash points (package pkg/failpoint) of a member started with
// FailpointsEnv: armed over its client URL's /debug/failpoints.

// FailpointsEnv serves a member's crash points over HTTP; put it in
// Options.Env.
const FailpointsEnv = "BASALT_FAILPOINTS_HTTP=on"

// ArmEnv arms point with action from the start of the member's next run
// (before it serves HTTP); put it in Member.Env.
func ArmEnv(point, action string) string { return "BASALT_FAILPOINTS=" + point + "=" + action }

// SetFailpoint arms point with action (kill, panic, sleep(D), off, with
// an optional N* prefix) on the running member.
func (m *Member) SetFailpoint(point, action string) error {
	req, err := http.NewRequest(http.MethodPut, m.ClientURL()+"/debug/failpoints/"+point, strings.NewReader(action))
	if err != nil {
		return err
	}
	resp, err := failpointHTTP.Do(req)
	if err != nil {
		return fmt.Errorf("arm %s on %s: %w", point, m.Name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("arm %s on %s: %s: %s", point, m.Name, resp.Status, b)
	}
	return nil
}

// Failpoints lists the member's crash points with how often each was
// reached in its current run.
func (m *Member) Failpoints() (map[string]int64, error) {
	resp, err := failpointHTTP.Get(m.ClientURL() + "/debug/failpoints")
	if err != nil {
		return nil, fmt.Errorf("list failpoints of %s: %w", m.Name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("list failpoints of %s: %s", m.Name, resp.Status)
	}
	points := map[string]int64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		// name=action hits=N
		line := sc.Text()
		i := strings.LastIndex(line, " hits=")
		name, _, ok := strings.Cut(line[:max(i, 0)], "=")
		if i < 0 || !ok {
			return nil, fmt.Errorf("failpoints of %s: bad line %q", m.Name, line)
		}
		n, err := strconv.ParseInt(line[i+len(" hits="):], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("failpoints of %s: bad line %q", m.Name, line)
		}
		points[name] = n
	}
	return points, sc.Err()
}

var failpointHTTP = &http.Client{Timeout: 5 * time.Second}

// KilledAt reports whether the member's current process has exited,
// killed by crash point point.
func (m *Member) KilledAt(point string) bool {
	p := m.Process()
	return p != nil && p.Exited() && strings.Contains(p.Output(), "failpoint "+point+": kill")
}

// StartNoWait starts a stopped member without waiting for it to be ready
// (it may be meant to die on its way).
func (m *Member) StartNoWait() error { return m.start() }

// CrashTrigger is what makes a member pass a crash point.
type CrashTrigger int

const (
	// TriggerWrite: puts (2 KiB values cut 64 KiB WAL segments).
	TriggerWrite CrashTrigger = iota
	// TriggerSnapshot: puts, until the member takes a snapshot (and, with
	// --max-wals=1, purges the segments it releases).
	TriggerSnapshot
	// TriggerInstall: the member is down while the others write past what
	// the leader keeps in its log; restarted armed, it is sent a snapshot.
	TriggerInstall
	// TriggerCompact: more than one batch (1,000) of revisions, then a
	// compaction.
	TriggerCompact
	// TriggerDefrag: a defragmentation of the member.
	TriggerDefrag
	// TriggerRestart: the member restarts armed and replays its log's
	// conf changes.
	TriggerRestart
)

var triggerNames = [...]string{"write", "snapshot", "install", "compact", "defrag", "restart"}

func (tr CrashTrigger) String() string { return triggerNames[tr] }

// CrashPoint is a crash point basalt declares and what reaches it.
type CrashPoint struct {
	Name    string
	Trigger CrashTrigger
}

// CrashPoints lists every crash point of the member (the crash test fails
// when a point is missing), in the order the crash test kills a member at
// them. The restart point comes first: it replays the bootstrap conf
// changes, which later snapshots and purges remove from the log.
var CrashPoints = []CrashPoint{
	{"beforeApplyOneConfChange", TriggerRestart},
	// A Ready's steps, and the backend's commit.
	{"raftBeforeLeaderSend", TriggerWrite},
	{"raftBeforeSave", TriggerWrite},
	{"raftAfterSave", TriggerWrite},
	{"raftAfterPersistNotify", TriggerWrite},
	{"raftBeforeFollowerSend", TriggerWrite},
	{"raftBeforeAdvance", TriggerWrite},
	{"beforeApplyOneEntryNormal", TriggerWrite},
	{"beforeCommit", TriggerWrite},
	{"afterCommit", TriggerWrite},
	// A WAL segment cut, and a purge.
	{"walBeforeCut", TriggerWrite},
	{"walAfterCutTailSynced", TriggerWrite},
	{"walBeforeCutRename", TriggerWrite},
	{"walAfterCutRename", TriggerWrite},
	{"walBeforePurgeSegment", TriggerSnapshot},
	{"walAfterPurgeSegment", TriggerSnapshot},
	// The member's own snapshot.
	{"snapshotBeforeSaveSnap", TriggerSnapshot},
	{"snapshotBeforeWALSaveSnapshot", TriggerSnapshot},
	{"snapshotAfterWALSaveSnapshot", TriggerSnapshot},
	// Compaction and defragmentation.
	{"compactBeforeCommitScheduledCompact", TriggerCompact},
	{"compactAfterCommitScheduledCompact", TriggerCompact},
	{"compactAfterAcquiredBatchTxLock", TriggerCompact},
	{"compactBeforeCommitBatch", TriggerCompact},
	{"compactAfterCommitBatch", TriggerCompact},
	{"compactBeforeSetFinishedCompact", TriggerCompact},
	{"compactAfterSetFinishedCompact", TriggerCompact},
	{"defragBeforeCopy", TriggerDefrag},
	{"defragBeforeRename", TriggerDefrag},
	{"defragAfterRename", TriggerDefrag},
	// Installing a snapshot from the leader: the database received, then
	// the Ready that carries the snapshot, then the installation.
	{"snapDBAfterReceive", TriggerInstall},
	{"snapDBBeforeRename", TriggerInstall},
	{"raftBeforeSaveSnap", TriggerInstall},
	{"raftBeforeWALSaveSnapshot", TriggerInstall},
	{"raftAfterSaveSnap", TriggerInstall},
	{"raftAfterSync", TriggerInstall},
	{"raftBeforeApplySnap", TriggerInstall},
	{"raftAfterApplySnap", TriggerInstall},
	{"raftAfterWALRelease", TriggerInstall},
	{"applyBeforeOpenSnapshot", TriggerInstall},
	{"backendBeforeReplaceRename", TriggerInstall},
	{"backendAfterReplaceRename", TriggerInstall},
	{"applyAfterOpenSnapshot", TriggerInstall},
	{"applyAfterRestoreLeases", TriggerInstall},
	{"applyAfterRestoreAlarms", TriggerInstall},
	{"applyAfterRestoreMembership", TriggerInstall},
	{"applyAfterRestoreKV", TriggerInstall},
	{"applyBeforeReleaseSnapDBs", TriggerInstall},
}
