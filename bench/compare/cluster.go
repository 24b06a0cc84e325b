package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// server is one implementation under test.
type server struct {
	name string // "etcd" or "basalt"
	bin  string
}

// cluster is a set of members of one server started together, with the
// flags both implementations share.
type cluster struct {
	srv     server
	dir     string
	members []*member
	// extra flags given to every member.
	extra []string
}

type member struct {
	name      string
	dataDir   string
	clientURL string
	peerURL   string
	args      []string
	logPath   string
	cmd       *exec.Cmd
	exited    chan struct{}
}

// freePorts asks the OS for n free ports on 127.0.0.1.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// memberArgs are the flags a member of a size-member cluster gets: the
// same for etcd and basalt.
func memberArgs(name, dataDir, clientURL, peerURL, initialCluster, token string, extra []string) []string {
	args := []string{
		"--name", name,
		"--data-dir", dataDir,
		"--listen-client-urls", clientURL,
		"--advertise-client-urls", clientURL,
		"--listen-peer-urls", peerURL,
		"--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", initialCluster,
		"--initial-cluster-token", token,
		"--initial-cluster-state", "new",
	}
	return append(args, extra...)
}

// startCluster starts size members of srv under dir and waits until the
// cluster serves a linearizable read.
func startCluster(ctx context.Context, srv server, dir string, size int, extra []string) (*cluster, error) {
	c := &cluster{srv: srv, dir: dir, extra: extra}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	ports, err := freePorts(2 * size)
	if err != nil {
		return nil, err
	}
	var initial []string
	for i := range size {
		m := &member{
			name:      fmt.Sprintf("m%d", i),
			clientURL: fmt.Sprintf("http://127.0.0.1:%d", ports[2*i]),
			peerURL:   fmt.Sprintf("http://127.0.0.1:%d", ports[2*i+1]),
		}
		m.dataDir = filepath.Join(dir, m.name+".etcd")
		m.logPath = filepath.Join(dir, m.name+".log")
		c.members = append(c.members, m)
		initial = append(initial, m.name+"="+m.peerURL)
	}
	token := fmt.Sprintf("compare-%s-%d-%d", srv.name, size, os.Getpid())
	for _, m := range c.members {
		m.args = memberArgs(m.name, m.dataDir, m.clientURL, m.peerURL, strings.Join(initial, ","), token, extra)
	}
	if _, err := c.start(ctx); err != nil {
		c.kill()
		return nil, err
	}
	if err := c.leadFromFirst(ctx); err != nil {
		c.kill()
		return nil, err
	}
	return c, nil
}

// leadFromFirst makes the first member the leader. Workloads spread their
// connections over the endpoints in order, so which member leads decides
// which clients talk to the leader (watch-latency's putter, for one): both
// servers' clusters must lead from the same place to be compared.
func (c *cluster) leadFromFirst(ctx context.Context) error {
	if len(c.members) == 1 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cli, err := c.client(ctx)
	if err != nil {
		return err
	}
	defer cli.Close()
	first, err := cli.Status(ctx, c.members[0].clientURL)
	if err != nil {
		return fmt.Errorf("%s: status of %s: %w", c.srv.name, c.members[0].name, err)
	}
	want := first.Header.MemberId
	for moved := false; ; moved = true {
		st, err := cli.Status(ctx, c.members[0].clientURL)
		if err == nil && st.Leader == want {
			if moved {
				logf("%s: %s is the leader now", c.srv.name, c.members[0].name)
			}
			return nil
		}
		if err == nil && st.Leader != 0 {
			// Only the leader transfers leadership: ask it directly.
			for _, m := range c.members {
				lst, err := cli.Status(ctx, m.clientURL)
				if err != nil || lst.Header.MemberId != st.Leader {
					continue
				}
				lcli, err := clientv3.New(clientv3.Config{Endpoints: []string{m.clientURL}, DialTimeout: 2 * time.Second, Logger: zap.NewNop(), Context: ctx})
				if err != nil {
					return err
				}
				_, err = lcli.MoveLeader(ctx, want)
				lcli.Close()
				if err != nil {
					logf("%s: moving the leadership to %s: %v", c.srv.name, c.members[0].name, err)
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %s did not become the leader: %w", c.srv.name, c.members[0].name, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// start execs every member and returns the time from the first exec to
// the first successful linearizable read.
func (c *cluster) start(ctx context.Context) (time.Duration, error) {
	begin := time.Now()
	for _, m := range c.members {
		logf, err := os.OpenFile(m.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return 0, err
		}
		cmd := exec.Command(c.srv.bin, m.args...)
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			logf.Close()
			return 0, fmt.Errorf("start %s %s: %w", c.srv.name, m.name, err)
		}
		m.cmd, m.exited = cmd, make(chan struct{})
		go func() {
			cmd.Wait()
			logf.Close()
			close(m.exited)
		}()
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if err := c.waitServing(wctx); err != nil {
		return 0, fmt.Errorf("%s cluster of %d not serving: %w\n%s", c.srv.name, len(c.members), err, c.logTail())
	}
	return time.Since(begin), nil
}

// waitServing polls until a linearizable Get through any member succeeds.
func (c *cluster) waitServing(ctx context.Context) error {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		for _, m := range c.members {
			select {
			case <-m.exited:
				return fmt.Errorf("%s exited", m.name)
			default:
			}
		}
		// Dial only once a port accepts, so that gRPC's reconnect backoff
		// never adds to the measured time.
		if last = c.tryGet(ctx); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), last)
		case <-tick.C:
		}
	}
}

func (c *cluster) tryGet(ctx context.Context) error {
	for _, m := range c.members {
		conn, err := net.DialTimeout("tcp", strings.TrimPrefix(m.clientURL, "http://"), time.Second)
		if err != nil {
			return err
		}
		conn.Close()
	}
	cli, err := c.client(ctx)
	if err != nil {
		return err
	}
	defer cli.Close()
	gctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err = cli.Get(gctx, "compare-ready")
	return err
}

func (c *cluster) endpoints() []string {
	var eps []string
	for _, m := range c.members {
		eps = append(eps, m.clientURL)
	}
	return eps
}

func (c *cluster) client(ctx context.Context) (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{Endpoints: c.endpoints(), DialTimeout: 2 * time.Second, Logger: zap.NewNop(), Context: ctx})
}

// stop ends every member with SIGTERM (SIGKILL after 30 s) and waits.
func (c *cluster) stop() {
	for _, m := range c.members {
		if m.cmd != nil {
			m.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	for _, m := range c.members {
		if m.cmd == nil {
			continue
		}
		select {
		case <-m.exited:
		case <-time.After(30 * time.Second):
			m.cmd.Process.Kill()
			<-m.exited
		}
		m.cmd = nil
	}
}

func (c *cluster) kill() {
	for _, m := range c.members {
		if m.cmd != nil {
			m.cmd.Process.Kill()
			<-m.exited
			m.cmd = nil
		}
	}
}

// restart stops every member and starts them again on the same data,
// returning the time from exec to the first successful read.
func (c *cluster) restart(ctx context.Context) (time.Duration, error) {
	c.stop()
	return c.start(ctx)
}

// maxRSS is the largest resident set of the members, in bytes.
func (c *cluster) maxRSS() (int64, error) {
	var most int64
	for _, m := range c.members {
		if m.cmd == nil {
			return 0, fmt.Errorf("%s is not running", m.name)
		}
		f, err := os.Open(fmt.Sprintf("/proc/%d/status", m.cmd.Process.Pid))
		if err != nil {
			return 0, err
		}
		rss, err := parseVmRSS(f)
		f.Close()
		if err != nil {
			return 0, fmt.Errorf("%s: %w", m.name, err)
		}
		most = max(most, rss)
	}
	return most, nil
}

// parseVmRSS reads the VmRSS line of a /proc/<pid>/status file.
func parseVmRSS(r io.Reader) (int64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != "VmRSS" {
			continue
		}
		fields := strings.Fields(val)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, fmt.Errorf("malformed VmRSS line %q", sc.Text())
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, err
		}
		return kb * 1024, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("no VmRSS line")
}

// logTail is the end of every member's log, for failure reports.
func (c *cluster) logTail() string {
	var b strings.Builder
	for _, m := range c.members {
		data, _ := os.ReadFile(m.logPath)
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		fmt.Fprintf(&b, "--- %s %s (%s), last lines:\n%s\n", c.srv.name, m.name, m.logPath, strings.Join(lines[max(0, len(lines)-15):], "\n"))
	}
	return b.String()
}
