package rafthttp

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/basaltkv/basalt/pkg/netutil"
	"go.uber.org/zap"
)

const (
	streamPath   = "/raft/stream"
	snapshotPath = "/raft/snapshot"
	probePath    = "/raft/probe"
)

// newRoundTripper returns an HTTP/1.1-only client transport for peer
// traffic, over TCP or unix sockets. readTimeout and writeTimeout, when positive, are set as a
// deadline before every read and write on a connection. Peer traffic never
// goes through a proxy.
func newRoundTripper(tlsCfg *tls.Config, localIP string, dialTimeout, readTimeout, writeTimeout time.Duration, reuse bool, responseTimeout time.Duration) *netutil.UnixTransport {
	dial := netutil.Dial(dialTimeout, localIP)
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dial(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			if readTimeout <= 0 && writeTimeout <= 0 {
				return c, nil
			}
			return &deadlineConn{Conn: c, readTimeout: readTimeout, writeTimeout: writeTimeout}, nil
		},
		TLSHandshakeTimeout:   max(dialTimeout, time.Second),
		DisableKeepAlives:     !reuse,
		DisableCompression:    true,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       30 * time.Second,
		ResponseHeaderTimeout: responseTimeout,
	}
	if tlsCfg != nil {
		c := tlsCfg.Clone()
		// Streams and snapshots each need a connection of their own, which
		// HTTP/2 would multiplex onto one.
		c.NextProtos = []string{"http/1.1"}
		tr.TLSClientConfig = c
	}
	tr.Protocols = new(http.Protocols)
	tr.Protocols.SetHTTP1(true)
	return netutil.WithUnixSockets(tr)
}

// deadlineConn sets a deadline before every read and write, so that a
// peer that disappears without closing its connection is noticed.
type deadlineConn struct {
	net.Conn
	readTimeout  time.Duration
	writeTimeout time.Duration
}

func (c *deadlineConn) Read(b []byte) (int, error) {
	if c.readTimeout > 0 {
		if err := c.Conn.SetReadDeadline(time.Now().Add(c.readTimeout)); err != nil {
			return 0, err
		}
	}
	return c.Conn.Read(b)
}

func (c *deadlineConn) Write(b []byte) (int, error) {
	if c.writeTimeout > 0 {
		if err := c.Conn.SetWriteDeadline(time.Now().Add(c.writeTimeout)); err != nil {
			return 0, err
		}
	}
	return c.Conn.Write(b)
}

// parseURLs keeps the usable URLs of a peer, logging the others.
func (t *Transport) parseURLs(id uint64, urls []string) []url.URL {
	out := make([]url.URL, 0, len(urls))
	for _, s := range urls {
		u, err := url.Parse(s)
		if err == nil && u.Host == "" {
			err = fmt.Errorf("no host")
		}
		if err == nil && u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "unix" && u.Scheme != "unixs" {
			err = fmt.Errorf("scheme %q is not http, https, unix or unixs", u.Scheme)
		}
		if err != nil {
			t.lg.Warn("ignored invalid peer URL", zap.String("remote-peer-id", idString(id)),
				zap.String("url", s), zap.Error(err))
			continue
		}
		out = append(out, url.URL{Scheme: u.Scheme, Host: u.Host})
	}
	return out
}

// endpoint is u with path p.
func endpoint(u url.URL, p string) string {
	u.Path = p
	return u.String()
}

// refusal turns a peer's non-success answer into an error.
func refusal(resp *http.Response, body []byte) error {
	text := strings.TrimSuffix(string(body), "\n")
	switch resp.StatusCode {
	case http.StatusPreconditionFailed:
		switch text {
		case ErrClusterIDMismatch.Error():
			return fmt.Errorf("peer's cluster ID is %s: %w", resp.Header.Get("X-Etcd-Cluster-ID"), ErrClusterIDMismatch)
		case errToMismatch.Error():
			return errToMismatch
		}
		return fmt.Errorf("precondition failed: %q", text)
	case http.StatusGone:
		return ErrMemberRemoved
	case http.StatusNotFound:
		if text == errSenderNotFound.Error() {
			return fmt.Errorf("peer does not know this member yet: %w", errSenderNotFound)
		}
	}
	return fmt.Errorf("unexpected http status %s: %q", resp.Status, text)
}
