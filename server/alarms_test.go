package server

import (
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// TestAlarmListIsLinearizable raises and disarms an alarm through the
// leader and asks every follower at once: each must answer with the
// alarm state the leader acknowledged, never an older one.
func TestAlarmListIsLinearizable(t *testing.T) {
	c := newTestCluster(t, 3)
	c.waitReady()
	ctx := ctxT(t)
	lead := c.leader()
	get := &pb.AlarmRequest{Action: pb.AlarmRequest_GET}
	for i := 0; i < 20; i++ {
		raise := &pb.AlarmRequest{Action: pb.AlarmRequest_ACTIVATE, MemberID: lead.m.id, Alarm: pb.AlarmType_NOSPACE}
		if _, err := lead.m.Alarm(ctx, raise); err != nil {
			t.Fatal(err)
		}
		for _, tm := range c.members {
			resp, err := tm.m.Alarm(ctx, get)
			if err != nil || len(resp.Alarms) != 1 {
				t.Fatalf("round %d: %s lists %v (%v) after the alarm was raised", i, tm.name, resp, err)
			}
		}
		disarm := &pb.AlarmRequest{Action: pb.AlarmRequest_DEACTIVATE, MemberID: lead.m.id, Alarm: pb.AlarmType_NOSPACE}
		if _, err := lead.m.Alarm(ctx, disarm); err != nil {
			t.Fatal(err)
		}
		for _, tm := range c.members {
			resp, err := tm.m.Alarm(ctx, get)
			if err != nil || len(resp.Alarms) != 0 {
				t.Fatalf("round %d: %s lists %v (%v) after the alarm was disarmed", i, tm.name, resp, err)
			}
		}
	}
	// A GET for another type lists none.
	raise := &pb.AlarmRequest{Action: pb.AlarmRequest_ACTIVATE, MemberID: lead.m.id, Alarm: pb.AlarmType_NOSPACE}
	if _, err := lead.m.Alarm(ctx, raise); err != nil {
		t.Fatal(err)
	}
	resp, err := lead.m.Alarm(ctx, &pb.AlarmRequest{Action: pb.AlarmRequest_GET, Alarm: pb.AlarmType_CORRUPT})
	if err != nil || len(resp.Alarms) != 0 {
		t.Fatalf("GET CORRUPT lists %v (%v)", resp, err)
	}
}

// TestAlarmDisarmIsExact checks etcd's rule: a disarm names one member
// and one type, and a zero member or NONE type matches nothing.
func TestAlarmDisarmIsExact(t *testing.T) {
	c := newTestCluster(t, 1)
	c.waitReady()
	ctx := ctxT(t)
	m := c.leader().m
	raise := &pb.AlarmRequest{Action: pb.AlarmRequest_ACTIVATE, MemberID: m.id, Alarm: pb.AlarmType_NOSPACE}
	if _, err := m.Alarm(ctx, raise); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		member   uint64
		alarm    pb.AlarmType
		disarmed int
		left     int
	}{
		{"member 0", 0, pb.AlarmType_NOSPACE, 0, 1},
		{"type NONE", m.id, pb.AlarmType_NONE, 0, 1},
		{"other type", m.id, pb.AlarmType_CORRUPT, 0, 1},
		{"other member", m.id + 1, pb.AlarmType_NOSPACE, 0, 1},
		{"exact", m.id, pb.AlarmType_NOSPACE, 1, 0},
		{"again", m.id, pb.AlarmType_NOSPACE, 0, 0},
	}
	for _, tt := range tests {
		resp, err := m.Alarm(ctx, &pb.AlarmRequest{Action: pb.AlarmRequest_DEACTIVATE, MemberID: tt.member, Alarm: tt.alarm})
		if err != nil || len(resp.Alarms) != tt.disarmed {
			t.Fatalf("%s: disarm answered %v (%v), want %d alarm(s)", tt.name, resp, err, tt.disarmed)
		}
		list, err := m.Alarm(ctx, &pb.AlarmRequest{Action: pb.AlarmRequest_GET})
		if err != nil || len(list.Alarms) != tt.left {
			t.Fatalf("%s: %v (%v) left, want %d", tt.name, list, err, tt.left)
		}
	}
}
