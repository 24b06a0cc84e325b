package server

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/basaltkv/basalt/server/membership"
	"github.com/basaltkv/basalt/server/schema"
	"github.com/basaltkv/basalt/server/serverr"
	"github.com/prometheus/client_golang/prometheus"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"
)

// DefaultQuotaBytes is etcd's default backend quota (2 GiB).
const DefaultQuotaBytes = 2 * 1024 * 1024 * 1024

// alarmStore holds the active alarms, persisted as etcd persists them:
// bucket "alarm", key the protobuf-encoded AlarmMember, empty value. The
// applier changes it (apply, recover); any goroutine reads it.
type alarmStore struct {
	lg *zap.Logger
	// gauge is etcd_debugging_server_alarms: 1 for an alarm raised
	// through the log, 0 once disarmed.
	gauge *prometheus.GaugeVec
	mu    struct {
		sync.RWMutex
		// types[alarm][member]
		types map[pb.AlarmType]map[uint64]*pb.AlarmMember
	}
}

func newAlarmStore(lg *zap.Logger, gauge *prometheus.GaugeVec) *alarmStore {
	as := &alarmStore{lg: lg, gauge: gauge}
	as.mu.types = map[pb.AlarmType]map[uint64]*pb.AlarmMember{}
	return as
}

// recover replaces the alarms with those persisted in r: at start, and
// when a database snapshot is installed. On error nothing changes.
func (as *alarmStore) recover(r membership.Reader) error {
	types := map[pb.AlarmType]map[uint64]*pb.AlarmMember{}
	err := r.ForEach(schema.Alarm, func(k, _ []byte) error {
		var a pb.AlarmMember
		if err := proto.Unmarshal(k, &a); err != nil {
			return err
		}
		addAlarm(types, &a)
		return nil
	})
	if err != nil {
		return fmt.Errorf("recover alarms: %w", err)
	}
	as.mu.Lock()
	as.mu.types = types
	as.mu.Unlock()
	return nil
}

func addAlarm(types map[pb.AlarmType]map[uint64]*pb.AlarmMember, a *pb.AlarmMember) {
	byMember := types[a.Alarm]
	if byMember == nil {
		byMember = map[uint64]*pb.AlarmMember{}
		types[a.Alarm] = byMember
	}
	byMember[a.MemberID] = a
}

func (as *alarmStore) active(t pb.AlarmType) bool {
	as.mu.RLock()
	defer as.mu.RUnlock()
	return len(as.mu.types[t]) > 0
}

// list returns the active alarms ordered by member and type.
func (as *alarmStore) list() []*pb.AlarmMember {
	as.mu.RLock()
	defer as.mu.RUnlock()
	var out []*pb.AlarmMember
	for _, byMember := range as.mu.types {
		for _, a := range byMember {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b *pb.AlarmMember) int {
		if c := cmp.Compare(a.MemberID, b.MemberID); c != 0 {
			return c
		}
		return cmp.Compare(a.Alarm, b.Alarm)
	})
	return out
}

// apply activates or deactivates an alarm on every member alike,
// persisting the change in tx.
func (as *alarmStore) apply(tx membership.Writer, r *pb.AlarmRequest) (*pb.AlarmResponse, error) {
	resp := &pb.AlarmResponse{Header: &pb.ResponseHeader{}}
	as.mu.Lock()
	defer as.mu.Unlock()
	switch r.Action {
	case pb.AlarmRequest_GET:
		for _, byMember := range as.mu.types {
			for _, a := range byMember {
				resp.Alarms = append(resp.Alarms, a)
			}
		}
	case pb.AlarmRequest_ACTIVATE:
		if r.Alarm == pb.AlarmType_NONE {
			return resp, nil
		}
		a := &pb.AlarmMember{MemberID: r.MemberID, Alarm: r.Alarm}
		if _, ok := as.mu.types[a.Alarm][a.MemberID]; !ok {
			key, err := proto.Marshal(a)
			if err != nil {
				return nil, err
			}
			if err := tx.UnsafePut(schema.Alarm, key, nil); err != nil {
				return nil, err
			}
			addAlarm(as.mu.types, a)
			as.lg.Warn("alarm raised", zap.String("alarm", a.Alarm.String()), zap.String("from", idString(a.MemberID)))
			// etcd adds 1 for an alarm raised again too; basalt only for a
			// new one, so that disarming brings it back to 0.
			as.gauge.WithLabelValues(idString(a.MemberID), a.Alarm.String()).Inc()
		}
		resp.Alarms = append(resp.Alarms, a)
	case pb.AlarmRequest_DEACTIVATE:
		// One member's alarm of one type, as in etcd: no wildcards (a
		// client disarming "everything" lists the alarms and disarms each,
		// as clientv3 does).
		a, ok := as.mu.types[r.Alarm][r.MemberID]
		if !ok {
			break
		}
		key, err := proto.Marshal(a)
		if err != nil {
			return nil, err
		}
		if err := tx.UnsafeDelete(schema.Alarm, key); err != nil {
			return nil, err
		}
		delete(as.mu.types[r.Alarm], r.MemberID)
		as.gauge.WithLabelValues(idString(a.MemberID), a.Alarm.String()).Dec()
		resp.Alarms = append(resp.Alarms, a)
		as.lg.Warn("alarm disarmed", zap.String("alarm", a.Alarm.String()), zap.String("from", idString(a.MemberID)))
	}
	return resp, nil
}

// Alarm gets, raises or disarms alarms. Raising and disarming go through
// raft so every member agrees. Getting is linearizable, as in etcd (which
// sends it through raft too): a client that saw a write refused for
// NOSPACE finds the alarm on any member it asks next.
func (m *Member) Alarm(ctx context.Context, r *pb.AlarmRequest) (*pb.AlarmResponse, error) {
	if r.Action == pb.AlarmRequest_GET {
		if err := m.LinearizableReadNotify(ctx); err != nil {
			return nil, err
		}
		alarms := m.Alarms()
		if r.Alarm != pb.AlarmType_NONE {
			alarms = slices.DeleteFunc(alarms, func(a *pb.AlarmMember) bool { return a.Alarm != r.Alarm })
		}
		return &pb.AlarmResponse{Header: &pb.ResponseHeader{}, Alarms: alarms}, nil
	}
	res, err := m.propose(ctx, &pb.InternalRaftRequest{Alarm: r})
	if err != nil {
		return nil, err
	}
	return res.resp.(*pb.AlarmResponse), nil
}

// Alarms lists the active alarms.
func (m *Member) Alarms() []*pb.AlarmMember { return m.st.alarms.list() }

// quotaBytes is the backend size past which writes are refused.
func (m *Member) quotaBytes() int64 {
	switch q := m.cfg.QuotaBackendBytes; {
	case q < 0:
		return -1 // disabled
	case q == 0:
		return DefaultQuotaBytes
	default:
		return q
	}
}

// checkQuota refuses a write that would take the backend past its quota,
// and raises the NOSPACE alarm so that every member refuses writes until
// an operator frees space and disarms it.
func (m *Member) checkQuota(ctx context.Context, cost int) error {
	q := m.quotaBytes()
	if q < 0 {
		return nil
	}
	// Each key costs its bytes plus bookkeeping in bbolt and the index.
	const overhead = 256
	if m.st.be.Size()+int64(cost+overhead) <= q {
		return nil
	}
	_, err := m.Alarm(ctx, &pb.AlarmRequest{Action: pb.AlarmRequest_ACTIVATE, MemberID: m.id, Alarm: pb.AlarmType_NOSPACE})
	if err != nil {
		m.lg.Warn("failed to raise NOSPACE alarm", zap.Error(err))
	}
	return serverr.ErrNoSpace
}
