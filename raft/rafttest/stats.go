package rafttest

import (
	"fmt"
	"reflect"
	"strings"
)

// Stats counts what a run exercised, so that a suite of seeds can show it
// covered elections, crashes, snapshots and membership changes rather
// than merely passing.
type Stats struct {
	Elections          int // terms that had a leader
	Crashes            int
	LostReadies        int // crashes that lost a taken, unpersisted Ready
	Restarts           int
	Partitions         int
	MessagesDropped    int // lost on send, to a down member or a cut link
	MessagesDuplicated int
	EarlySends         int // messages sent before their Ready was persisted
	SnapshotsSent      int // MsgSnap delivered
	SnapshotsInstalled int // snapshots a member persisted from a Ready
	SnapshotsTaken     int // snapshots of a member's own state
	LogTruncations     int // persisted entries replaced by others
	ConfChangesApplied int // distinct conf change entries applied
	MembersAdded       int
	MembersRemoved     int
	TransferRequests   int
	ReadStates         int
	RecoveryTicks      int // ticks from healing to recovery
}

// Stats returns what the run has exercised so far.
func (s *Sim) Stats() Stats {
	st := s.stats
	st.Elections = len(s.leaders)
	st.ConfChangesApplied = len(s.confAt)
	st.MembersRemoved = len(s.removed)
	return st
}

// Add sums two Stats.
func (st *Stats) Add(o Stats) {
	a, b := reflect.ValueOf(st).Elem(), reflect.ValueOf(o)
	for i := range a.NumField() {
		a.Field(i).SetInt(a.Field(i).Int() + b.Field(i).Int())
	}
}

func (st Stats) String() string {
	var b strings.Builder
	v, t := reflect.ValueOf(st), reflect.TypeOf(st)
	for i := range v.NumField() {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%s=%d", t.Field(i).Name, v.Field(i).Int())
	}
	return b.String()
}
