package v3rpc

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/basaltkv/basalt/server/serverr"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// snapshotChunkSize is the blob size of each Snapshot message: several
// pages of the database, well under any message limit.
const snapshotChunkSize = 32 * 1024

// defaultQuotaBytes is etcd's default backend quota, reported by Status
// when the member reports none.
const defaultQuotaBytes = 2 * 1024 * 1024 * 1024

type maintenanceServer struct {
	pb.UnimplementedMaintenanceServer
	m   Member
	hdr header
	lg  *zap.Logger
	// health is the gRPC health service's state (nil on the in-process
	// server). With stopOnDefrag (etcd's StopGRPCServiceOnDefrag feature,
	// off by default) it is NOT_SERVING while a defragmentation blocks the
	// member, so that health-checking balancers steer clients away.
	health       *health.Server
	stopOnDefrag bool
}

func (s *maintenanceServer) Alarm(ctx context.Context, r *pb.AlarmRequest) (*pb.AlarmResponse, error) {
	// Anyone may list the alarms; only root may raise or clear one.
	check := s.m.CheckAdmin
	if r.Action == pb.AlarmRequest_GET {
		check = s.m.RequireAuthInfo
	}
	if err := check(ctx); err != nil {
		return nil, toGRPCError(err)
	}
	resp, err := s.m.Alarm(ctx, r)
	if err != nil {
		return nil, toGRPCError(err)
	}
	s.hdr.fill(ensureHeader(&resp.Header))
	return resp, nil
}

// Status reports the member's state; its Errors list what makes the
// member unable to serve (no leader, active alarms), as etcd's does.
func (s *maintenanceServer) Status(ctx context.Context, _ *pb.StatusRequest) (*pb.StatusResponse, error) {
	if err := s.m.RequireAuthInfo(ctx); err != nil {
		return nil, toGRPCError(err)
	}
	resp, err := s.m.Status(ctx)
	if err != nil {
		return nil, toGRPCError(err)
	}
	s.hdr.fill(ensureHeader(&resp.Header))
	if resp.DbSizeQuota == 0 {
		resp.DbSizeQuota = defaultQuotaBytes
	}
	if resp.DowngradeInfo == nil {
		resp.DowngradeInfo = &pb.DowngradeInfo{}
	}
	// Errors are this layer's, as in etcd: whatever the member put there
	// is replaced, so that each problem is listed once, in etcd's words.
	resp.Errors = nil
	if resp.Leader == 0 {
		resp.Errors = append(resp.Errors, serverr.ErrNoLeader.Error())
	}
	for _, a := range s.m.Alarms() {
		resp.Errors = append(resp.Errors, a.String())
	}
	return resp, nil
}

func (s *maintenanceServer) Defragment(ctx context.Context, _ *pb.DefragmentRequest) (*pb.DefragmentResponse, error) {
	if err := s.m.CheckAdmin(ctx); err != nil {
		return nil, toGRPCError(err)
	}
	s.lg.Info("starting defragment")
	if s.stopOnDefrag {
		s.setServing(false, "defrag is active")
		defer s.setServing(true, "")
	}
	if err := s.m.Defragment(ctx); err != nil {
		s.lg.Warn("failed to defragment", zap.Error(err))
		return nil, toGRPCError(err)
	}
	s.lg.Info("finished defragment")
	// etcd answers an empty message, without a header.
	return &pb.DefragmentResponse{}, nil
}

// setServing flips the gRPC health status around a defragmentation.
func (s *maintenanceServer) setServing(serving bool, reason string) {
	if s.health == nil {
		return
	}
	st := healthpb.HealthCheckResponse_SERVING
	if !serving {
		st = healthpb.HealthCheckResponse_NOT_SERVING
		s.lg.Warn("grpc service status changed", zap.String("service", ""), zap.String("status", st.String()), zap.String("reason", reason))
	} else {
		s.lg.Info("grpc service status changed", zap.String("service", ""), zap.String("status", st.String()))
	}
	s.health.SetServingStatus("", st)
}

func (s *maintenanceServer) Hash(ctx context.Context, _ *pb.HashRequest) (*pb.HashResponse, error) {
	if err := s.m.CheckAdmin(ctx); err != nil {
		return nil, toGRPCError(err)
	}
	resp, err := s.m.Hash(ctx)
	if err != nil {
		return nil, toGRPCError(err)
	}
	s.hdr.fill(ensureHeader(&resp.Header))
	return resp, nil
}

func (s *maintenanceServer) HashKV(ctx context.Context, r *pb.HashKVRequest) (*pb.HashKVResponse, error) {
	if err := s.m.CheckAdmin(ctx); err != nil {
		return nil, toGRPCError(err)
	}
	resp, err := s.m.HashKV(ctx, r.Revision)
	if err != nil {
		return nil, toGRPCError(err)
	}
	s.hdr.fill(ensureHeader(&resp.Header))
	return resp, nil
}

func (s *maintenanceServer) MoveLeader(ctx context.Context, r *pb.MoveLeaderRequest) (*pb.MoveLeaderResponse, error) {
	if err := s.m.CheckAdmin(ctx); err != nil {
		return nil, toGRPCError(err)
	}
	if s.m.Leader() != s.m.ID() {
		return nil, rpctypes.ErrGRPCNotLeader
	}
	if err := s.m.MoveLeader(ctx, r.TargetID); err != nil {
		return nil, toGRPCError(err)
	}
	return &pb.MoveLeaderResponse{Header: s.hdr.new(0)}, nil
}

func (s *maintenanceServer) Downgrade(ctx context.Context, _ *pb.DowngradeRequest) (*pb.DowngradeResponse, error) {
	if err := s.m.CheckAdmin(ctx); err != nil {
		return nil, toGRPCError(err)
	}
	return nil, errDowngradeNotImplemented
}

// Snapshot streams a consistent copy of the backend in chunks, then one
// last message whose blob is the SHA-256 of everything sent before it:
// etcdctl appends it to the file and etcdutl verifies it on restore.
func (s *maintenanceServer) Snapshot(_ *pb.SnapshotRequest, stream pb.Maintenance_SnapshotServer) error {
	if err := s.m.CheckAdmin(stream.Context()); err != nil {
		return toGRPCError(err)
	}
	ctx := stream.Context()
	snap, err := s.m.Snapshot(ctx)
	if err != nil {
		return toGRPCError(err)
	}
	var storageVersion string
	if st, err := s.m.Status(ctx); err == nil {
		storageVersion = st.StorageVersion
	}

	pr, pw := io.Pipe()
	defer pr.Close()
	go func() {
		_, err := snap.WriteTo(pw)
		if cerr := snap.Close(); cerr != nil {
			s.lg.Warn("failed to close snapshot", zap.Error(cerr))
		}
		pw.CloseWithError(err)
	}()

	total := snap.Size()
	start := time.Now()
	s.lg.Info("sending database snapshot to client", zap.Int64("total-bytes", total), zap.String("storage-version", storageVersion))
	h := sha256.New()
	hdr := s.hdr.new(0)
	var sent int64
	for sent < total {
		// A fresh buffer per message: Send may still hold the last one.
		buf := make([]byte, min(snapshotChunkSize, total-sent))
		n, err := io.ReadFull(pr, buf)
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			return toGRPCError(err)
		}
		if n == 0 {
			// The writer stopped short of the size it announced.
			return toGRPCError(io.ErrUnexpectedEOF)
		}
		sent += int64(n)
		h.Write(buf[:n])
		resp := &pb.SnapshotResponse{Header: hdr, RemainingBytes: uint64(total - sent), Blob: buf[:n], Version: storageVersion}
		hdr = nil
		if err := stream.Send(resp); err != nil {
			return toGRPCError(err)
		}
	}
	sum := h.Sum(nil)
	s.lg.Info("sending database sha256 checksum to client", zap.Int64("total-bytes", total), zap.Int("checksum-size", len(sum)))
	if err := stream.Send(&pb.SnapshotResponse{Header: hdr, Blob: sum, Version: storageVersion}); err != nil {
		return toGRPCError(err)
	}
	s.lg.Info("successfully sent database snapshot to client", zap.Int64("total-bytes", total), zap.Duration("took", time.Since(start)))
	return nil
}
