package httpapi

import (
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"go.etcd.io/etcd/api/v3/etcdserverpb/gw"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3election/v3electionpb"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3lock/v3lockpb"
)

// NewGateway returns the v3 JSON gateway (/v3/...): every RPC of the v3
// API as an HTTP POST of its request in JSON, forwarded to the gRPC
// server over conn. The JSON is etcd's: protobuf field names, bytes in
// base64, 64-bit integers as strings, empty fields left out.
func NewGateway(ctx context.Context, conn *grpc.ClientConn) (*runtime.ServeMux, error) {
	mux := runtime.NewServeMux(runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.HTTPBodyMarshaler{
		Marshaler: &runtime.JSONPb{
			MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: false},
			UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: true},
		},
	}))
	for _, register := range []func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error{
		gw.RegisterKVHandler,
		gw.RegisterWatchHandler,
		gw.RegisterLeaseHandler,
		gw.RegisterClusterHandler,
		gw.RegisterMaintenanceHandler,
		gw.RegisterAuthHandler,
	} {
		if err := register(ctx, mux, conn); err != nil {
			return nil, err
		}
	}
	if err := registerRecipes(mux, conn); err != nil {
		return nil, err
	}
	return mux, nil
}

// registerRecipes adds the lock and election routes. etcd generates them
// beside its server; basalt may use only the services' wire types, so the
// routes are declared here, with the same paths and behaviour as the
// generated ones.
func registerRecipes(mux *runtime.ServeMux, conn *grpc.ClientConn) error {
	lock := v3lockpb.NewLockClient(conn)
	election := v3electionpb.NewElectionClient(conn)
	return errors.Join(
		handleUnary(mux, "/v3/lock/lock", "/v3lockpb.Lock/Lock", lock.Lock),
		handleUnary(mux, "/v3/lock/unlock", "/v3lockpb.Lock/Unlock", lock.Unlock),
		handleUnary(mux, "/v3/election/campaign", "/v3electionpb.Election/Campaign", election.Campaign),
		handleUnary(mux, "/v3/election/proclaim", "/v3electionpb.Election/Proclaim", election.Proclaim),
		handleUnary(mux, "/v3/election/leader", "/v3electionpb.Election/Leader", election.Leader),
		handleUnary(mux, "/v3/election/resign", "/v3electionpb.Election/Resign", election.Resign),
		handleServerStream(mux, "/v3/election/observe", "/v3electionpb.Election/Observe",
			func(ctx context.Context, r *v3electionpb.LeaderRequest, opts ...grpc.CallOption) (func() (proto.Message, error), error) {
				s, err := election.Observe(ctx, r, opts...)
				if err != nil {
					return nil, err
				}
				return func() (proto.Message, error) { return s.Recv() }, nil
			}),
	)
}

// message is a generated request type: a pointer to a protobuf struct.
type message[T any] interface {
	*T
	proto.Message
}

// decodeRequest reads a request body as the generated handlers do: an
// empty body is the empty request.
func decodeRequest(m runtime.Marshaler, r *http.Request, req proto.Message) error {
	if err := m.NewDecoder(r.Body).Decode(req); err != nil && !errors.Is(err, io.EOF) {
		return status.Errorf(codes.InvalidArgument, "%v", err)
	}
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
	}
	return nil
}

func handleUnary[Req any, PReq message[Req], Resp proto.Message](
	mux *runtime.ServeMux, path, method string,
	call func(context.Context, PReq, ...grpc.CallOption) (Resp, error),
) error {
	return mux.HandlePath(http.MethodPost, path, func(w http.ResponseWriter, r *http.Request, _ map[string]string) {
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		in, out := runtime.MarshalerForRequest(mux, r)
		actx, err := runtime.AnnotateContext(ctx, mux, r, method, runtime.WithHTTPPathPattern(path))
		if err != nil {
			runtime.HTTPError(ctx, mux, out, w, r, err)
			return
		}
		req := PReq(new(Req))
		if err := decodeRequest(in, r, req); err != nil {
			runtime.HTTPError(actx, mux, out, w, r, err)
			return
		}
		var md runtime.ServerMetadata
		resp, err := call(actx, req, grpc.Header(&md.HeaderMD), grpc.Trailer(&md.TrailerMD))
		actx = runtime.NewServerMetadataContext(actx, md)
		if err != nil {
			runtime.HTTPError(actx, mux, out, w, r, err)
			return
		}
		runtime.ForwardResponseMessage(actx, mux, out, w, r, resp, mux.GetForwardResponseOptions()...)
	})
}

func handleServerStream[Req any, PReq message[Req]](
	mux *runtime.ServeMux, path, method string,
	open func(context.Context, PReq, ...grpc.CallOption) (func() (proto.Message, error), error),
) error {
	return mux.HandlePath(http.MethodPost, path, func(w http.ResponseWriter, r *http.Request, _ map[string]string) {
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		in, out := runtime.MarshalerForRequest(mux, r)
		actx, err := runtime.AnnotateContext(ctx, mux, r, method, runtime.WithHTTPPathPattern(path))
		if err != nil {
			runtime.HTTPError(ctx, mux, out, w, r, err)
			return
		}
		req := PReq(new(Req))
		if err := decodeRequest(in, r, req); err != nil {
			runtime.HTTPError(actx, mux, out, w, r, err)
			return
		}
		var md runtime.ServerMetadata
		recv, err := open(actx, req, grpc.Header(&md.HeaderMD), grpc.Trailer(&md.TrailerMD))
		actx = runtime.NewServerMetadataContext(actx, md)
		if err != nil {
			runtime.HTTPError(actx, mux, out, w, r, err)
			return
		}
		runtime.ForwardResponseStream(actx, mux, out, w, r, recv, mux.GetForwardResponseOptions()...)
	})
}
