package failpoint

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

var (
	fpTest   = New("testPoint")
	fpChild  = New("testChild")
	fpCount  = New("testCount")
	fpListed = New("testListed")
)

func TestParseAction(t *testing.T) {
	tests := []struct {
		spec    string
		kind    kind
		left    int64
		sleep   time.Duration
		off     bool
		wantErr bool
	}{
		{spec: "kill", kind: kindKill, left: -1},
		{spec: "panic", kind: kindPanic, left: -1},
		{spec: "sleep(150ms)", kind: kindSleep, sleep: 150 * time.Millisecond, left: -1},
		{spec: "3*kill", kind: kindKill, left: 3},
		{spec: " 1*sleep(1s) ", kind: kindSleep, sleep: time.Second, left: 1},
		{spec: "off", off: true},
		{spec: "", off: true},
		{spec: "2*off", off: true},
		{spec: "explode", wantErr: true},
		{spec: "0*kill", wantErr: true},
		{spec: "x*kill", wantErr: true},
		{spec: "sleep(forever)", wantErr: true},
		{spec: "sleep(-1s)", wantErr: true},
	}
	for _, tt := range tests {
		a, err := parseAction(tt.spec)
		if tt.wantErr {
			if err == nil {
				t.Errorf("parseAction(%q): no error", tt.spec)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseAction(%q): %v", tt.spec, err)
			continue
		}
		if tt.off {
			if a != nil {
				t.Errorf("parseAction(%q) = %+v, want off", tt.spec, a)
			}
			continue
		}
		if a.kind != tt.kind || a.left.Load() != tt.left || a.sleep != tt.sleep {
			t.Errorf("parseAction(%q) = kind %v left %d sleep %v, want %v %d %v", tt.spec, a.kind, a.left.Load(), a.sleep, tt.kind, tt.left, tt.sleep)
		}
	}
}

func TestParseSpec(t *testing.T) {
	got, err := parseSpec("a=kill; b=2*panic;;c=sleep(1ms)")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got["a"] != "kill" || got["b"] != "2*panic" || got["c"] != "sleep(1ms)" {
		t.Fatalf("parseSpec = %v", got)
	}
	for _, bad := range []string{"a", "=kill", "a=boom"} {
		if _, err := parseSpec(bad); err == nil {
			t.Errorf("parseSpec(%q): no error", bad)
		}
	}
}

func TestUnarmedHitCounts(t *testing.T) {
	before := fpTest.Hits()
	fpTest.Hit()
	fpTest.Hit()
	if got := fpTest.Hits() - before; got != 2 {
		t.Fatalf("hits = %d, want 2", got)
	}
}

func TestPanicAndCount(t *testing.T) {
	if err := Set("testCount", "2*panic"); err != nil {
		t.Fatal(err)
	}
	panics := 0
	for range 4 {
		func() {
			defer func() {
				if r := recover(); r != nil {
					if r != "failpoint testCount" {
						t.Errorf("panic value %v", r)
					}
					panics++
				}
			}()
			fpCount.Hit()
		}()
	}
	if panics != 2 {
		t.Fatalf("panics = %d, want 2 (2*panic)", panics)
	}
	if fpCount.armed.Load() != nil {
		t.Fatal("a spent N* action left the point armed")
	}
}

func TestSleep(t *testing.T) {
	if err := Set("testPoint", "1*sleep(50ms)"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	fpTest.Hit()
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Fatalf("slept %v, want at least 50ms", d)
	}
	start = time.Now()
	fpTest.Hit()
	if d := time.Since(start); d > 40*time.Millisecond {
		t.Fatalf("second hit slept %v: 1*sleep should be spent", d)
	}
}

func TestSetUnknown(t *testing.T) {
	if err := Set("noSuchPoint", "kill"); err == nil {
		t.Fatal("Set of an undeclared point: no error")
	}
	if err := Set("testPoint", "dance"); err == nil {
		t.Fatal("Set with a bad action: no error")
	}
}

func TestDeclareTwicePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("declaring a point twice did not panic")
		}
	}()
	New("testPoint")
}

// TestKill runs this test binary again with the point armed from the
// environment: the child must die of SIGKILL at the point.
func TestKill(t *testing.T) {
	if os.Getenv("FAILPOINT_CHILD") == "1" {
		if err := CheckEnv(); err != nil {
			os.Exit(3)
		}
		fpChild.Hit()
		os.Exit(0) // not reached when the point kills
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestKill$")
	cmd.Env = append(os.Environ(), "FAILPOINT_CHILD=1", EnvPoints+"=testChild=kill")
	out, err := cmd.CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	if !ok {
		t.Fatalf("child: err %v, output %s", err, out)
	}
	ws := ee.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, want SIGKILL; output %s", ws, out)
	}
	if !strings.Contains(string(out), "failpoint testChild: kill") {
		t.Fatalf("child output %q lacks the failpoint line", out)
	}

	// A name no package declares is refused.
	cmd = exec.Command(os.Args[0], "-test.run=^TestKill$")
	cmd.Env = append(os.Environ(), "FAILPOINT_CHILD=1", EnvPoints+"=nonesuch=kill")
	if err := cmd.Run(); err == nil || cmd.ProcessState.ExitCode() != 3 {
		t.Fatalf("child with an unknown point: %v (exit %d), want exit 3", err, cmd.ProcessState.ExitCode())
	}
}

func TestHTTP(t *testing.T) {
	srv := httptest.NewServer(Handler("/debug/failpoints"))
	defer srv.Close()
	do := func(method, path, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := do(http.MethodPut, "/debug/failpoints/testListed", "sleep(1ms)"); code != http.StatusNoContent {
		t.Fatalf("PUT: %d", code)
	}
	if code, body := do(http.MethodGet, "/debug/failpoints/testListed", ""); code != 200 || body != "sleep(1ms)\n" {
		t.Fatalf("GET one: %d %q", code, body)
	}
	fpListed.Hit()
	if _, body := do(http.MethodGet, "/debug/failpoints", ""); !strings.Contains(body, "testListed=sleep(1ms) hits=1\n") {
		t.Fatalf("GET all: %q", body)
	}
	if code, _ := do(http.MethodPut, "/debug/failpoints/testListed", "boom"); code != http.StatusBadRequest {
		t.Fatalf("PUT bad action: %d", code)
	}
	if code, _ := do(http.MethodDelete, "/debug/failpoints/testListed", ""); code != http.StatusNoContent {
		t.Fatalf("DELETE: %d", code)
	}
	if _, body := do(http.MethodGet, "/debug/failpoints/testListed", ""); body != "\n" {
		t.Fatalf("after DELETE: %q", body)
	}
	if code, _ := do(http.MethodGet, "/debug/failpoints/nonesuch", ""); code != http.StatusNotFound {
		t.Fatalf("GET unknown: %d", code)
	}
}
