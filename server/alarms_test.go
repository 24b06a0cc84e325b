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
