package ctl

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	clientv3 "go.etcd.io/etcd/client/v3"
)

var (
	errBadArgsNum            = errors.New("bad number of arguments")
	errBadArgsNumConflictEnv = errors.New("bad number of arguments (found conflicting environment key)")
	errBadArgsNumSeparator   = errors.New("bad number of arguments (found separator --, but no commands)")
	errWatchRangeAndPrefix   = errors.New("`range_end` and `--prefix` are mutually exclusive")
)

// watchOptions are watch's flags.
type watchOptions struct {
	rev            int64
	prefix         bool
	interactive    bool
	prevKV         bool
	progressNotify bool
}

func (o *watchOptions) register(fs *pflag.FlagSet) {
	fs.BoolVarP(&o.interactive, "interactive", "i", false, "Interactive mode")
	fs.BoolVar(&o.prefix, "prefix", false, "Watch on a prefix if prefix is set")
	fs.Int64Var(&o.rev, "rev", 0, "Revision to start watching")
	fs.BoolVar(&o.prevKV, "prev-kv", false, "get the previous key-value pair before the event happens")
	fs.BoolVar(&o.progressNotify, "progress-notify", false, "get periodic watch progress notification from server")
}

func (e *env) newWatchCommand() *cobra.Command {
	var o watchOptions
	cmd := &cobra.Command{
		Use:     "watch [options] [key or prefix] [range_end] [--] [exec-command arg1 arg2 ...]",
		Short:   "Watches events stream on keys or prefixes",
		GroupID: groupKV,
	}
	o.register(cmd.Flags())
	cmd.RunE = run(func(cmd *cobra.Command, args []string) error {
		envKey, envRange := e.getenv("ETCDCTL_WATCH_KEY"), e.getenv("ETCDCTL_WATCH_RANGE_END")
		if envKey == "" && envRange != "" {
			return failf(ExitBadArgs, "ETCDCTL_WATCH_KEY is empty but got ETCDCTL_WATCH_RANGE_END=%q", envRange)
		}
		if o.interactive {
			return e.watchInteractive(cmd, o, envKey, envRange)
		}
		keys, execArgs, err := splitWatchArgs(args, cmd.ArgsLenAtDash(), envKey, envRange)
		if err != nil {
			return fail(ExitBadArgs, err)
		}
		cli, err := e.client(cmd)
		if err != nil {
			return err
		}
		wc, err := o.watch(cli, keys)
		if err != nil {
			return fail(ExitBadArgs, err)
		}
		var mu sync.Mutex
		if err := e.printWatch(cli, wc, execArgs, &mu); err != nil {
			return err
		}
		if err := cli.Close(); err != nil {
			return fail(ExitBadConnection, err)
		}
		return fail(ExitInterrupted, errors.New("watch is canceled by the server"))
	})
	return cmd
}

func (e *env) getenv(key string) string {
	for _, kv := range e.environ() {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// splitWatchArgs splits watch's arguments at "--" (dash is cobra's
// ArgsLenAtDash) into the key and range end, and the command to run on each
// event. ETCDCTL_WATCH_KEY and ETCDCTL_WATCH_RANGE_END stand in for the key
// and range end, and may not be given beside them.
func splitWatchArgs(args []string, dash int, envKey, envRange string) (keys, execArgs []string, err error) {
	keys = args
	if dash >= 0 {
		keys, execArgs = args[:dash], args[dash:]
		if len(execArgs) == 0 {
			return nil, nil, errBadArgsNumSeparator
		}
	}
	if envKey != "" {
		if len(keys) > 0 {
			return nil, nil, errBadArgsNumConflictEnv
		}
		keys = []string{envKey}
		if envRange != "" {
			keys = append(keys, envRange)
		}
	}
	if len(keys) == 0 && len(execArgs) == 0 {
		return nil, nil, errBadArgsNum
	}
	return keys, execArgs, nil
}

// watch opens a watch on keys[0] (to keys[1] if given).
func (o watchOptions) watch(cli *clientv3.Client, keys []string) (clientv3.WatchChan, error) {
	if len(keys) < 1 {
		return nil, errBadArgsNum
	}
	opts := []clientv3.OpOption{clientv3.WithRev(o.rev)}
	if len(keys) == 2 {
		if o.prefix {
			return nil, errWatchRangeAndPrefix
		}
		opts = append(opts, clientv3.WithRange(keys[1]))
	}
	if o.prefix {
		opts = append(opts, clientv3.WithPrefix())
	}
	if o.prevKV {
		opts = append(opts, clientv3.WithPrevKV())
	}
	if o.progressNotify {
		opts = append(opts, clientv3.WithProgressNotify())
	}
	return cli.Watch(clientv3.WithRequireLeader(context.Background()), keys[0], opts...), nil
}

// printWatch prints every response of wc and runs execArgs once per event,
// until the watch ends. mu serialises the printing of concurrent watches.
func (e *env) printWatch(cli *clientv3.Client, wc clientv3.WatchChan, execArgs []string, mu *sync.Mutex) error {
	for resp := range wc {
		mu.Lock()
		if resp.Canceled {
			fmt.Fprintf(e.stderr, "watch was canceled (%v)\n", resp.Err())
		}
		if resp.IsProgressNotify() {
			fmt.Fprintf(e.stdout, "progress notify: %d\n", resp.Header.GetRevision())
		}
		err := e.display.Watch(&resp)
		mu.Unlock()
		if err != nil {
			return err
		}
		if len(execArgs) == 0 {
			continue
		}
		for _, ev := range resp.Events {
			c := exec.CommandContext(cli.Ctx(), execArgs[0], execArgs[1:]...)
			c.Env = append(e.environ(),
				fmt.Sprintf("ETCD_WATCH_REVISION=%d", resp.Header.GetRevision()),
				fmt.Sprintf("ETCD_WATCH_EVENT_TYPE=%q", ev.Type),
				fmt.Sprintf("ETCD_WATCH_KEY=%q", ev.Kv.GetKey()),
				fmt.Sprintf("ETCD_WATCH_VALUE=%q", ev.Kv.GetValue()),
			)
			c.Stdout, c.Stderr = e.stdout, e.stderr
			if err := c.Run(); err != nil {
				fmt.Fprintf(e.stderr, "command %q error (%v)\n", execArgs, err)
				return exitQuietly(ExitError)
			}
		}
	}
	return nil
}

// watchInteractive reads "watch [options] key [range_end] [-- command]" and
// "progress" lines from stdin until it ends.
func (e *env) watchInteractive(cmd *cobra.Command, cmdOpts watchOptions, envKey, envRange string) error {
	cli, err := e.client(cmd)
	if err != nil {
		return err
	}
	defer cli.Close()
	var mu sync.Mutex
	// A failed event command ends the whole run at once, even while a
	// line is being read.
	errc := make(chan error, 1)
	type lineOrErr struct {
		line string
		err  error
	}
	lines := make(chan lineOrErr)
	go func() {
		r := bufio.NewReader(e.stdin)
		for {
			l, err := r.ReadString('\n')
			lines <- lineOrErr{l, err}
			if err != nil {
				return
			}
		}
	}()
	for {
		var l string
		select {
		case err := <-errc:
			return err
		case le := <-lines:
			if le.err != nil {
				return failf(ExitInvalidInput, "error reading watch request line: %w", le.err)
			}
			l = le.line
		}
		l = strings.TrimSuffix(l, "\n")
		args, err := argify(l)
		if err != nil {
			return err
		}
		if len(args) < 1 {
			fmt.Fprintf(e.stderr, "Invalid command: %s (watch and progress supported)\n", l)
			continue
		}
		switch args[0] {
		case "watch":
			if len(args) < 2 && envKey == "" {
				fmt.Fprintf(e.stderr, "Invalid command %s (command type or key is not provided)\n", l)
				continue
			}
			// A line's own flags replace the command line's, except
			// --progress-notify, which the command line may turn on.
			var o watchOptions
			fs := pflag.NewFlagSet("watch", pflag.ContinueOnError)
			o.register(fs)
			if err := fs.Parse(args[1:]); err != nil {
				return fail(ExitBadArgs, err)
			}
			o.progressNotify = o.progressNotify || cmdOpts.progressNotify
			keys, execArgs, err := splitWatchArgs(fs.Args(), fs.ArgsLenAtDash(), envKey, envRange)
			if err != nil {
				return fail(ExitBadArgs, err)
			}
			wc, err := o.watch(cli, keys)
			if err != nil {
				fmt.Fprintf(e.stderr, "Invalid command %s (%v)\n", l, err)
				continue
			}
			go func() {
				if err := e.printWatch(cli, wc, execArgs, &mu); err != nil {
					select {
					case errc <- err:
					default:
					}
				}
			}()
		case "progress":
			if err := cli.RequestProgress(clientv3.WithRequireLeader(context.Background())); err != nil {
				return fail(ExitError, err)
			}
		default:
			fmt.Fprintf(e.stderr, "Invalid command %s (only support watch)\n", l)
		}
	}
}
