package v3rpc

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/basaltkv/basalt/auth"
	"github.com/basaltkv/basalt/lease"
	"github.com/basaltkv/basalt/server/membership"
	"github.com/basaltkv/basalt/server/serverr"
	"github.com/basaltkv/basalt/storage/mvcc"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// errorMapping pairs a member-side sentinel with the gRPC error clients
// receive for it. Clients match on the gRPC message (rpctypes), so every
// error a member may return must appear here or reach the client as
// codes.Unknown with its own text, as in etcd.
type errorMapping struct {
	from error
	to   error
}

// grpcErrors is the one place where the member's errors become etcd's
// client-visible errors. The order matters only for errors that wrap
// another sentinel; none do today.
var grpcErrors = []errorMapping{
	// storage/mvcc
	{mvcc.ErrCompacted, rpctypes.ErrGRPCCompacted},
	{mvcc.ErrFutureRev, rpctypes.ErrGRPCFutureRev},
	// A closed store means the member is stopping: clients should move
	// to another member, as they do for ErrStopped.
	{mvcc.ErrClosed, rpctypes.ErrGRPCStopped},

	// lease
	{lease.ErrLeaseNotFound, rpctypes.ErrGRPCLeaseNotFound},
	{lease.ErrLeaseExists, rpctypes.ErrGRPCLeaseExist},
	{lease.ErrLeaseTTLTooLarge, rpctypes.ErrGRPCLeaseTTLTooLarge},

	// server
	{serverr.ErrRequestTooLarge, rpctypes.ErrGRPCRequestTooLarge},
	{serverr.ErrNoSpace, rpctypes.ErrGRPCNoSpace},
	{serverr.ErrTooManyRequests, rpctypes.ErrGRPCRequestTooManyRequests},
	{serverr.ErrNoLeader, rpctypes.ErrGRPCNoLeader},
	{serverr.ErrNotLeader, rpctypes.ErrGRPCNotLeader},
	{serverr.ErrLeaderChanged, rpctypes.ErrGRPCLeaderChanged},
	{serverr.ErrCanceled, rpctypes.ErrGRPCCanceled},
	{serverr.ErrStopped, rpctypes.ErrGRPCStopped},
	{serverr.ErrTimeout, rpctypes.ErrGRPCTimeout},
	{serverr.ErrTimeoutDueToLeaderFail, rpctypes.ErrGRPCTimeoutDueToLeaderFail},
	{serverr.ErrTimeoutDueToConnectionLost, rpctypes.ErrGRPCTimeoutDueToConnectionLost},
	{serverr.ErrTimeoutWaitAppliedIndex, rpctypes.ErrGRPCTimeoutWaitAppliedIndex},
	// etcd has no gRPC error of its own for a slow leader transfer: the
	// message travels as codes.Unavailable so that clients retry.
	{serverr.ErrTimeoutLeaderTransfer, status.Error(codes.Unavailable, serverr.ErrTimeoutLeaderTransfer.Error())},
	{serverr.ErrUnhealthy, rpctypes.ErrGRPCUnhealthy},
	{serverr.ErrKeyNotFound, rpctypes.ErrGRPCKeyNotFound},
	{serverr.ErrCorrupt, rpctypes.ErrGRPCCorrupt},
	{serverr.ErrBadLeaderTransferee, rpctypes.ErrGRPCBadLeaderTransferee},
	// etcd maps this one to the client-side rpctypes error, which gRPC
	// sends as codes.Unknown with the message: so does basalt.
	{serverr.ErrNotEnoughStartedMembers, status.Error(codes.Unknown, rpctypes.ErrMemberNotEnoughStarted.Error())},
	{serverr.ErrLearnerNotReady, rpctypes.ErrGRPCLearnerNotReady},

	// auth
	{auth.ErrRootUserNotExist, rpctypes.ErrGRPCRootUserNotExist},
	{auth.ErrRootRoleNotExist, rpctypes.ErrGRPCRootRoleNotExist},
	{auth.ErrUserAlreadyExist, rpctypes.ErrGRPCUserAlreadyExist},
	{auth.ErrUserEmpty, rpctypes.ErrGRPCUserEmpty},
	{auth.ErrUserNotFound, rpctypes.ErrGRPCUserNotFound},
	{auth.ErrRoleAlreadyExist, rpctypes.ErrGRPCRoleAlreadyExist},
	{auth.ErrRoleNotFound, rpctypes.ErrGRPCRoleNotFound},
	{auth.ErrRoleEmpty, rpctypes.ErrGRPCRoleEmpty},
	{auth.ErrAuthFailed, rpctypes.ErrGRPCAuthFailed},
	{auth.ErrPermissionNotGiven, rpctypes.ErrGRPCPermissionNotGiven},
	{auth.ErrPermissionDenied, rpctypes.ErrGRPCPermissionDenied},
	{auth.ErrRoleNotGranted, rpctypes.ErrGRPCRoleNotGranted},
	{auth.ErrPermissionNotGranted, rpctypes.ErrGRPCPermissionNotGranted},
	{auth.ErrAuthNotEnabled, rpctypes.ErrGRPCAuthNotEnabled},
	{auth.ErrInvalidAuthToken, rpctypes.ErrGRPCInvalidAuthToken},
	{auth.ErrInvalidAuthMgmt, rpctypes.ErrGRPCInvalidAuthMgmt},
	{auth.ErrAuthOldRevision, rpctypes.ErrGRPCAuthOldRevision},

	// server/membership: the refusals of a membership change
	{membership.ErrIDRemoved, rpctypes.ErrGRPCMemberNotFound},
	{membership.ErrIDNotFound, rpctypes.ErrGRPCMemberNotFound},
	{membership.ErrIDExists, rpctypes.ErrGRPCMemberExist},
	{membership.ErrPeerURLExists, rpctypes.ErrGRPCPeerURLExist},
	{membership.ErrMemberNotLearner, rpctypes.ErrGRPCMemberNotLearner},
	{membership.ErrTooManyLearners, rpctypes.ErrGRPCTooManyLearners},
}

// toGRPCError maps an error returned by the member to the error the
// client receives. Context errors are left to gRPC, which turns them into
// codes.Canceled and codes.DeadlineExceeded; errors that already carry a
// gRPC status pass through; anything unknown becomes codes.Unknown with
// its message, as etcd does.
func toGRPCError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	for _, m := range grpcErrors {
		if errors.Is(err, m.from) {
			return m.to
		}
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Error(codes.Unknown, err.Error())
}

// errDowngradeNotImplemented answers Maintenance.Downgrade.
var errDowngradeNotImplemented = status.Error(codes.Unimplemented, "basalt: downgrade is not implemented")
