package netutil_test

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/basaltkv/basalt/pkg/netutil"
	"github.com/basaltkv/basalt/pkg/tlsutil/tlstest"
)

// TestUnixSockets: a transport from WithUnixSockets reaches
// unix://name:port and unixs://name:port URLs at the socket file "name:port"
// in the working directory, as etcd's peer transport does, and still
// reaches http URLs.
func TestUnixSockets(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	ca := tlstest.NewCA(t, dir, "ca")
	cert := ca.Issue(t, "server", tlstest.Options{Hosts: []string{"localhost"}})
	pair, err := tls.LoadX509KeyPair(cert.CertFile, cert.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(ca.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)

	serve := func(l net.Listener) {
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, r.URL.Path)
		})}
		go func() { _ = srv.Serve(l) }()
		t.Cleanup(func() { srv.Close() })
	}
	listen := func(network, addr string) net.Listener {
		l, err := net.Listen(network, addr)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	serve(listen("unix", "localhost:1"))
	serve(tls.NewListener(listen("unix", "localhost:2"), &tls.Config{Certificates: []tls.Certificate{pair}}))
	tcp := listen("tcp", "127.0.0.1:0")
	serve(tcp)

	tr := netutil.WithUnixSockets(&http.Transport{
		DialContext:     netutil.Dial(time.Second, ""),
		TLSClientConfig: &tls.Config{RootCAs: pool},
	})
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	for _, u := range []string{"unix://localhost:1/a", "unixs://localhost:2/b", "http://" + tcp.Addr().String() + "/c"} {
		resp, err := hc.Get(u)
		if err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := u[len(u)-2:]; string(b) != want {
			t.Errorf("GET %s answered %q, want %q", u, b, want)
		}
	}
	if _, err := hc.Get("unix://localhost:3/none"); err == nil {
		t.Error("GET of a socket that does not exist succeeded")
	}
}
