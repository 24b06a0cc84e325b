package tlsutil

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"
)

// HandshakeTimeout bounds one TLS handshake on a listener from Listen.
const HandshakeTimeout = 10 * time.Second

// ListenOptions tune Listen.
type ListenOptions struct {
	// CheckSAN refuses a client certificate whose IP or DNS SANs do not
	// match the connecting address (etcd checks this on peer listeners
	// unless --peer-skip-client-san-verification). Connections over unix
	// sockets have no address to check.
	CheckSAN bool
	// OnHandshakeFailure is told of every connection refused during or
	// right after the handshake; the connection is then closed.
	OnHandshakeFailure func(*tls.Conn, error)
}

// Listen wraps l so that Accept returns only connections whose TLS
// handshake, with cfg, succeeded and passed the checks. Handshakes run in
// their own goroutines: a slow client does not delay others.
func Listen(l net.Listener, cfg *tls.Config, opts ListenOptions) net.Listener {
	ctx, cancel := context.WithCancel(context.Background())
	tl := &tlsListener{
		Listener: l,
		cfg:      cfg,
		opts:     opts,
		connc:    make(chan net.Conn),
		donec:    make(chan struct{}),
		ctx:      ctx,
		cancel:   cancel,
		pending:  map[net.Conn]struct{}{},
	}
	go tl.acceptLoop()
	return tl
}

type tlsListener struct {
	net.Listener
	cfg  *tls.Config
	opts ListenOptions

	connc chan net.Conn
	// donec is closed when the accept loop has exited; err says why.
	donec chan struct{}
	err   error

	ctx    context.Context
	cancel context.CancelFunc

	// pendingMu guards pending: connections still in their handshake,
	// closed when the listener closes.
	pendingMu sync.Mutex
	pending   map[net.Conn]struct{}
	wg        sync.WaitGroup
}

func (l *tlsListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.connc:
		return c, nil
	case <-l.donec:
		return nil, l.err
	}
}

func (l *tlsListener) Close() error {
	err := l.Listener.Close()
	<-l.donec
	return err
}

func (l *tlsListener) acceptLoop() {
	defer func() {
		l.cancel()
		l.pendingMu.Lock()
		for c := range l.pending {
			c.Close()
		}
		l.pendingMu.Unlock()
		l.wg.Wait()
		close(l.donec)
	}()
	for {
		raw, err := l.Listener.Accept()
		if err != nil {
			l.err = err
			return
		}
		l.pendingMu.Lock()
		l.pending[raw] = struct{}{}
		l.pendingMu.Unlock()
		l.wg.Add(1)
		go l.handshake(raw)
	}
}

func (l *tlsListener) handshake(raw net.Conn) {
	defer l.wg.Done()
	conn := tls.Server(raw, l.cfg)
	err := l.handshakeAndCheck(conn)
	l.pendingMu.Lock()
	delete(l.pending, raw)
	l.pendingMu.Unlock()
	if err != nil {
		if l.opts.OnHandshakeFailure != nil {
			l.opts.OnHandshakeFailure(conn, err)
		}
		conn.Close()
		return
	}
	select {
	case l.connc <- conn:
	case <-l.ctx.Done():
		conn.Close()
	}
}

func (l *tlsListener) handshakeAndCheck(conn *tls.Conn) error {
	_ = conn.SetDeadline(time.Now().Add(HandshakeTimeout))
	if err := conn.HandshakeContext(l.ctx); err != nil {
		return err
	}
	_ = conn.SetDeadline(time.Time{})
	if !l.opts.CheckSAN {
		return nil
	}
	certs := conn.ConnectionState().PeerCertificates
	if len(certs) == 0 || conn.RemoteAddr().Network() == "unix" {
		// A unix socket's peer has no address for the SANs to name.
		return nil
	}
	ctx, cancel := context.WithTimeout(l.ctx, HandshakeTimeout)
	defer cancel()
	return checkCertSAN(ctx, certs[0], conn.RemoteAddr().String())
}

// checkCertSAN accepts a certificate without SANs, one whose IP SANs
// include the remote address, or one with a DNS SAN that resolves to it
// (forward or reverse lookup).
func checkCertSAN(ctx context.Context, cert *x509.Certificate, remoteAddr string) error {
	if len(cert.IPAddresses) == 0 && len(cert.DNSNames) == 0 {
		return nil
	}
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		return err
	}
	if len(cert.IPAddresses) > 0 {
		ipErr := cert.VerifyHostname(host)
		if ipErr == nil {
			return nil
		}
		if len(cert.DNSNames) == 0 {
			return ipErr
		}
	}
	ok, lerr := hostMatchesDNSNames(ctx, host, cert.DNSNames)
	if ok {
		return nil
	}
	msg := fmt.Sprintf("tls: %q does not match any of DNSNames %q", host, cert.DNSNames)
	if lerr != nil {
		msg += " (" + lerr.Error() + ")"
	}
	return errors.New(msg)
}

func hostMatchesDNSNames(ctx context.Context, host string, dnsNames []string) (bool, error) {
	var exact, suffixes []string
	for _, n := range dnsNames {
		if strings.HasPrefix(n, "*.") {
			suffixes = append(suffixes, n[1:])
		} else {
			exact = append(exact, n)
		}
	}
	var lastErr error
	names, err := net.DefaultResolver.LookupAddr(ctx, host)
	if err != nil {
		lastErr = err
	}
	for _, name := range names {
		name = strings.TrimSuffix(name, ".")
		for _, s := range suffixes {
			if strings.HasSuffix(name, s) {
				return true, nil
			}
		}
		for _, e := range exact {
			if e == name {
				return true, nil
			}
		}
	}
	for _, e := range exact {
		addrs, err := net.DefaultResolver.LookupHost(ctx, e)
		if err != nil {
			lastErr = err
			continue
		}
		for _, a := range addrs {
			if a == host {
				return true, nil
			}
		}
	}
	return false, lastErr
}
