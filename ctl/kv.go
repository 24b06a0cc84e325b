package ctl

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// The usage lines of the key-value commands, shared with txn's requests.
const (
	getUse = "get [options] <key> [range_end]"
	putUse = "put [options] <key> <value> (<value> can also be given from stdin)"
	delUse = "del [options] <key> [range_end]"
)

// getOptions are get's flags; txn reuses them for its get requests.
type getOptions struct {
	consistency                string
	limit                      int64
	order, sortBy              string
	prefix, fromKey            bool
	rev                        int64
	keysOnly, countOnly        bool
	printValueOnly             bool
	minCreateRev, maxCreateRev int64
	minModRev, maxModRev       int64
	stream                     bool
}

func (o *getOptions) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&o.consistency, "consistency", "l", "Linearizable(l) or Serializable(s)")
	fs.StringVar(&o.order, "order", "", "Order of results; ASCEND or DESCEND (ASCEND by default)")
	fs.StringVar(&o.sortBy, "sort-by", "", "Sort target; CREATE, KEY, MODIFY, VALUE, or VERSION")
	fs.Int64Var(&o.limit, "limit", 0, "Maximum number of results")
	fs.BoolVar(&o.prefix, "prefix", false, "Get keys with matching prefix")
	fs.BoolVar(&o.fromKey, "from-key", false, "Get keys that are greater than or equal to the given key using byte compare")
	fs.Int64Var(&o.rev, "rev", 0, "Specify the kv revision")
	fs.BoolVar(&o.keysOnly, "keys-only", false, "Get only the keys")
	fs.BoolVar(&o.countOnly, "count-only", false, "Get only the count")
	fs.BoolVar(&o.printValueOnly, "print-value-only", false, `Only write values when using the "simple" output format`)
	fs.Int64Var(&o.minCreateRev, "min-create-rev", 0, "Minimum create revision")
	fs.Int64Var(&o.maxCreateRev, "max-create-rev", 0, "Maximum create revision")
	fs.Int64Var(&o.minModRev, "min-mod-rev", 0, "Minimum modification revision")
	fs.Int64Var(&o.maxModRev, "max-mod-rev", 0, "Maximum modification revision")
	fs.BoolVar(&o.stream, "stream", false, "Use the RangeStream RPC")
	completions(cmd, "consistency", "l", "s")
	completions(cmd, "order", "ASCEND", "DESCEND")
	completions(cmd, "sort-by", "CREATE", "KEY", "MODIFY", "VALUE", "VERSION")
}

// completions offers values for a flag in shell completion.
func completions(cmd *cobra.Command, flag string, values ...string) {
	cmd.RegisterFlagCompletionFunc(flag, func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return values, cobra.ShellCompDirectiveDefault
	})
}

func (e *env) newGetCommand() *cobra.Command {
	var o getOptions
	cmd := &cobra.Command{
		Use:     getUse,
		Short:   "Gets the key or a range of keys",
		GroupID: groupKV,
	}
	o.register(cmd)
	cmd.RunE = run(func(cmd *cobra.Command, args []string) error {
		key, opts, err := o.op(args)
		if err != nil {
			return err
		}
		resp, err := request(e, cmd, func(ctx context.Context, cli *clientv3.Client) (*clientv3.GetResponse, error) {
			if !o.stream {
				return cli.Get(ctx, key, opts...)
			}
			stream, err := cli.GetStream(ctx, key, opts...)
			if err != nil {
				return nil, err
			}
			return clientv3.GetStreamToGetResponse(stream)
		})
		if err != nil {
			return err
		}
		if o.countOnly {
			if _, ok := e.display.(*fieldsPrinter); !ok {
				return fail(ExitBadArgs, errors.New("--count-only is only for `--write-out=fields`"))
			}
		}
		if o.printValueOnly {
			sp, ok := e.display.(*simplePrinter)
			if !ok {
				return fail(ExitBadArgs, errors.New("print-value-only is only for `--write-out=simple`"))
			}
			sp.valueOnly = true
		}
		return e.display.Get(resp)
	})
	return cmd
}

// op checks get's arguments and flags and turns them into a key and
// options.
func (o *getOptions) op(args []string) (string, []clientv3.OpOption, error) {
	if len(args) == 0 {
		return "", nil, fail(ExitBadArgs, errors.New("get command needs one argument as key and an optional argument as range_end"))
	}
	if o.prefix && o.fromKey {
		return "", nil, fail(ExitBadArgs, errors.New("`--prefix` and `--from-key` cannot be set at the same time, choose one"))
	}
	if o.keysOnly && o.countOnly {
		return "", nil, fail(ExitBadArgs, errors.New("`--keys-only` and `--count-only` cannot be set at the same time, choose one"))
	}
	var opts []clientv3.OpOption
	s, err := serializable(o.consistency)
	if err != nil {
		return "", nil, err
	}
	if s {
		opts = append(opts, clientv3.WithSerializable())
	}
	key := args[0]
	if len(args) > 1 {
		if o.prefix || o.fromKey {
			return "", nil, fail(ExitBadArgs, errors.New("too many arguments, only accept one argument when `--prefix` or `--from-key` is set"))
		}
		opts = append(opts, clientv3.WithRange(args[1]))
	}
	opts = append(opts, clientv3.WithLimit(o.limit))
	if o.rev > 0 {
		opts = append(opts, clientv3.WithRev(o.rev))
	}

	order := clientv3.SortNone
	switch strings.ToUpper(o.order) {
	case "ASCEND":
		order = clientv3.SortAscend
	case "DESCEND":
		order = clientv3.SortDescend
	case "":
	default:
		return "", nil, failf(ExitBadFeature, "bad sort order %v", o.order)
	}
	target := clientv3.SortByKey
	switch strings.ToUpper(o.sortBy) {
	case "CREATE":
		target = clientv3.SortByCreateRevision
	case "KEY":
		target = clientv3.SortByKey
	case "MODIFY":
		target = clientv3.SortByModRevision
	case "VALUE":
		target = clientv3.SortByValue
	case "VERSION":
		target = clientv3.SortByVersion
	case "":
	default:
		return "", nil, failf(ExitBadFeature, "bad sort target %v", o.sortBy)
	}
	opts = append(opts, clientv3.WithSort(target, order))

	key, opts = rangeOfKey(key, opts, o.prefix, o.fromKey)
	if o.keysOnly {
		opts = append(opts, clientv3.WithKeysOnly())
	}
	if o.countOnly {
		opts = append(opts, clientv3.WithCountOnly())
	}
	if o.minCreateRev > 0 {
		opts = append(opts, clientv3.WithMinCreateRev(o.minCreateRev))
	}
	if o.maxCreateRev > 0 {
		if o.minCreateRev > o.maxCreateRev {
			return "", nil, failf(ExitBadFeature, "getMinCreateRev(=%v) > getMaxCreateRev(=%v)", o.minCreateRev, o.maxCreateRev)
		}
		opts = append(opts, clientv3.WithMaxCreateRev(o.maxCreateRev))
	}
	if o.minModRev > 0 {
		opts = append(opts, clientv3.WithMinModRev(o.minModRev))
	}
	if o.maxModRev > 0 {
		if o.minModRev > o.maxModRev {
			return "", nil, failf(ExitBadFeature, "getMinModRev(=%v) > getMaxModRev(=%v)", o.minModRev, o.maxModRev)
		}
		opts = append(opts, clientv3.WithMaxModRev(o.maxModRev))
	}
	return key, opts, nil
}

// rangeOfKey applies --prefix or --from-key. An empty key with either means
// every key: the range from "\x00".
func rangeOfKey(key string, opts []clientv3.OpOption, prefix, fromKey bool) (string, []clientv3.OpOption) {
	if prefix {
		if key == "" {
			return "\x00", append(opts, clientv3.WithFromKey())
		}
		opts = append(opts, clientv3.WithPrefix())
	}
	if fromKey {
		if key == "" {
			key = "\x00"
		}
		opts = append(opts, clientv3.WithFromKey())
	}
	return key, opts
}

// putOptions are put's flags; txn reuses them.
type putOptions struct {
	lease                    string
	prevKV                   bool
	ignoreValue, ignoreLease bool
}

func (o *putOptions) register(fs *pflag.FlagSet) {
	fs.StringVar(&o.lease, "lease", "0", "lease ID (in hexadecimal) to attach to the key")
	fs.BoolVar(&o.prevKV, "prev-kv", false, "return the previous key-value pair before modification")
	fs.BoolVar(&o.ignoreValue, "ignore-value", false, "updates the key using its current value")
	fs.BoolVar(&o.ignoreLease, "ignore-lease", false, "updates the key using its current lease")
}

const putLong = `
Puts the given key into the store.

When <value> begins with '-', <value> is interpreted as a flag.
Insert '--' for workaround:

$ put <key> -- <value>
$ put -- <key> <value>

If <value> isn't given as a command line argument and '--ignore-value' is not specified,
this command tries to read the value from standard input.

If <lease> isn't given as a command line argument and '--ignore-lease' is not specified,
this command tries to read the value from standard input.

For example,
$ cat file | put <key>
will store the content of the file to <key>.
`

func (e *env) newPutCommand() *cobra.Command {
	var o putOptions
	cmd := &cobra.Command{
		Use:     putUse,
		Short:   "Puts the given key into the store",
		Long:    putLong,
		GroupID: groupKV,
	}
	o.register(cmd.Flags())
	cmd.RunE = run(func(cmd *cobra.Command, args []string) error {
		key, value, opts, err := o.op(e, args)
		if err != nil {
			return err
		}
		resp, err := request(e, cmd, func(ctx context.Context, cli *clientv3.Client) (*clientv3.PutResponse, error) {
			return cli.Put(ctx, key, value, opts...)
		})
		if err != nil {
			return err
		}
		return e.display.Put(resp)
	})
	return cmd
}

func (o *putOptions) op(e *env, args []string) (key, value string, opts []clientv3.OpOption, err error) {
	if len(args) == 0 {
		return "", "", nil, fail(ExitBadArgs, errors.New("put command needs 1 argument and input from stdin or 2 arguments"))
	}
	key = args[0]
	if o.ignoreValue && len(args) > 1 {
		return "", "", nil, fail(ExitBadArgs, errors.New("put command needs only 1 argument when 'ignore-value' is set"))
	}
	if !o.ignoreValue {
		if value, err = e.argOrStdin(args, 1); err != nil {
			return "", "", nil, fail(ExitBadArgs, errors.New("put command needs 1 argument and input from stdin or 2 arguments"))
		}
	}
	id, err := strconv.ParseInt(o.lease, 16, 64)
	if err != nil {
		return "", "", nil, failf(ExitBadArgs, "bad lease ID (%w), expecting ID in Hex", err)
	}
	if id != 0 {
		opts = append(opts, clientv3.WithLease(clientv3.LeaseID(id)))
	}
	if o.prevKV {
		opts = append(opts, clientv3.WithPrevKV())
	}
	if o.ignoreValue {
		opts = append(opts, clientv3.WithIgnoreValue())
	}
	if o.ignoreLease {
		opts = append(opts, clientv3.WithIgnoreLease())
	}
	return key, value, opts, nil
}

// delOptions are del's flags; txn reuses them.
type delOptions struct {
	prefix, prevKV, fromKey, isRange bool
}

func (o *delOptions) register(fs *pflag.FlagSet) {
	fs.BoolVar(&o.prefix, "prefix", false, "delete keys with matching prefix")
	fs.BoolVar(&o.prevKV, "prev-kv", false, "return deleted key-value pairs")
	fs.BoolVar(&o.fromKey, "from-key", false, "delete keys that are greater than or equal to the given key using byte compare")
	fs.BoolVar(&o.isRange, "range", false, "delete range of keys")
}

func (e *env) newDelCommand() *cobra.Command {
	var o delOptions
	cmd := &cobra.Command{
		Use:     delUse,
		Short:   "Removes the specified key or range of keys [key, range_end)",
		GroupID: groupKV,
	}
	o.register(cmd.Flags())
	cmd.RunE = run(func(cmd *cobra.Command, args []string) error {
		key, opts, err := o.op(e, args)
		if err != nil {
			return err
		}
		resp, err := request(e, cmd, func(ctx context.Context, cli *clientv3.Client) (*clientv3.DeleteResponse, error) {
			return cli.Delete(ctx, key, opts...)
		})
		if err != nil {
			return err
		}
		return e.display.Del(resp)
	})
	return cmd
}

// rangeDeleteGrace is how long del waits, after warning, before deleting an
// explicit range without --range.
const rangeDeleteGrace = 2 * time.Second

func (o *delOptions) op(e *env, args []string) (string, []clientv3.OpOption, error) {
	if len(args) == 0 || len(args) > 2 {
		return "", nil, fail(ExitBadArgs, errors.New("del command needs one argument as key and an optional argument as range_end"))
	}
	if o.prefix && o.fromKey {
		return "", nil, fail(ExitBadArgs, errors.New("`--prefix` and `--from-key` cannot be set at the same time, choose one"))
	}
	var opts []clientv3.OpOption
	key := args[0]
	if len(args) > 1 {
		if o.prefix || o.fromKey {
			return "", nil, fail(ExitBadArgs, errors.New("too many arguments, only accept one argument when `--prefix` or `--from-key` is set"))
		}
		opts = append(opts, clientv3.WithRange(args[1]))
		if !o.isRange {
			fmt.Fprintf(e.stderr, "Warning: Keys between %q and %q will be deleted. Please interrupt the command within next 2 seconds to cancel. "+
				"You can provide `--range` flag to avoid the delay.\n", args[0], args[1])
			time.Sleep(rangeDeleteGrace)
		}
	}
	if o.prefix {
		if key == "" {
			key = "\x00"
			opts = append(opts, clientv3.WithFromKey())
		} else {
			opts = append(opts, clientv3.WithPrefix())
		}
	}
	if o.prevKV {
		opts = append(opts, clientv3.WithPrevKV())
	}
	if o.fromKey {
		if key == "" {
			key = "\x00"
		}
		opts = append(opts, clientv3.WithFromKey())
	}
	return key, opts, nil
}
