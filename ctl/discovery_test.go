package ctl_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// srvServer is a DNS server on 127.0.0.1 that answers SRV questions from
// a fixed table (name -> ports of "localhost."), A questions for
// "localhost." with 127.0.0.1, and NXDOMAIN otherwise.
type srvServer struct {
	conn    net.PacketConn
	records map[string][]uint16
}

func startSRVServer(t *testing.T, records map[string][]uint16) string {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &srvServer{conn: conn, records: records}
	go s.serve()
	t.Cleanup(func() { conn.Close() })
	return conn.LocalAddr().String()
}

func (s *srvServer) serve() {
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

func (s *srvServer) answer(req []byte) ([]byte, error) {
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
	if name == "localhost." {
		resp.RCode = dnsmessage.RCodeSuccess
		if q.Type == dnsmessage.TypeA {
			resp.Answers = append(resp.Answers, dnsmessage.Resource{
				Header: dnsmessage.ResourceHeader{Name: q.Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: 60},
				Body:   &dnsmessage.AResource{A: [4]byte{127, 0, 0, 1}},
			})
		}
		return resp.Pack()
	}
	if ports, ok := s.records[name]; ok {
		resp.RCode = dnsmessage.RCodeSuccess
		if q.Type == dnsmessage.TypeSRV {
			for _, port := range ports {
				resp.Answers = append(resp.Answers, dnsmessage.Resource{
					Header: dnsmessage.ResourceHeader{Name: q.Name, Type: dnsmessage.TypeSRV, Class: dnsmessage.ClassINET, TTL: 60},
					Body:   &dnsmessage.SRVResource{Weight: 10, Port: port, Target: dnsmessage.MustNewName("localhost.")},
				})
			}
		}
	}
	return resp.Pack()
}

// TestDiscoverySrv runs basaltctl with --discovery-srv against DNS SRV
// records (served by a test DNS server that BASALT_CTL_TEST_DNS points
// the lookups at) naming a real basalt member: the discovered endpoint is
// used over --endpoints, the service name selects other records, insecure
// endpoints are dropped when asked, and a domain with no records is an
// error as etcdctl reports it.
func TestDiscoverySrv(t *testing.T) {
	_, ep, _ := newCluster(t, 1, nil)
	u, err := url.Parse(ep)
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(p)
	dns := startSRVServer(t, map[string][]uint16{
		"_etcd-client._tcp.basalt.test.":      {port},
		"_etcd-client-east._tcp.basalt.test.": {port},
	})
	discovered := fmt.Sprintf("http://localhost.:%d", port)
	dead := "http://127.0.0.1:1" // nothing listens on port 1
	env := []string{"BASALT_CTL_TEST_DNS=" + dns}

	tests := []struct {
		name       string
		args       []string
		wantOut    string
		wantErr    string // a prefix of stderr
		wantCode   int
		wantIgnore bool
	}{
		{name: "discovered endpoint is used", args: []string{"--discovery-srv", "basalt.test", "--endpoints", dead, "put", "k1", "v1"}, wantOut: "OK\n"},
		{name: "service name", args: []string{"--discovery-srv", "basalt.test", "--discovery-srv-name", "east", "--endpoints", dead, "get", "k1", "--print-value-only"}, wantOut: "v1\n"},
		{name: "environment", args: []string{"--endpoints", dead, "get", "k1", "--print-value-only"}, wantOut: "v1\n"},
		{name: "insecure endpoints dropped, --endpoints used", args: []string{"--discovery-srv", "basalt.test", "--insecure-discovery=false", "--endpoints", ep, "get", "k1", "--print-value-only"}, wantOut: "v1\n", wantIgnore: true},
		{name: "no records", args: []string{"--discovery-srv", "nowhere.test", "--endpoints", ep, "get", "k1"}, wantErr: "Error: dns lookup errors: lookup _etcd-client-ssl._tcp.nowhere.test", wantCode: 1},
		{name: "no records under that service name", args: []string{"--discovery-srv", "basalt.test", "--discovery-srv-name", "west", "--endpoints", ep, "get", "k1"}, wantErr: "Error: dns lookup errors: lookup _etcd-client-ssl-west._tcp.basalt.test", wantCode: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runEnv := env
			if tt.name == "environment" {
				runEnv = append(env, "ETCDCTL_DISCOVERY_SRV=basalt.test")
			}
			r := runCtl(t, ctlPath(), append([]string{"--dial-timeout", "5s", "--command-timeout", "10s"}, tt.args...), "", runEnv, time.Minute)
			if r.code != tt.wantCode || r.stdout != tt.wantOut || !strings.HasPrefix(r.stderr, tt.wantErr) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d, stdout %q, stderr starting %q", r.code, r.stdout, r.stderr, tt.wantCode, tt.wantOut, tt.wantErr)
			}
			ignored := strings.Contains(r.stderr, fmt.Sprintf("ignoring discovered insecure endpoint %q", discovered))
			if ignored != tt.wantIgnore {
				t.Fatalf("stderr %q: ignoring line present %v, want %v", r.stderr, ignored, tt.wantIgnore)
			}
		})
	}
}

// TestSRVServerAnswers checks the test's DNS server itself, so that a
// failure above is not the fixture's.
func TestSRVServerAnswers(t *testing.T) {
	addr := startSRVServer(t, map[string][]uint16{"_etcd-client._tcp.x.test.": {2379, 2380}})
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", addr)
	}}
	_, srvs, err := r.LookupSRV(t.Context(), "etcd-client", "tcp", "x.test")
	if err != nil || len(srvs) != 2 || srvs[0].Target != "localhost." {
		t.Fatalf("LookupSRV: %v, %v", srvs, err)
	}
	_, _, err = r.LookupSRV(t.Context(), "etcd-client-ssl", "tcp", "x.test")
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
		t.Fatalf("LookupSRV of a missing name: %v, want not found", err)
	}
}
