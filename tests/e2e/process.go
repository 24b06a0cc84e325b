package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// output collects a process's stdout and stderr and wakes whoever waits
// for a line to appear.
type output struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func newOutput() *output { return &output{changed: make(chan struct{})} }

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf.Write(p)
	close(o.changed)
	o.changed = make(chan struct{})
	return len(p), nil
}

func (o *output) snapshot() (string, <-chan struct{}) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String(), o.changed
}

// Process is a running (or finished) basalt process.
type Process struct {
	cmd  *exec.Cmd
	out  *output
	done chan struct{}
	// exitCode and waitErr are set before done is closed.
	exitCode int
	waitErr  error
}

// StartProcess runs bin with args. The environment is the test's, less
// any ETCD_* variable, plus env.
func StartProcess(bin string, args, env []string) (*Process, error) {
	return StartProcessIn("", bin, args, env)
}

// StartProcessIn is StartProcess in working directory dir ("": the
// test's).
func StartProcessIn(dir, bin string, args, env []string) (*Process, error) {
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ETCD_") && !strings.HasPrefix(kv, "ETCDCTL_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	p := &Process{cmd: cmd, out: newOutput(), done: make(chan struct{})}
	cmd.Stdout = p.out
	cmd.Stderr = p.out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() {
		err := cmd.Wait()
		p.waitErr = err
		p.exitCode = cmd.ProcessState.ExitCode()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			p.waitErr = nil // a non-zero status is reported by ExitCode
		}
		close(p.done)
	}()
	return p, nil
}

// RunProcess runs bin to completion (bounded by timeout) and returns its
// exit status and output.
func RunProcess(bin string, args, env []string, timeout time.Duration) (int, string, error) {
	p, err := StartProcess(bin, args, env)
	if err != nil {
		return -1, "", err
	}
	code, err := p.Wait(timeout)
	if err != nil {
		p.Kill()
	}
	return code, p.Output(), err
}

// PID is the process ID.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ExitCode is the exit status once exited (-1 if killed by a signal).
func (p *Process) ExitCode() int {
	<-p.done
	return p.exitCode
}

// Output is everything the process wrote so far, stdout and stderr
// interleaved.
func (p *Process) Output() string {
	s, _ := p.out.snapshot()
	return s
}

// Wait waits up to timeout for the process to exit and returns its exit
// status.
func (p *Process) Wait(timeout time.Duration) (int, error) {
	select {
	case <-p.done:
		return p.exitCode, p.waitErr
	case <-time.After(timeout):
		return -1, fmt.Errorf("process %d still running after %v", p.PID(), timeout)
	}
}

// Signal sends sig to the process.
func (p *Process) Signal(sig syscall.Signal) error {
	if p.Exited() {
		return nil
	}
	return p.cmd.Process.Signal(sig)
}

// Stop sends SIGTERM and waits up to timeout for the exit status; past
// it, it kills the process and returns an error.
func (p *Process) Stop(timeout time.Duration) (int, error) {
	if err := p.Signal(syscall.SIGTERM); err != nil && !p.Exited() {
		return -1, err
	}
	code, err := p.Wait(timeout)
	if err != nil {
		p.Kill()
		return -1, fmt.Errorf("no exit %v after SIGTERM; killed", timeout)
	}
	return code, nil
}

// Kill sends SIGKILL and waits for the process to be gone.
func (p *Process) Kill() {
	_ = p.Signal(syscall.SIGKILL)
	<-p.done
}

// ErrExited is returned by WaitOutput when the process ended first.
var ErrExited = errors.New("process exited")

// WaitOutput waits until the output contains s, the process exits
// (ErrExited) or timeout passes. It wakes on each write: no polling.
func (p *Process) WaitOutput(s string, timeout time.Duration) error {
	return p.WaitFor(func(out string) bool { return LogContains(out, s) }, timeout)
}

// WaitFor waits until match(output) is true; see WaitOutput.
func (p *Process) WaitFor(match func(string) bool, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		out, changed := p.out.snapshot()
		if match(out) {
			return nil
		}
		select {
		case <-changed:
		case <-p.done:
			// Output written just before exit is in the buffer now.
			if out, _ := p.out.snapshot(); match(out) {
				return nil
			}
			return fmt.Errorf("%w (status %d)", ErrExited, p.exitCode)
		case <-deadline.C:
			return fmt.Errorf("not seen in the output within %v", timeout)
		}
	}
}

// LogContains reports whether the output contains s, either verbatim or
// inside a JSON log line's "msg" or "error" field (where quotes are
// escaped).
func LogContains(out, s string) bool {
	if strings.Contains(out, s) {
		return true
	}
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var entry map[string]any
		if json.Unmarshal([]byte(line), &entry) != nil {
			continue
		}
		for _, k := range []string{"msg", "error"} {
			if v, ok := entry[k].(string); ok && strings.Contains(v, s) {
				return true
			}
		}
	}
	return false
}

// StartLoneMember starts one basalt process as a one-member cluster named
// m, its data under dir, on ports the OS picks, with extra flags added;
// it is killed when t ends. It does not wait for the member to be ready
// (its log may go to a file): see Process.WaitOutput.
func StartLoneMember(t testing.TB, dir string, extra ...string) (p *Process, clientURL string) {
	t.Helper()
	ports, err := FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	client, peer := fmt.Sprintf("http://127.0.0.1:%d", ports[0]), fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	p, err = StartProcess(Binary(), append([]string{"--name", "m", "--data-dir", filepath.Join(dir, "m.etcd"),
		"--listen-client-urls", client, "--advertise-client-urls", client, "--listen-peer-urls", peer,
		"--initial-advertise-peer-urls", peer, "--initial-cluster", "m=" + peer}, extra...), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	return p, client
}
