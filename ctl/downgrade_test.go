package ctl_test

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"
)

// fakeDowngradeServer answers Maintenance.Downgrade as an etcd 3.7.3 member
// of cluster version 3.7 does: the response carries the member's header and
// the cluster version ("3.7", major.minor only). A target other than 3.6 is
// refused with etcd's error, and so is enable while a downgrade is enabled;
// cancel always succeeds (etcd only logs "no inflight downgrade job").
type fakeDowngradeServer struct {
	pb.UnimplementedMaintenanceServer
	mu struct {
		sync.Mutex
		requests []*pb.DowngradeRequest
		enabled  bool
	}
}

func (s *fakeDowngradeServer) Downgrade(_ context.Context, r *pb.DowngradeRequest) (*pb.DowngradeResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.requests = append(s.mu.requests, r)
	switch r.Action {
	case pb.DowngradeRequest_VALIDATE, pb.DowngradeRequest_ENABLE:
		if r.Version != "3.6" && r.Version != "3.6.0" {
			return nil, rpctypes.ErrGRPCInvalidDowngradeTargetVersion
		}
		if r.Action == pb.DowngradeRequest_ENABLE {
			if s.mu.enabled {
				return nil, rpctypes.ErrGRPCDowngradeInProcess
			}
			s.mu.enabled = true
		}
	case pb.DowngradeRequest_CANCEL:
		s.mu.enabled = false
	}
	return &pb.DowngradeResponse{
		Header:  &pb.ResponseHeader{ClusterId: 0x1c6d6a9bd4a1b2c3, MemberId: 0x8e9e05c52164694d, Revision: 7, RaftTerm: 2},
		Version: "3.7",
	}, nil
}

func (s *fakeDowngradeServer) requests() []*pb.DowngradeRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*pb.DowngradeRequest(nil), s.mu.requests...)
}

// startFakeDowngradeServer serves s on 127.0.0.1 and returns its address.
func startFakeDowngradeServer(t *testing.T, s *fakeDowngradeServer) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	pb.RegisterMaintenanceServer(gs, s)
	done := make(chan struct{})
	go func() {
		defer close(done)
		gs.Serve(l)
	}()
	t.Cleanup(func() {
		gs.Stop()
		<-done
	})
	return l.Addr().String()
}

// TestDowngradeOutput runs the downgrade commands against a gRPC server
// that answers as etcd 3.7 does, in every output format, and the argument
// checks that come before any request; testdata/downgrade.golden holds the
// transcript. The responses are etcdctl 3.7's: a sentence in simple, the
// message in json and protobuf, "not supported" (exit 4, after the
// request) in fields and table.
func TestDowngradeOutput(t *testing.T) {
	srv := &fakeDowngradeServer{}
	addr := startFakeDowngradeServer(t, srv)
	n := &normalizer{}
	n.addLiteral(addr, "<SERVER>")
	// clientv3 logs each refused request, as under etcdctl: keep the message.
	n.addRegexp(`(?m)^\{"level":"(\w+)".*"msg":"([^"]*)".*\}$`, `<log $1: $2>`)
	decode := decodeAs[pb.DowngradeResponse]()
	steps := concat(
		[]step{
			{args: a("downgrade", "validate")},
			{args: a("downgrade", "validate", "3.6", "3.5")},
			{args: a("downgrade", "validate", "")},
			{args: a("downgrade", "enable")},
			{args: a("downgrade", "enable", "3.6", "3.5")},
			{args: a("downgrade", "enable", "")},
			{args: a("downgrade", "validate", "3.4")},
			{args: a("downgrade", "cancel")},
			{args: a("downgrade", "enable", "3.6")},
			{args: a("downgrade", "enable", "3.6")},
			{args: a("downgrade", "cancel")},
		},
		inEveryFormat(decode, "downgrade", "validate", "3.6"),
	)
	// Each enable is undone by a cancel (given an argument, which cancel
	// ignores) before the next one.
	for _, f := range formats {
		en := step{args: a("downgrade", "enable", "3.6.0", "-w", f)}
		ca := step{args: a("downgrade", "cancel", "ignored", "-w", f)}
		if f == "protobuf" {
			en.decode, ca.decode = decode, decode
		}
		steps = append(steps, en, ca)
	}
	checkGolden(t, "downgrade", transcript(t, addr, n, steps))

	// Refused argument lists send nothing; cancel sends no version.
	var got []string
	for _, r := range srv.requests() {
		got = append(got, r.Action.String()+" "+r.Version)
	}
	want := []string{"VALIDATE 3.4", "CANCEL ", "ENABLE 3.6", "ENABLE 3.6", "CANCEL "}
	for range formats {
		want = append(want, "VALIDATE 3.6")
	}
	for range formats {
		want = append(want, "ENABLE 3.6.0", "CANCEL ")
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("server saw requests\n%q\nwant\n%q", got, want)
	}
}

// TestDowngradeRefusedByBasalt: basalt does not implement downgrades;
// basaltctl prints the server's gRPC status as etcdctl prints any error and
// exits 1 (after clientv3's log line about the failed request).
func TestDowngradeRefusedByBasalt(t *testing.T) {
	_, ep, _ := newCluster(t, 1, nil)
	const want = "Error: rpc error: code = Unimplemented desc = basalt: downgrade is not implemented"
	for _, args := range [][]string{
		a("downgrade", "validate", "3.6"),
		a("downgrade", "enable", "3.6"),
		a("downgrade", "cancel"),
	} {
		r := runCtl(t, ctlPath(), append(a("--endpoints", ep), args...), "", nil, 30*time.Second)
		if r.code != 1 || r.stdout != "" || errorLine(r.stderr) != want {
			t.Errorf("%q against basalt: got %+v, want exit 1 and %q", args, r, want)
		}
	}
}
