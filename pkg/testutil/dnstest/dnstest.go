// Package dnstest is a DNS server on 127.0.0.1 for tests: it answers SRV
// and A questions from fixed tables, so that a test can publish the SRV
// records etcd's DNS discovery reads without a real DNS zone. Point a
// process at it with netutil.TestDNSEnv.
package dnstest

import (
	"maps"
	"net"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// SRV is one SRV record's target and port. Target is a fully qualified
// name ("localhost.").
type SRV struct {
	Target string
	Port   uint16
}

// Records are a server's answers. Names are fully qualified, in lower
// case ("_etcd-server._tcp.example.test."). "localhost." always answers
// 127.0.0.1.
type Records struct {
	SRV map[string][]SRV
	A   map[string][4]byte
}

// Server answers UDP DNS questions from its Records; a name it does not
// know is NXDOMAIN.
type Server struct {
	conn net.PacketConn

	mu      sync.Mutex
	records Records
}

// Start starts a server for the test's lifetime.
func Start(t testing.TB, records Records) *Server {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{conn: conn, records: Records{SRV: maps.Clone(records.SRV), A: maps.Clone(records.A)}}
	go s.serve()
	t.Cleanup(func() { conn.Close() })
	return s
}

// Addr is the server's address (host:port).
func (s *Server) Addr() string { return s.conn.LocalAddr().String() }

// ClearSRV removes every SRV record.
func (s *Server) ClearSRV() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records.SRV = nil
}

// SetSRV replaces the SRV records of name (fully qualified).
func (s *Server) SetSRV(name string, srvs ...SRV) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.records.SRV == nil {
		s.records.SRV = map[string][]SRV{}
	}
	s.records.SRV[strings.ToLower(name)] = srvs
}

func (s *Server) serve() {
	buf := make([]byte, 1500)
	for {
		n, from, err := s.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		if out, err := s.answer(buf[:n]); err == nil {
			s.conn.WriteTo(out, from)
		}
	}
}

func (s *Server) a(name string) ([4]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if name == "localhost." {
		return [4]byte{127, 0, 0, 1}, true
	}
	ip, ok := s.records.A[name]
	return ip, ok
}

func (s *Server) answer(req []byte) ([]byte, error) {
	var p dnsmessage.Parser
	h, err := p.Start(req)
	if err != nil {
		return nil, err
	}
	q, err := p.Question()
	if err != nil {
		return nil, err
	}
	resp := dnsmessage.Message{
		Header:    dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RCode: dnsmessage.RCodeNameError},
		Questions: []dnsmessage.Question{q},
	}
	name := strings.ToLower(q.Name.String())
	rh := dnsmessage.ResourceHeader{Name: q.Name, Type: q.Type, Class: dnsmessage.ClassINET, TTL: 60}
	if ip, ok := s.a(name); ok {
		resp.RCode = dnsmessage.RCodeSuccess
		if q.Type == dnsmessage.TypeA {
			resp.Answers = append(resp.Answers, dnsmessage.Resource{Header: rh, Body: &dnsmessage.AResource{A: ip}})
		}
		return resp.Pack()
	}
	s.mu.Lock()
	srvs, ok := s.records.SRV[name]
	s.mu.Unlock()
	if ok {
		resp.RCode = dnsmessage.RCodeSuccess
		if q.Type == dnsmessage.TypeSRV {
			for _, srv := range srvs {
				target, err := dnsmessage.NewName(srv.Target)
				if err != nil {
					return nil, err
				}
				resp.Answers = append(resp.Answers, dnsmessage.Resource{Header: rh,
					Body: &dnsmessage.SRVResource{Weight: 10, Port: srv.Port, Target: target}})
			}
		}
	}
	return resp.Pack()
}
