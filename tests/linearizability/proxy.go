package linearizability

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// peerProxy sits in front of one member's peer listener and drops the
// traffic of chosen senders.
//
// Every byte of a raft message from member S to member T travels on a TCP
// connection that S dialed to T's peer URL (rafthttp: S POSTs a stream or
// a snapshot to T; T's answers carry only keepalives). So the proxy in
// front of T, knowing each connection's sender from the X-Server-From
// header of its first request, can cut S→T alone: a one-way partition. A
// blocked sender's connections are closed, and new ones are accepted and
// blackholed (read and discarded, never answered) until the block is
// lifted, which then closes them so that the sender dials again.
type peerProxy struct {
	name   string
	target string // host:port of the member's listen peer URL
	ln     net.Listener
	wg     sync.WaitGroup

	mu struct {
		sync.Mutex
		closed bool
		// blockAll drops every sender; blocked drops the listed ones.
		blockAll bool
		blocked  map[uint64]bool
		conns    map[*proxyConn]struct{}
	}
}

type proxyConn struct {
	from       uint64 // 0: unknown sender
	client     net.Conn
	server     net.Conn // nil while blackholed or dialing
	blackholed bool
}

// close closes both sides (again, harmlessly, if they are); the caller
// holds the proxy's mu.
func (c *proxyConn) closeLocked() {
	c.client.Close()
	if c.server != nil {
		c.server.Close()
	}
}

// newPeerProxy listens on an OS-chosen port of 127.0.0.1 and forwards to
// listenPeerURL.
func newPeerProxy(name, listenPeerURL string) (*peerProxy, error) {
	u, err := url.Parse(listenPeerURL)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" {
		return nil, fmt.Errorf("peer proxy: only http peer URLs, got %s", listenPeerURL)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("peer proxy listen: %w", err)
	}
	p := &peerProxy{name: name, target: u.Host, ln: ln}
	p.mu.blocked = map[uint64]bool{}
	p.mu.conns = map[*proxyConn]struct{}{}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// URL is what the member advertises to its peers.
func (p *peerProxy) URL() string { return "http://" + p.ln.Addr().String() }

func (p *peerProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.handle(c)
		}()
	}
}

// handle reads the first request's headers to learn the sender, then
// forwards or blackholes the connection.
func (p *peerProxy) handle(client net.Conn) {
	br := bufio.NewReaderSize(client, 16<<10)
	client.SetReadDeadline(time.Now().Add(10 * time.Second))
	head, err := readHead(br)
	client.SetReadDeadline(time.Time{})
	if err != nil {
		client.Close()
		return
	}
	pc := &proxyConn{from: senderOf(head), client: client}

	p.mu.Lock()
	if p.mu.closed {
		p.mu.Unlock()
		client.Close()
		return
	}
	pc.blackholed = p.blockedLocked(pc.from)
	p.mu.conns[pc] = struct{}{}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.mu.conns, pc)
		pc.closeLocked()
		p.mu.Unlock()
	}()

	if pc.blackholed {
		io.Copy(io.Discard, br)
		return
	}
	server, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		return
	}
	p.mu.Lock()
	pc.server = server
	// The block may have changed while dialing.
	blocked := p.blockedLocked(pc.from) || p.mu.closed
	p.mu.Unlock()
	if blocked {
		server.Close()
		return
	}
	if _, err := server.Write(head); err != nil {
		return
	}
	done := make(chan struct{}, 2)
	go func() {
		io.Copy(server, br)
		done <- struct{}{}
	}()
	go func() {
		io.Copy(client, server)
		done <- struct{}{}
	}()
	<-done
	p.mu.Lock()
	pc.closeLocked()
	p.mu.Unlock()
	<-done
}

// readHead reads up to and including the blank line that ends the first
// request's headers.
func readHead(br *bufio.Reader) ([]byte, error) {
	var head []byte
	for len(head) < 64<<10 {
		line, err := br.ReadSlice('\n')
		head = append(head, line...)
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return nil, err
		}
		if bytes.Equal(line, []byte("\r\n")) || bytes.Equal(line, []byte("\n")) {
			return head, nil
		}
	}
	return nil, errors.New("request head too long")
}

// senderOf is the X-Server-From member ID of a request head (0 if none).
func senderOf(head []byte) uint64 {
	for _, line := range strings.Split(string(head), "\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok || !strings.EqualFold(strings.TrimSpace(name), "X-Server-From") {
			continue
		}
		id, err := strconv.ParseUint(strings.TrimSpace(value), 16, 64)
		if err == nil {
			return id
		}
	}
	return 0
}

func (p *peerProxy) blockedLocked(from uint64) bool {
	return p.mu.blockAll || (from != 0 && p.mu.blocked[from])
}

// block drops the traffic of the given senders (all, if all is set)
// from now on; heal lifts every block.
func (p *peerProxy) block(all bool, from ...uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if all {
		p.mu.blockAll = true
	}
	for _, id := range from {
		p.mu.blocked[id] = true
	}
	for c := range p.mu.conns {
		if !c.blackholed && p.blockedLocked(c.from) {
			c.closeLocked()
		}
	}
}

func (p *peerProxy) heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mu.blockAll = false
	p.mu.blocked = map[uint64]bool{}
	for c := range p.mu.conns {
		if c.blackholed {
			c.closeLocked()
		}
	}
}

func (p *peerProxy) close() {
	p.mu.Lock()
	p.mu.closed = true
	for c := range p.mu.conns {
		c.closeLocked()
	}
	p.mu.Unlock()
	p.ln.Close()
	p.wg.Wait()
}
