package ctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/basaltkv/basalt/server/datadir"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func v2MemberCommand() *v2Command {
	return &v2Command{name: "member", usage: "member add, remove and list subcommands", subcommands: []*v2Command{
		{name: "list", usage: "enumerate existing cluster members", argsUsage: " ", action: v2MemberList},
		{name: "add", usage: "add a new member to the etcd cluster", argsUsage: "<name> <peerURL>", action: v2MemberAdd},
		{name: "remove", usage: "remove an existing member from the etcd cluster", argsUsage: "<memberID>", action: v2MemberRemove},
		{name: "update", usage: "update an existing member in the etcd cluster", argsUsage: "<memberID> <peerURLs>", action: v2MemberUpdate},
	}}
}

func v2MemberList(c *v2Context) error {
	if len(c.args) != 0 {
		return c.failLine(1, "No arguments accepted\n")
	}
	cli, err := c.mustClient()
	if err != nil {
		return err
	}
	ctx, cancel := c.g.totalTimeout()
	defer cancel()
	members, err := cli.ListMembers(ctx)
	if err != nil {
		return c.failLine(1, "%s\n", err)
	}
	leader, err := cli.Leader(ctx)
	if err != nil {
		return c.failLine(1, "Failed to get leader:  %s\n", err)
	}
	for _, m := range members {
		if m.Name == "" {
			fmt.Fprintf(c.e.stdout, "%s[unstarted]: peerURLs=%s\n", m.ID, strings.Join(m.PeerURLs, ","))
		} else {
			fmt.Fprintf(c.e.stdout, "%s: name=%s peerURLs=%s clientURLs=%s isLeader=%v\n", m.ID, m.Name, strings.Join(m.PeerURLs, ","), strings.Join(m.ClientURLs, ","), m.ID == leader.ID)
		}
	}
	return nil
}

func v2MemberAdd(c *v2Context) error {
	if len(c.args) != 2 {
		return c.failLine(1, "Provide a name and a single member peerURL\n")
	}
	cli, err := c.mustClient()
	if err != nil {
		return err
	}
	ctx, cancel := c.g.totalTimeout()
	defer cancel()
	name := c.args[0]
	m, err := cli.AddMember(ctx, c.args[1])
	if err != nil {
		return c.failLine(1, "%s\n", err)
	}
	fmt.Fprintf(c.e.stdout, "Added member named %s with ID %s to cluster\n", name, m.ID)
	members, err := cli.ListMembers(ctx)
	if err != nil {
		return c.failLine(1, "%s\n", err)
	}
	var conf []string
	for _, mm := range members {
		for _, u := range mm.PeerURLs {
			n := mm.Name
			if mm.ID == m.ID {
				n = name
			}
			conf = append(conf, fmt.Sprintf("%s=%s", n, u))
		}
	}
	fmt.Fprintf(c.e.stdout, "\nETCD_NAME=%q\nETCD_INITIAL_CLUSTER=%q\nETCD_INITIAL_CLUSTER_STATE=\"existing\"\n", name, strings.Join(conf, ","))
	return nil
}

func v2MemberRemove(c *v2Context) error {
	if len(c.args) != 1 {
		return c.failLine(1, "Provide a single member ID\n")
	}
	id := c.args[0]
	cli, err := c.mustClient()
	if err != nil {
		return err
	}
	ctx, cancel := c.g.totalTimeout()
	defer cancel()
	members, err := cli.ListMembers(ctx)
	if err != nil {
		return c.failLine(1, "Error while verifying ID against known members: %s\n", err)
	}
	found := false
	for _, m := range members {
		if m.ID == id {
			found = true
		}
		if m.Name == id {
			fmt.Fprintf(c.e.stderr, "Found a member named %s; if this is correct, please use its ID, eg:\n\tetcdctl member remove %s\n", m.Name, m.ID)
			fmt.Fprintf(c.e.stderr, "For more details, read the documentation at https://github.com/etcd-io/etcd/blob/master/Documentation/runtime-configuration.md#remove-a-member\n\n")
		}
	}
	if !found {
		return c.failLine(1, "Couldn't find a member in the cluster with an ID of %s.\n", id)
	}
	if err := cli.RemoveMember(ctx, id); err != nil {
		return c.failLine(1, "Received an error trying to remove member %s: %s", id, err)
	}
	fmt.Fprintf(c.e.stdout, "Removed member %s from cluster\n", id)
	return nil
}

func v2MemberUpdate(c *v2Context) error {
	if len(c.args) != 2 {
		return c.failLine(1, "Provide an ID and a list of comma separated peerURL (0xabcd http://example.com,http://example1.com)\n")
	}
	cli, err := c.mustClient()
	if err != nil {
		return err
	}
	ctx, cancel := c.g.totalTimeout()
	defer cancel()
	if err := cli.UpdateMember(ctx, c.args[0], strings.Split(c.args[1], ",")); err != nil {
		return c.failLine(1, "%s\n", err)
	}
	fmt.Fprintf(c.e.stdout, "Updated member with ID %s in cluster\n", c.args[0])
	return nil
}

func v2ClusterHealthCommand() *v2Command {
	return &v2Command{name: "cluster-health", usage: "check the health of the etcd cluster", argsUsage: " ", flags: []v2Flag{
		{names: "forever, f", usage: "forever check the health every 10 second until CTRL+C", kind: "bool"},
	}, action: v2ClusterHealth}
}

func v2ClusterHealth(c *v2Context) error {
	forever := c.Bool("forever")
	if forever {
		exitOnInterrupt()
	}
	cli, err := c.clientNoSync()
	if err != nil {
		return err
	}
	hc := cli.HTTPClient()
	out := c.e.stdout
	members, err := cli.ListMembers(context.Background())
	if err != nil {
		fmt.Fprintln(out, "cluster may be unhealthy: failed to list members")
		return c.handleError(v2ExitServerError, err)
	}
	for {
		healthy := 0
		for _, m := range members {
			if len(m.ClientURLs) == 0 {
				fmt.Fprintf(out, "member %s is unreachable: no available published client urls\n", m.ID)
				continue
			}
			checked := false
			for _, u := range m.ClientURLs {
				ok, err := memberHealthy(hc, u)
				if err != nil {
					fmt.Fprintf(out, "failed to check the health of member %s on %s: %v\n", m.ID, u, err)
					continue
				}
				checked = true
				if ok {
					fmt.Fprintf(out, "member %s is healthy: got healthy result from %s\n", m.ID, u)
					healthy++
				} else {
					fmt.Fprintf(out, "member %s is unhealthy: got unhealthy result from %s\n", m.ID, u)
				}
				break
			}
			if !checked {
				fmt.Fprintf(out, "member %s is unreachable: %v are all unreachable\n", m.ID, m.ClientURLs)
			}
		}
		switch healthy {
		case len(members):
			fmt.Fprintln(out, "cluster is healthy")
		case 0:
			fmt.Fprintln(out, "cluster is unavailable")
		default:
			fmt.Fprintln(out, "cluster is degraded")
		}
		if !forever {
			if healthy == len(members) {
				return nil
			}
			return exitQuietly(v2ExitClusterNotHealthy)
		}
		fmt.Fprintf(out, "\nnext check after 10 second...\n\n")
		time.Sleep(10 * time.Second)
	}
}

// memberHealthy reads url's /health: {"health":"true"} or, from older
// members, {"health":true}.
func memberHealthy(hc *http.Client, url string) (bool, error) {
	resp, err := hc.Get(url + "/health")
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return false, err
	}
	var s struct{ Health string }
	var bl struct{ Health bool }
	if err = json.Unmarshal(b, &s); err != nil {
		err = json.Unmarshal(b, &bl)
	}
	if err != nil {
		return false, err
	}
	return s.Health == "true" || bl.Health, nil
}

func v2BackupCommand() *v2Command {
	return &v2Command{name: "backup", usage: "backup an etcd directory", argsUsage: " ", flags: []v2Flag{
		{names: "data-dir", usage: "Path to the etcd data dir", kind: "string"},
		{names: "wal-dir", usage: "Path to the etcd wal dir", kind: "string"},
		{names: "backup-dir", usage: "Path to the backup dir", kind: "string"},
		{names: "backup-wal-dir", usage: "Path to the backup wal dir", kind: "string"},
		{names: "with-v3", usage: "Backup v3 backend data", kind: "bool"},
	}, action: func(c *v2Context) error {
		lg := zap.New(&v2LogCore{w: c.e.stderr})
		_, err := datadir.Backup(datadir.BackupConfig{
			DataDir: c.String("data-dir"), WALDir: c.String("wal-dir"),
			BackupDir: c.String("backup-dir"), BackupWALDir: c.String("backup-wal-dir"),
			WithV3: c.Bool("with-v3"), Logger: lg,
		})
		if err != nil {
			// etcdctl 3.4 ends with log.Fatal of the failure itself.
			var be *datadir.BackupError
			if errors.As(err, &be) {
				err = be.Err
			}
			writeV2LogLine(c.e.stderr, err.Error())
			return exitQuietly(1)
		}
		return nil
	}}
}

// v2LogCore writes log entries as etcdctl 3.4's backup does (Go's log
// package through capnslog): "2006-01-02 15:04:05.000000 I | message",
// without fields.
type v2LogCore struct{ w io.Writer }

func (c *v2LogCore) Enabled(zapcore.Level) bool        { return true }
func (c *v2LogCore) With([]zapcore.Field) zapcore.Core { return c }
func (c *v2LogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	return ce.AddCore(e, c)
}
func (c *v2LogCore) Write(e zapcore.Entry, _ []zapcore.Field) error {
	writeV2LogLine(c.w, e.Message)
	return nil
}
func (c *v2LogCore) Sync() error { return nil }

func writeV2LogLine(w io.Writer, msg string) {
	fmt.Fprintf(w, "%s I | %s\n", time.Now().Format("2006-01-02 15:04:05.000000"), msg)
}
