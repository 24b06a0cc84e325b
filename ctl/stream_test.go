package ctl_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/basaltkv/basalt/pkg/testutil"
)

// background is a long-running basaltctl (watch, lock, elect).
type background struct {
	cmd        *exec.Cmd
	stdin      io.WriteCloser
	mu         sync.Mutex
	out        bytes.Buffer
	done       chan struct{}
	exitCode   int
	stderrOnly bytes.Buffer
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func startCtl(t *testing.T, endpoint string, env []string, args ...string) *background {
	t.Helper()
	b := &background{done: make(chan struct{})}
	b.cmd = exec.Command(ctlPath(), append([]string{"--endpoints=" + endpoint}, args...)...)
	b.cmd.Env = cleanEnv(env)
	b.cmd.Stdout = lockedWriter{&b.mu, &b.out}
	b.cmd.Stderr = lockedWriter{&b.mu, &b.stderrOnly}
	var err error
	if b.stdin, err = b.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		b.cmd.Wait()
		b.exitCode = b.cmd.ProcessState.ExitCode()
		close(b.done)
	}()
	t.Cleanup(func() {
		b.cmd.Process.Kill()
		<-b.done
	})
	return b
}

func (b *background) stdout() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.out.String()
}

func (b *background) stderr() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stderrOnly.String()
}

// waitOutput waits until stdout contains s.
func (b *background) waitOutput(t *testing.T, s string) {
	t.Helper()
	err := testutil.Poll(30*time.Second, func() error {
		if strings.Contains(b.stdout(), s) {
			return nil
		}
		select {
		case <-b.done:
			t.Fatalf("basaltctl exited (%d) before printing %q\nstdout:\n%s\nstderr:\n%s", b.exitCode, s, b.stdout(), b.stderr())
		default:
		}
		return fmt.Errorf("basaltctl did not print %q", s)
	})
	if err != nil {
		t.Fatalf("%v\nstdout:\n%s\nstderr:\n%s", err, b.stdout(), b.stderr())
	}
}

// stop sends sig and waits for the exit status.
func (b *background) stop(t *testing.T, sig syscall.Signal) int {
	t.Helper()
	b.cmd.Process.Signal(sig)
	select {
	case <-b.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("basaltctl did not exit on %v", sig)
	}
	return b.exitCode
}

func TestWatch(t *testing.T) {
	_, ep, n := newCluster(t, 1, nil)
	cli := client(t, ep)
	ctx := context.Background()
	for _, kv := range [][2]string{{"w1", "a"}, {"w2", "b"}, {"w1", "c"}} {
		if _, err := cli.Put(ctx, kv[0], kv[1]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cli.Delete(ctx, "w1"); err != nil {
		t.Fatal(err)
	}
	// Watching from revision 2 replays the history: no race with the
	// writes above.
	var sb strings.Builder
	record := func(title string, b *background, last string, sig syscall.Signal) {
		b.waitOutput(t, last)
		code := b.stop(t, sig)
		sb.WriteString("$ " + title + "\n" + n.apply(b.stdout()))
		if e := b.stderr(); e != "" {
			sb.WriteString("stderr: " + n.apply(e))
		}
		sb.WriteString("[signal " + sig.String() + ", exit " + itoa(code) + "]\n\n")
	}
	record("watch --rev 2 w1", startCtl(t, ep, nil, "watch", "--rev", "2", "w1"), "DELETE\nw1\n\n", syscall.SIGTERM)
	record("watch --rev 2 --prefix --prev-kv w", startCtl(t, ep, nil, "watch", "--rev", "2", "--prefix", "--prev-kv", "w"), "DELETE\nw1\nc\nw1\n\n", syscall.SIGTERM)
	// One event per watch below: how the server batches a replay into
	// responses does not show.
	record("watch --rev 2 w2 w3 -w fields", startCtl(t, ep, nil, "watch", "--rev", "2", "w2", "w3", "-w", "fields"), `"Lease" : 0`, syscall.SIGTERM)
	record("watch --rev 2 w2 -w json", startCtl(t, ep, nil, "watch", "--rev", "2", "w2", "-w", "json"), `"CancelReason":""}`, syscall.SIGTERM)
	record("watch --rev 2 w2 -- sh -c 'echo ...'", startCtl(t, ep, nil, "watch", "--rev", "2", "w2", "--", "sh", "-c",
		`echo "exec: $ETCD_WATCH_REVISION $ETCD_WATCH_EVENT_TYPE $ETCD_WATCH_KEY $ETCD_WATCH_VALUE"`), `exec: 5 "PUT" "w2" "b"`, syscall.SIGTERM)
	record("ETCDCTL_WATCH_KEY=w watch --rev 2 --prefix", startCtl(t, ep, []string{"ETCDCTL_WATCH_KEY=w"}, "watch", "--rev", "2", "--prefix"), "DELETE\nw1\n\n", syscall.SIGTERM)
	// Interactive: each line opens a watch; "progress" asks for a progress
	// notification.
	wi := startCtl(t, ep, nil, "watch", "-i")
	io.WriteString(wi.stdin, "watch --rev 2 w2\n")
	wi.waitOutput(t, "PUT\nw2\nb\n")
	io.WriteString(wi.stdin, "nonsense\n")
	io.WriteString(wi.stdin, "watch --rev 5 w1 -- echo ran\n")
	record("watch -i (watch --rev 2 w2; nonsense; watch --rev 5 w1 -- echo ran)", wi, "DELETE\nw1\n\nran\n", syscall.SIGTERM)

	// Arguments that cannot work.
	got := transcript(t, ep, n, []step{
		{args: a("watch")},
		{args: a("watch", "a", "--")},
		{args: a("watch", "a", "b", "--prefix")},
		{args: a("watch", "a"), env: []string{"ETCDCTL_WATCH_KEY=b"}},
		{args: a("watch"), env: []string{"ETCDCTL_WATCH_RANGE_END=z"}},
		{args: a("watch", "-i"), stdin: "watch\n"},
	})
	checkGolden(t, "watch", sb.String()+got)
}

func itoa(i int) string {
	if i < 0 {
		return "-" + itoa(-i)
	}
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + itoa(i%10)
}

func TestLockAndElect(t *testing.T) {
	_, ep, n := newCluster(t, 1, nil)
	n.addRegexp(`(mylock|myelection)/[0-9a-f]{1,16}`, `$1/<LEASE>`)
	n.addRegexp(`ETCD_LOCK_REV=\d+`, `ETCD_LOCK_REV=<REV>`)
	var sb strings.Builder

	// Lock with a command: runs it holding the lock, passes its status on.
	sb.WriteString(transcript(t, ep, n, []step{
		{args: a("lock", "mylock", "--", "sh", "-c", `echo "$ETCD_LOCK_KEY"; echo "$ETCD_LOCK_REV" | sed 's/^/ETCD_LOCK_REV=/'`)},
		{args: a("lock", "mylock", "--", "sh", "-c", "exit 7")},
		{args: a("lock")},
		{args: a("elect")},
		{args: a("elect", "e")},
		{args: a("elect", "-l", "e", "p")},
	}))

	// Lock without a command: holds it until SIGINT.
	l := startCtl(t, ep, nil, "lock", "mylock")
	l.waitOutput(t, "mylock/")
	code := l.stop(t, syscall.SIGINT)
	sb.WriteString("$ lock mylock (then SIGINT)\n" + n.apply(l.stdout()) + "[exit " + itoa(code) + "]\n\n")

	// An observer sees the campaigner's proposal; the campaigner resigns
	// on SIGINT.
	obs := startCtl(t, ep, nil, "elect", "-l", "myelection")
	camp := startCtl(t, ep, nil, "elect", "myelection", "proposal-1")
	camp.waitOutput(t, "proposal-1\n")
	obs.waitOutput(t, "proposal-1\n")
	code = camp.stop(t, syscall.SIGINT)
	sb.WriteString("$ elect myelection proposal-1 (then SIGINT)\n" + n.apply(camp.stdout()) + "[exit " + itoa(code) + "]\n\n")
	code = obs.stop(t, syscall.SIGINT)
	sb.WriteString("$ elect -l myelection (then SIGINT)\n" + n.apply(obs.stdout()) + "[exit " + itoa(code) + "]\n\n")
	checkGolden(t, "concurrency", sb.String())
}

func TestEnvironment(t *testing.T) {
	_, ep, n := newCluster(t, 1, nil)
	host := strings.TrimPrefix(ep, "http://")
	n.addLiteral(host, "<MEMBER0_CLIENT>")
	var sb strings.Builder
	for _, s := range []struct {
		env  []string
		args []string
	}{
		{[]string{"ETCDCTL_ENDPOINTS=" + ep}, a("put", "k", "v")},
		{[]string{"ETCDCTL_ENDPOINTS=" + ep, "ETCDCTL_WRITE_OUT=fields", "ETCDCTL_HEX=true"}, a("get", "k")},
		{[]string{"ETCDCTL_ENDPOINTS=" + ep, "ETCDCTL_API=3"}, a("get", "k", "--print-value-only")},
		{[]string{"ETCDCTL_ENDPOINTS=" + ep, "ETCDCTL_NO_SUCH_OPTION=1"}, a("get", "k")},
		{[]string{"ETCDCTL_ENDPOINTS=" + ep, "ETCDCTL_DIAL_TIMEOUT=not-a-duration"}, a("get", "k")},
		{[]string{"ETCDCTL_ENDPOINTS=" + ep}, a("--endpoints="+ep, "get", "k")},
		{[]string{"ETCDCTL_ENDPOINTS=" + ep, "ETCDCTL_CLUSTER=true"}, a("endpoint", "hashkv", "-w", "json")},
	} {
		r := runCtl(t, ctlPath(), s.args, "", s.env, 60*time.Second)
		sb.WriteString("$ " + n.apply(strings.Join(s.env, " ")+" "+strings.Join(s.args, " ")) + "\n")
		sb.WriteString(n.apply(r.stdout))
		for _, l := range strings.SplitAfter(n.apply(r.stderr), "\n") {
			if l != "" {
				sb.WriteString("stderr: " + l)
			}
		}
		sb.WriteString("[exit " + itoa(r.code) + "]\n\n")
	}
	hash := &normalizer{}
	hash.addRegexp(`"hash":\d+`, `"hash":<HASH>`)
	checkGolden(t, "env", hash.apply(sb.String()))
}
