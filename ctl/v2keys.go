package ctl

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/basaltkv/basalt/pkg/v2client"
)

// printV2Response is etcdctl's printResponseKey.
func (c *v2Context) printResponse(resp *v2client.Response) {
	out := c.e.stdout
	switch c.g.output {
	case "simple":
		if resp.Action != "delete" {
			fmt.Fprintln(out, resp.Node.Value)
		} else {
			fmt.Fprintln(out, "PrevNode.Value:", resp.PrevNode.Value)
		}
	case "extended":
		fmt.Fprintln(out, "Key:", resp.Node.Key)
		fmt.Fprintln(out, "Created-Index:", resp.Node.CreatedIndex)
		fmt.Fprintln(out, "Modified-Index:", resp.Node.ModifiedIndex)
		if resp.PrevNode != nil {
			fmt.Fprintln(out, "PrevNode.Value:", resp.PrevNode.Value)
		}
		fmt.Fprintln(out, "TTL:", resp.Node.TTL)
		fmt.Fprintln(out, "Index:", resp.Index)
		if resp.Action != "delete" {
			fmt.Fprintln(out, "")
			fmt.Fprintln(out, resp.Node.Value)
		}
	case "json":
		b, err := json.Marshal(resp)
		if err != nil {
			panic(err)
		}
		fmt.Fprintln(out, string(b))
	default:
		fmt.Fprintln(c.e.stderr, "Unsupported output format:", c.g.output)
	}
}

var ttlFlag = v2Flag{names: "ttl", usage: "key time-to-live in seconds", kind: "int", def: "0"}

func ttlOf(c *v2Context) time.Duration { return time.Duration(c.Int("ttl")) * time.Second }

// keyCommand is a command that needs a key argument and a synced client.
func keyCommand(name, usage, argsUsage string, flags []v2Flag, f func(c *v2Context, cli *v2client.Client, key string) error) *v2Command {
	return &v2Command{name: name, usage: usage, argsUsage: argsUsage, flags: flags, action: func(c *v2Context) error {
		cli, err := c.mustClient()
		if err != nil {
			return err
		}
		if len(c.args) == 0 {
			return c.handleError(v2ExitBadArgs, fmt.Errorf("key required"))
		}
		return f(c, cli, c.args[0])
	}}
}

// write sends a write and prints its response (unless skip says not to).
func (c *v2Context) write(do func() (*v2client.Response, error), print func(*v2client.Response) bool) error {
	resp, err := do()
	if err != nil {
		return c.handleError(v2ExitServerError, err)
	}
	if print(resp) {
		c.printResponse(resp)
	}
	return nil
}

func always(*v2client.Response) bool { return true }

func (c *v2Context) notSimple(*v2client.Response) bool { return c.g.output != "simple" }

func (c *v2Context) fileOrNotSimple(resp *v2client.Response) bool {
	return !resp.Node.Dir || c.g.output != "simple"
}

func v2SetCommand() *v2Command {
	return keyCommand("set", "set the value of a key", "<key> <value>", []v2Flag{
		ttlFlag,
		{names: "swap-with-value", usage: "previous value", kind: "string"},
		{names: "swap-with-index", usage: "previous index", kind: "int", def: "0"},
	}, func(c *v2Context, cli *v2client.Client, key string) error {
		value, ok := c.argOrStdin(1)
		if !ok {
			return c.handleError(v2ExitBadArgs, fmt.Errorf("value required"))
		}
		ctx, cancel := c.g.totalTimeout()
		defer cancel()
		opts := v2client.SetOptions{TTL: ttlOf(c), PrevValue: c.String("swap-with-value"), PrevIndex: uint64(c.Int("swap-with-index"))}
		return c.write(func() (*v2client.Response, error) { return cli.Set(ctx, key, value, opts) }, always)
	}).withDescription("Set sets the value of a key.\n\n   When <value> begins with '-', <value> is interpreted as a flag.\n   Insert '--' for workaround:\n\n   $ set -- <key> <value>")
}

func (cmd *v2Command) withDescription(d string) *v2Command { cmd.description = d; return cmd }

func v2MkCommand() *v2Command {
	return keyCommand("mk", "make a new key with a given value", "<key> <value>", []v2Flag{
		{names: "in-order", usage: "create in-order key under directory <key>", kind: "bool"},
		ttlFlag,
	}, func(c *v2Context, cli *v2client.Client, key string) error {
		value, ok := c.argOrStdin(1)
		if !ok {
			return c.handleError(v2ExitBadArgs, fmt.Errorf("value required"))
		}
		ctx, cancel := c.g.totalTimeout()
		defer cancel()
		return c.write(func() (*v2client.Response, error) {
			if c.Bool("in-order") {
				return cli.CreateInOrder(ctx, key, value, v2client.CreateInOrderOptions{TTL: ttlOf(c)})
			}
			return cli.Set(ctx, key, value, v2client.SetOptions{TTL: ttlOf(c), PrevExist: v2client.PrevNoExist})
		}, always)
	})
}

func v2UpdateCommand() *v2Command {
	return keyCommand("update", "update an existing key with a given value", "<key> <value>", []v2Flag{ttlFlag},
		func(c *v2Context, cli *v2client.Client, key string) error {
			value, ok := c.argOrStdin(1)
			if !ok {
				return c.handleError(v2ExitBadArgs, fmt.Errorf("value required"))
			}
			ctx, cancel := c.g.totalTimeout()
			defer cancel()
			return c.write(func() (*v2client.Response, error) {
				return cli.Set(ctx, key, value, v2client.SetOptions{TTL: ttlOf(c), PrevExist: v2client.PrevExists})
			}, always)
		})
}

// dirCommand is mkdir, setdir and updatedir: a directory set under a
// prevExist condition, printed only in the other formats.
func dirCommand(name, usage, argsUsage string, prev v2client.PrevExist) *v2Command {
	return keyCommand(name, usage, argsUsage, []v2Flag{ttlFlag}, func(c *v2Context, cli *v2client.Client, key string) error {
		ctx, cancel := c.g.totalTimeout()
		defer cancel()
		return c.write(func() (*v2client.Response, error) {
			return cli.Set(ctx, key, "", v2client.SetOptions{TTL: ttlOf(c), Dir: true, PrevExist: prev})
		}, c.notSimple)
	})
}

func v2MkdirCommand() *v2Command {
	return dirCommand("mkdir", "make a new directory", "<key>", v2client.PrevNoExist)
}

func v2SetdirCommand() *v2Command {
	return dirCommand("setdir", "create a new directory or update an existing directory TTL", "<key>", v2client.PrevIgnore)
}

func v2UpdatedirCommand() *v2Command {
	return dirCommand("updatedir", "update an existing directory", "<key> <value>", v2client.PrevExists)
}

func v2RmCommand() *v2Command {
	return keyCommand("rm", "remove a key or a directory", "<key>", []v2Flag{
		{names: "dir", usage: "removes the key if it is an empty directory or a key-value pair", kind: "bool"},
		{names: "recursive, r", usage: "removes the key and all child keys(if it is a directory)", kind: "bool"},
		{names: "with-value", usage: "previous value", kind: "string"},
		{names: "with-index", usage: "previous index", kind: "int", def: "0"},
	}, func(c *v2Context, cli *v2client.Client, key string) error {
		ctx, cancel := c.g.totalTimeout()
		defer cancel()
		opts := v2client.DeleteOptions{PrevValue: c.String("with-value"), PrevIndex: uint64(c.Int("with-index")), Dir: c.Bool("dir"), Recursive: c.Bool("recursive")}
		return c.write(func() (*v2client.Response, error) { return cli.Delete(ctx, key, opts) }, c.fileOrNotSimple)
	})
}

func v2RmdirCommand() *v2Command {
	return keyCommand("rmdir", "removes the key if it is an empty directory or a key-value pair", "<key>", nil,
		func(c *v2Context, cli *v2client.Client, key string) error {
			ctx, cancel := c.g.totalTimeout()
			defer cancel()
			return c.write(func() (*v2client.Response, error) { return cli.Delete(ctx, key, v2client.DeleteOptions{Dir: true}) }, c.fileOrNotSimple)
		})
}

var quorumFlag = v2Flag{names: "quorum, q", usage: "require quorum for get request", kind: "bool"}

func v2GetCommand() *v2Command {
	return keyCommand("get", "retrieve the value of a key", "<key>", []v2Flag{
		{names: "sort", usage: "returns result in sorted order", kind: "bool"},
		quorumFlag,
	}, func(c *v2Context, cli *v2client.Client, key string) error {
		ctx, cancel := c.g.totalTimeout()
		resp, err := cli.Get(ctx, key, v2client.GetOptions{Sort: c.Bool("sort"), Quorum: c.Bool("quorum")})
		cancel()
		if err != nil {
			return c.handleError(v2ExitServerError, err)
		}
		if resp.Node.Dir {
			return c.failLine(1, "%s: is a directory\n", resp.Node.Key)
		}
		c.printResponse(resp)
		return nil
	})
}

func v2LsCommand() *v2Command {
	return &v2Command{name: "ls", usage: "retrieve a directory", argsUsage: "[key]", flags: []v2Flag{
		{names: "sort", usage: "returns result in sorted order", kind: "bool"},
		{names: "recursive, r", usage: "returns all key names recursively for the given path", kind: "bool"},
		{names: "p", usage: "append slash (/) to directories", kind: "bool"},
		quorumFlag,
	}, action: func(c *v2Context) error {
		cli, err := c.mustClient()
		if err != nil {
			return err
		}
		key := "/"
		if len(c.args) != 0 {
			key = c.args[0]
		}
		ctx, cancel := c.g.totalTimeout()
		resp, err := cli.Get(ctx, key, v2client.GetOptions{Sort: c.Bool("sort"), Recursive: c.Bool("recursive"), Quorum: c.Bool("quorum")})
		cancel()
		if err != nil {
			return c.handleError(v2ExitServerError, err)
		}
		if c.g.output != "simple" {
			c.printResponse(resp)
			return nil
		}
		if !resp.Node.Dir {
			fmt.Fprintln(c.e.stdout, resp.Node.Key)
		}
		for _, n := range resp.Node.Nodes {
			c.printLsNode(n)
		}
		return nil
	}}
}

func (c *v2Context) printLsNode(n *v2client.Node) {
	if n.Dir && c.Bool("p") {
		fmt.Fprintf(c.e.stdout, "%v/\n", n.Key)
	} else {
		fmt.Fprintln(c.e.stdout, n.Key)
	}
	for _, child := range n.Nodes {
		c.printLsNode(child)
	}
}
