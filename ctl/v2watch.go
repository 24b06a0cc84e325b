package ctl

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"

	"github.com/basaltkv/basalt/pkg/v2client"
)

// exitOnInterrupt ends the process with status 0 on Ctrl-C, as etcdctl's
// watches do.
func exitOnInterrupt() {
	sigch := make(chan os.Signal, 1)
	signal.Notify(sigch, os.Interrupt)
	go func() {
		<-sigch
		os.Exit(0)
	}()
}

func v2WatchCommand() *v2Command {
	return keyCommand("watch", "watch a key for changes", "<key>", []v2Flag{
		{names: "forever, f", usage: "forever watch a key until CTRL+C", kind: "bool"},
		{names: "after-index", usage: "watch after the given index", kind: "int", def: "0"},
		{names: "recursive, r", usage: "returns all values for key and child keys", kind: "bool"},
	}, func(c *v2Context, cli *v2client.Client, key string) error {
		recursive := c.Bool("recursive")
		w := cli.Watch(key, v2client.WatchOptions{AfterIndex: uint64(c.Int("after-index")), Recursive: recursive})
		exitOnInterrupt()
		for {
			resp, err := w.Next(context.Background())
			if err != nil {
				return c.handleError(v2ExitServerError, err)
			}
			if resp.Node.Dir {
				continue
			}
			if recursive {
				fmt.Fprintf(c.e.stdout, "[%s] %s\n", resp.Action, resp.Node.Key)
			}
			c.printResponse(resp)
			if !c.Bool("forever") {
				return nil
			}
		}
	})
}

func v2ExecWatchCommand() *v2Command {
	return &v2Command{name: "exec-watch", usage: "watch a key for changes and exec an executable", argsUsage: "<key> <command> [args...]", flags: []v2Flag{
		{names: "after-index", usage: "watch after the given index", kind: "int", def: "0"},
		{names: "recursive, r", usage: "watch all values for key and child keys", kind: "bool"},
	}, action: func(c *v2Context) error {
		cli, err := c.mustClient()
		if err != nil {
			return err
		}
		args := c.args
		if len(args) < 2 {
			return c.handleError(v2ExitBadArgs, fmt.Errorf("key and command to exec required"))
		}
		var key string
		var cmdArgs []string
		sep := false
		for i := range args {
			if args[i] == "--" && i != 0 {
				sep = true
				break
			}
		}
		if sep {
			key, cmdArgs = args[0], args[2:]
		} else {
			// Without flags the command comes first and the key last.
			key, cmdArgs = args[len(args)-1], args[:len(args)-1]
		}
		exitOnInterrupt()
		w := cli.Watch(key, v2client.WatchOptions{AfterIndex: uint64(c.Int("after-index")), Recursive: c.Bool("recursive")})
		for {
			resp, err := w.Next(context.Background())
			if err != nil {
				return c.handleError(v2ExitServerError, err)
			}
			if resp.Node.Dir {
				fmt.Fprintf(c.e.stderr, "Ignored dir %s change\n", resp.Node.Key)
				continue
			}
			cmd := exec.Command(cmdArgs[0], cmdArgs[1:]...)
			cmd.Env = append(environWithoutAPI(),
				"ETCD_WATCH_ACTION="+resp.Action,
				fmt.Sprintf("ETCD_WATCH_MODIFIED_INDEX=%d", resp.Node.ModifiedIndex),
				"ETCD_WATCH_KEY="+resp.Node.Key,
				"ETCD_WATCH_VALUE="+resp.Node.Value)
			cmd.Stdout, cmd.Stderr = c.e.stdout, c.e.stderr
			// etcdctl does not wait for one command before the next event.
			go func() {
				if err := cmd.Start(); err != nil {
					fmt.Fprint(c.e.stderr, err.Error())
					os.Exit(1)
				}
				cmd.Wait()
			}()
		}
	}}
}

// environWithoutAPI is the environment without ETCDCTL_API, which etcdctl
// unsets before it runs: the commands exec-watch runs do not see it.
func environWithoutAPI() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ETCDCTL_API=") {
			env = append(env, kv)
		}
	}
	return env
}
