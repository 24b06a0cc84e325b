package v3rpc

import (
	"context"
	"math"
	"net"
	"sync"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// The member is its own client twice: the lock and election recipes run
// on a clientv3 client, and the JSON gateway forwards to gRPC. etcd wires
// both to the server in-process; we do the same with real gRPC over an
// in-memory listener (bufconn) served by a second grpc.Server carrying the
// same handlers. Compared with dialing the client URL, this needs no
// address, TLS client certificate or credentials, cannot be refused by
// the network, and keeps the member's own traffic out of the client
// metrics, as in etcd.

// inProcessTarget names the in-process server; the dialer ignores it.
const inProcessTarget = "basalt-in-process"

// inProcessBufSize is the in-memory buffer of each connection direction.
const inProcessBufSize = 1 << 20

type inProcess struct {
	srv  *grpc.Server
	lis  *bufconn.Listener
	conn *grpc.ClientConn
	lg   *zap.Logger
	wg   sync.WaitGroup
}

func newInProcess(srv *grpc.Server) *inProcess {
	return &inProcess{srv: srv, lis: bufconn.Listen(inProcessBufSize), lg: zap.NewNop()}
}

func (p *inProcess) dialer() grpc.DialOption {
	return grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
		return p.lis.DialContext(ctx)
	})
}

// newClient returns a clientv3 client of the in-process server, and opens
// the gateway's connection beside it. Neither connects before serve.
func (p *inProcess) newClient(lg *zap.Logger) (*clientv3.Client, error) {
	p.lg = lg
	conn, err := grpc.NewClient("passthrough:///"+inProcessTarget,
		p.dialer(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32), grpc.MaxCallSendMsgSize(math.MaxInt32)),
	)
	if err != nil {
		return nil, err
	}
	p.conn = conn
	c, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{inProcessTarget},
		DialOptions: []grpc.DialOption{p.dialer()},
		Logger:      lg,
	})
	if err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

// serve starts serving the in-process listener; call it once every
// service is registered.
func (p *inProcess) serve(lg *zap.Logger) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		if err := p.srv.Serve(p.lis); err != nil {
			lg.Debug("in-process gRPC server stopped", zap.Error(err))
		}
	}()
}

func (p *inProcess) stop() {
	if p.conn != nil {
		p.conn.Close()
	}
	p.srv.Stop()
	p.wg.Wait()
}
