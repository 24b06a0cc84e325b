package httpproxy

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"time"
)

// NewTransport is a transport whose dials time out after dial and whose
// connections time out reads after read and writes after write (0: no
// timeout), as etcd's proxy transports. With a read or write timeout a
// connection is not kept idle, since its deadline would expire while
// unused; maxIdle (the proxied requests' transport) overrides that.
func NewTransport(tlsCfg *tls.Config, dial, read, write time.Duration, maxIdle int) *http.Transport {
	d := &net.Dialer{Timeout: dial, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &timeoutConn{Conn: c, read: read, write: write}, nil
		},
		TLSHandshakeTimeout: 10 * time.Second,
		TLSClientConfig:     tlsCfg,
	}
	if read != 0 || write != 0 {
		tr.MaxIdleConnsPerHost = -1
	}
	if maxIdle != 0 {
		tr.MaxIdleConnsPerHost = maxIdle
	}
	return tr
}

// timeoutConn sets a deadline before every read and write.
type timeoutConn struct {
	net.Conn
	read, write time.Duration
}

func (c *timeoutConn) Read(b []byte) (int, error) {
	if c.read > 0 {
		if err := c.Conn.SetReadDeadline(time.Now().Add(c.read)); err != nil {
			return 0, err
		}
	}
	return c.Conn.Read(b)
}

func (c *timeoutConn) Write(b []byte) (int, error) {
	if c.write > 0 {
		if err := c.Conn.SetWriteDeadline(time.Now().Add(c.write)); err != nil {
			return 0, err
		}
	}
	return c.Conn.Write(b)
}
