package v3rpc

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/basaltkv/basalt/lease"
	"github.com/basaltkv/basalt/server/membership"
	"github.com/basaltkv/basalt/server/serverr"
	"github.com/basaltkv/basalt/storage/mvcc"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

func TestToGRPCError(t *testing.T) {
	tests := []struct {
		in   error
		want error
	}{
		{mvcc.ErrCompacted, rpctypes.ErrGRPCCompacted},
		{mvcc.ErrFutureRev, rpctypes.ErrGRPCFutureRev},
		{mvcc.ErrClosed, rpctypes.ErrGRPCStopped},
		{lease.ErrLeaseNotFound, rpctypes.ErrGRPCLeaseNotFound},
		{lease.ErrLeaseExists, rpctypes.ErrGRPCLeaseExist},
		{lease.ErrLeaseTTLTooLarge, rpctypes.ErrGRPCLeaseTTLTooLarge},
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
		{serverr.ErrUnhealthy, rpctypes.ErrGRPCUnhealthy},
		{serverr.ErrKeyNotFound, rpctypes.ErrGRPCKeyNotFound},
		{serverr.ErrCorrupt, rpctypes.ErrGRPCCorrupt},
		{serverr.ErrBadLeaderTransferee, rpctypes.ErrGRPCBadLeaderTransferee},
		// etcd maps it to the client-side error, which gRPC sends as Unknown.
		{serverr.ErrNotEnoughStartedMembers, status.Error(codes.Unknown, status.Convert(rpctypes.ErrGRPCMemberNotEnoughStarted).Message())},
		{serverr.ErrLearnerNotReady, rpctypes.ErrGRPCLearnerNotReady},
		{membership.ErrIDRemoved, rpctypes.ErrGRPCMemberNotFound},
		{membership.ErrIDNotFound, rpctypes.ErrGRPCMemberNotFound},
		{membership.ErrIDExists, rpctypes.ErrGRPCMemberExist},
		{membership.ErrPeerURLExists, rpctypes.ErrGRPCPeerURLExist},
		{membership.ErrMemberNotLearner, rpctypes.ErrGRPCMemberNotLearner},
		{membership.ErrTooManyLearners, rpctypes.ErrGRPCTooManyLearners},
		// Wrapped sentinels are recognised.
		{fmt.Errorf("apply: %w", serverr.ErrTimeout), rpctypes.ErrGRPCTimeout},
		// Context errors are left for gRPC to code.
		{context.Canceled, context.Canceled},
		{context.DeadlineExceeded, context.DeadlineExceeded},
		// gRPC errors pass through.
		{rpctypes.ErrGRPCEmptyKey, rpctypes.ErrGRPCEmptyKey},
		{nil, nil},
	}
	for _, tt := range tests {
		if got := toGRPCError(tt.in); !errors.Is(got, tt.want) {
			t.Errorf("toGRPCError(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestToGRPCErrorUnknown(t *testing.T) {
	err := toGRPCError(errors.New("disk on fire"))
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.Unknown || st.Message() != "disk on fire" {
		t.Fatalf("got %v", err)
	}
}

func TestTimeoutLeaderTransferIsUnavailable(t *testing.T) {
	st, _ := status.FromError(toGRPCError(serverr.ErrTimeoutLeaderTransfer))
	if st.Code() != codes.Unavailable || st.Message() != serverr.ErrTimeoutLeaderTransfer.Error() {
		t.Fatalf("got %v", st)
	}
}
