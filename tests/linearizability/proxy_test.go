package linearizability

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestPeerProxyBlocksChosenSenders(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "from "+r.Header.Get("X-Server-From"))
	}))
	defer srv.Close()
	p, err := newPeerProxy("m0", srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()

	get := func(from string) (string, error) {
		// A new connection each time, as a sender redials after a cut.
		cli := &http.Client{Timeout: 300 * time.Millisecond, Transport: &http.Transport{DisableKeepAlives: true}}
		req, _ := http.NewRequest(http.MethodGet, p.URL(), nil)
		req.Header.Set("X-Server-From", from)
		resp, err := cli.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	if got, err := get("a1"); err != nil || got != "from a1" {
		t.Fatalf("before any block: %q, %v", got, err)
	}
	p.block(false, 0xa1)
	if _, err := get("a1"); err == nil {
		t.Fatal("a blocked sender got an answer")
	}
	if got, err := get("b2"); err != nil || got != "from b2" {
		t.Fatalf("another sender while a1 is blocked: %q, %v", got, err)
	}
	p.block(true)
	if _, err := get("b2"); err == nil || !strings.Contains(err.Error(), "Timeout") && !strings.Contains(err.Error(), "deadline") {
		t.Fatalf("with every sender blocked: %v, want a timeout (blackholed)", err)
	}
	p.heal()
	if got, err := get("a1"); err != nil || got != "from a1" {
		t.Fatalf("after heal: %q, %v", got, err)
	}
}
