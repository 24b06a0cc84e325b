package ctl

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	clientv3 "go.etcd.io/etcd/client/v3"
)

const txnLong = `Txn reads multiple etcd requests from standard input and applies them as a single atomic transaction.

A transaction consists of three components:
1) a list of conditions,
2) a list of requests to apply if all the conditions are true,
3) a list of requests to apply if any condition is false.

Example interactive stdin usage:

---
etcdctl txn -i
# compares:
mod("key1") > "0"

# success requests (get, put, delete):
put key1 "overwrote-key1"

# failure requests (get, put, delete):
put key1 "created-key1"
put key2 "some extra key"
---

Refer to https://github.com/etcd-io/etcd/blob/main/etcdctl/README.md#txn-options.`

func (e *env) newTxnCommand() *cobra.Command {
	var interactive bool
	cmd := &cobra.Command{
		Use:     "txn [options]",
		Short:   "Txn processes all the requests in one transaction",
		Long:    txnLong,
		GroupID: groupKV,
	}
	cmd.Flags().BoolVarP(&interactive, "interactive", "i", false, "Input transaction in interactive mode")
	cmd.RunE = run(func(cmd *cobra.Command, args []string) error {
		if len(args) != 0 {
			return fail(ExitBadArgs, errors.New("txn command does not accept argument"))
		}
		cli, err := e.client(cmd)
		if err != nil {
			return err
		}
		defer cli.Close()
		prompt := func(s string) {
			if interactive {
				fmt.Fprintln(e.stdout, s)
			}
		}
		r := bufio.NewReader(e.stdin)
		prompt("compares:")
		cmps, err := readCompares(r)
		if err != nil {
			return err
		}
		prompt("success requests (get, put, del):")
		thenOps, err := e.readOps(r)
		if err != nil {
			return err
		}
		prompt("failure requests (get, put, del):")
		elseOps, err := e.readOps(r)
		if err != nil {
			return err
		}
		resp, err := cli.Txn(context.Background()).If(cmps...).Then(thenOps...).Else(elseOps...).Commit()
		if err != nil {
			return fail(ExitError, err)
		}
		return e.display.Txn(resp)
	})
	return cmd
}

// readSection reads trimmed lines up to an empty line. Input that ends
// before the empty line is an error (io.EOF), as in etcdctl.
func readSection(r *bufio.Reader, parse func(string) error) error {
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return fail(ExitInvalidInput, err)
		}
		line = strings.TrimSpace(line)
		if line == "" {
			return nil
		}
		if err := parse(line); err != nil {
			return err
		}
	}
}

func readCompares(r *bufio.Reader) ([]clientv3.Cmp, error) {
	var cmps []clientv3.Cmp
	err := readSection(r, func(line string) error {
		cmp, err := parseCompare(line)
		if err != nil {
			return fail(ExitInvalidInput, err)
		}
		cmps = append(cmps, *cmp)
		return nil
	})
	return cmps, err
}

func (e *env) readOps(r *bufio.Reader) ([]clientv3.Op, error) {
	var ops []clientv3.Op
	err := readSection(r, func(line string) error {
		op, err := e.parseRequest(line)
		if err != nil {
			return err
		}
		ops = append(ops, op)
		return nil
	})
	return ops, err
}

// parseRequest parses one txn request line: a get, put or del command line
// with that command's flags.
func (e *env) parseRequest(line string) (clientv3.Op, error) {
	args, err := argify(line)
	if err != nil {
		return clientv3.Op{}, err
	}
	if len(args) < 2 {
		return clientv3.Op{}, fail(ExitInvalidInput, fmt.Errorf("invalid txn compare request: %s", line))
	}
	var (
		op    clientv3.Op
		opErr error
	)
	var po putOptions
	put := &cobra.Command{Use: putUse, RunE: func(_ *cobra.Command, args []string) error {
		key, value, opts, err := po.op(e, args)
		op, opErr = clientv3.OpPut(key, value, opts...), err
		return nil
	}}
	po.register(put.Flags())
	var gopt getOptions
	get := &cobra.Command{Use: getUse, RunE: func(_ *cobra.Command, args []string) error {
		key, opts, err := gopt.op(args)
		op, opErr = clientv3.OpGet(key, opts...), err
		return nil
	}}
	gopt.register(get)
	var do delOptions
	del := &cobra.Command{Use: delUse, RunE: func(_ *cobra.Command, args []string) error {
		key, opts, err := do.op(e, args)
		op, opErr = clientv3.OpDelete(key, opts...), err
		return nil
	}}
	do.register(del.Flags())

	// Like etcdctl, a bad request line shows the request's usage on stderr.
	root := &cobra.Command{SilenceErrors: true}
	root.SetOut(e.stderr)
	root.SetErr(e.stderr)
	root.AddCommand(put, get, del)
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		return clientv3.Op{}, fail(ExitInvalidInput, fmt.Errorf("invalid txn request: %s", line))
	}
	return op, opErr
}

// parseCompare parses one txn condition: target("key") op "value", where
// target is ver(sion), c(reate), m(od), val(ue) or lease.
func parseCompare(line string) (*clientv3.Cmp, error) {
	target, rest, ok := strings.Cut(line, "(")
	if !ok {
		return nil, fmt.Errorf("malformed comparison: %s", line)
	}
	var key, op, val string
	n, serr := fmt.Sscanf(rest, "%q) %s %q", &key, &op, &val)
	if n != 3 {
		return nil, fmt.Errorf("malformed comparison: %s; got %s(%q) %s %q", line, target, key, op, val)
	}
	if serr != nil {
		return nil, fmt.Errorf("malformed comparison: %s (%w)", line, serr)
	}

	revision := func(t clientv3.Cmp) (*clientv3.Cmp, error) {
		v, err := strconv.ParseInt(val, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("invalid txn compare request: %s", line)
		}
		cmp := clientv3.Compare(t, op, v)
		return &cmp, nil
	}
	switch target {
	case "ver", "version":
		return revision(clientv3.Version(key))
	case "c", "create":
		return revision(clientv3.CreateRevision(key))
	case "m", "mod":
		return revision(clientv3.ModRevision(key))
	case "val", "value":
		cmp := clientv3.Compare(clientv3.Value(key), op, val)
		return &cmp, nil
	case "lease":
		// etcdctl passes the string on and crashes; the lease ID is hex,
		// as everywhere else on the command line.
		id, err := strconv.ParseInt(val, 16, 64)
		if err != nil {
			return nil, fmt.Errorf("invalid txn compare request: %s", line)
		}
		cmp := clientv3.Compare(clientv3.LeaseValue(key), op, clientv3.LeaseID(id))
		return &cmp, nil
	}
	return nil, fmt.Errorf("malformed comparison: %s (unknown target %s)", line, target)
}

// argPattern matches one argument of a line: a double-quoted string with
// Go escapes, a single-quoted string taken literally, or a bare word.
var argPattern = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'[^']*'|[^'"\s]\S*[^'"\s]?`)

// argify splits a line into arguments as a shell would, roughly: quotes
// group, double quotes take Go escapes.
func argify(s string) ([]string, error) {
	args := argPattern.FindAllString(s, -1)
	for i, a := range args {
		switch {
		case a == "":
		case a[0] == '\'':
			args[i] = a[1 : len(a)-1]
		case a[0] == '"':
			if _, err := fmt.Sscanf(a, "%q", &args[i]); err != nil {
				return nil, fail(ExitInvalidInput, err)
			}
		}
	}
	return args, nil
}
