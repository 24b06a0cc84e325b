package netutil

import (
	"context"
	"net"
	"net/http"
	"strings"
	"time"
)

// Dial returns a dial function with Dialer's settings for TCP and a
// plain dial for unix sockets (which have no local IP to come from).
func Dial(timeout time.Duration, localIP string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	tcp := Dialer(timeout, localIP)
	unix := &net.Dialer{Timeout: timeout}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if network == "unix" {
			return unix.DialContext(ctx, network, addr)
		}
		return tcp.DialContext(ctx, network, addr)
	}
}

// UnixTransport is an HTTP transport that also reaches unix:// and
// unixs:// URLs as etcd's peer transport does: the URL's host names the
// socket file (unix://localhost:2380 is the socket "localhost:2380" in
// the working directory), and unixs speaks TLS over it, verifying the
// server as the URL's host name.
type UnixTransport struct {
	*http.Transport
	unix *http.Transport
}

// WithUnixSockets extends tr, once it is set up, to unix sockets; their
// connections come from tr's DialContext with network "unix" (see Dial).
func WithUnixSockets(tr *http.Transport) *UnixTransport {
	ut := tr.Clone()
	dial := tr.DialContext
	ut.DialContext = func(ctx context.Context, _, addr string) (net.Conn, error) {
		return dial(ctx, "unix", addr)
	}
	rt := unixRoundTripper{ut}
	tr.RegisterProtocol("unix", rt)
	tr.RegisterProtocol("unixs", rt)
	return &UnixTransport{Transport: tr, unix: ut}
}

// CloseIdleConnections closes the idle connections of both transports.
func (t *UnixTransport) CloseIdleConnections() {
	t.Transport.CloseIdleConnections()
	t.unix.CloseIdleConnections()
}

// unixRoundTripper sends unix(s) requests as http(s) ones over a
// transport that dials unix sockets.
type unixRoundTripper struct{ tr *http.Transport }

func (u unixRoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.URL.Scheme = strings.Replace(r.URL.Scheme, "unix", "http", 1)
	return u.tr.RoundTrip(r)
}
