package ctl

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// The v2 command line is urfave/cli v1's, as etcdctl 3.4 uses it under
// ETCDCTL_API=2: Go's flag package parses the global flags up to the
// command name, then the command's flags, which may follow its arguments
// (they are moved before them, up to a "--"). Help is drawn as urfave/cli's
// templates draw it.

// v2Flag is one flag of a v2 command: names is urfave's "long, s" list.
type v2Flag struct {
	names string
	usage string
	// kind is "bool", "string", "int", "duration" or "strings".
	kind string
	def  string
}

func (f v2Flag) nameList() []string {
	var out []string
	for _, n := range strings.Split(f.names, ",") {
		out = append(out, strings.TrimSpace(n))
	}
	return out
}

// helpLine is the flag as urfave lists it: "--name value, -n value\tusage (default: x)".
func (f v2Flag) helpLine() string {
	usage, placeholder := f.usage, ""
	if i := strings.IndexByte(usage, '`'); i >= 0 {
		if j := strings.IndexByte(usage[i+1:], '`'); j >= 0 {
			placeholder = usage[i+1 : i+1+j]
			usage = usage[:i] + placeholder + usage[i+1+j+1:]
		}
	}
	if placeholder == "" && f.kind != "bool" {
		placeholder = "value"
	}
	var parts []string
	for _, n := range f.nameList() {
		p := "--" + n
		if len(n) == 1 {
			p = "-" + n
		}
		if placeholder != "" {
			p += " " + placeholder
		}
		parts = append(parts, p)
	}
	line := strings.Join(parts, ", ") + "\t" + usage
	switch {
	case f.kind == "string" && f.def != "":
		line += fmt.Sprintf(" (default: %q)", f.def)
	case f.kind == "int" || f.kind == "duration" && f.def != "":
		line += fmt.Sprintf(" (default: %s)", f.def)
	}
	return line
}

// v2Command is a command, or (with subcommands) a group of them.
type v2Command struct {
	name, usage, argsUsage, description string
	flags                               []v2Flag
	subcommands                         []*v2Command
	action                              func(c *v2Context) error
}

// v2Context is one command's parsed flags and arguments, with the global
// flags.
type v2Context struct {
	e    *env
	g    *v2Globals
	set  *flag.FlagSet
	args []string
}

func (c *v2Context) Bool(name string) bool {
	f := c.set.Lookup(name)
	return f != nil && f.Value.String() == "true"
}

func (c *v2Context) String(name string) string {
	if f := c.set.Lookup(name); f != nil {
		return f.Value.String()
	}
	return ""
}

func (c *v2Context) Int(name string) int {
	if f := c.set.Lookup(name); f != nil {
		if g, ok := f.Value.(flag.Getter); ok {
			if v, ok := g.Get().(int); ok {
				return v
			}
		}
	}
	return 0
}

func (c *v2Context) Strings(name string) []string {
	if f := c.set.Lookup(name); f != nil {
		if v, ok := f.Value.(*v2StringSlice); ok {
			return *v
		}
	}
	return nil
}

// v2StringSlice is urfave's StringSliceFlag: each use appends one value.
type v2StringSlice []string

func (s *v2StringSlice) String() string     { return strings.Join(*s, ",") }
func (s *v2StringSlice) Set(v string) error { *s = append(*s, v); return nil }

// newFlagSet makes a Go flag set of flags, every alias its own flag.
func newV2FlagSet(name string, flags []v2Flag) *flag.FlagSet {
	set := flag.NewFlagSet(name, flag.ContinueOnError)
	set.SetOutput(io.Discard)
	for _, f := range flags {
		for _, n := range f.nameList() {
			switch f.kind {
			case "bool":
				set.Bool(n, f.def == "true", f.usage)
			case "int":
				var v int
				fmt.Sscan(f.def, &v)
				set.Int(n, v, f.usage)
			case "duration":
				d, _ := time.ParseDuration(f.def)
				set.Duration(n, d, f.usage)
			case "strings":
				set.Var(new(v2StringSlice), n, f.usage)
			default:
				set.String(n, f.def, f.usage)
			}
		}
	}
	return set
}

// normalizeV2Flags copies a flag given under one alias to the others, and
// refuses two aliases of one flag given together, as urfave does.
func normalizeV2Flags(flags []v2Flag, set *flag.FlagSet) error {
	visited := map[string]bool{}
	set.Visit(func(f *flag.Flag) { visited[f.Name] = true })
	for _, f := range flags {
		names := f.nameList()
		if len(names) == 1 {
			continue
		}
		given := ""
		for _, n := range names {
			if visited[n] {
				if given != "" {
					return fmt.Errorf("Cannot use two forms of the same flag: %s %s", n, given)
				}
				given = n
			}
		}
		if given == "" {
			continue
		}
		v := set.Lookup(given).Value.String()
		for _, n := range names {
			if n != given && f.kind != "strings" {
				set.Set(n, v)
			} else if n != given {
				// A slice would be appended to twice: share the value.
				set.Lookup(n).Value = set.Lookup(given).Value
			}
		}
	}
	return nil
}

// reorderV2Args moves the command's flags (and the value that may follow
// each) before its other arguments, as the urfave/cli v1 that Debian's
// etcdctl is built with does: a "--" that is not a flag's value ends the
// flags and goes first, so that the flag package drops it.
func reorderV2Args(flags []v2Flag, args []string) []string {
	var flagArgs, rest []string
	maybeValue := false
	for i, arg := range args {
		switch {
		case maybeValue && !isV2Flag(flags, arg):
			maybeValue = false
			flagArgs = append(flagArgs, arg)
		case arg == "--":
			rest = append(append([]string{"--"}, rest...), args[i+1:]...)
			return append(flagArgs, rest...)
		case isV2Flag(flags, arg):
			flagArgs = append(flagArgs, arg)
			maybeValue = !strings.Contains(arg, "=")
		default:
			rest = append(rest, arg)
		}
	}
	return append(flagArgs, rest...)
}

func isV2Flag(flags []v2Flag, arg string) bool {
	if arg == "-" || arg == "--" || !strings.HasPrefix(arg, "-") {
		return false
	}
	name := strings.TrimPrefix(strings.TrimPrefix(arg, "-"), "-")
	name, _, _ = strings.Cut(name, "=")
	for _, f := range flags {
		for _, n := range f.nameList() {
			if n == name {
				return true
			}
		}
	}
	return false
}

var v2HelpFlag = v2Flag{names: "help, h", usage: "show help", kind: "bool"}

// v2UsageError is a flag error urfave has already reported with the
// help; the process prints it again to stderr and exits 1.
type v2UsageError struct{ err error }

func (e *v2UsageError) Error() string { return e.err.Error() }

// v2ExitCoder is urfave's ExitError: message to stderr, then the code.
type v2ExitCoder struct {
	msg  string
	code int
}

func (e *v2ExitCoder) Error() string { return e.msg }

// run runs the command (a leaf or a group) with args after its name.
func (cmd *v2Command) run(e *env, g *v2Globals, parent string, args []string) error {
	helpName := parent + " " + cmd.name
	if len(cmd.subcommands) > 0 {
		set := newV2FlagSet(cmd.name, []v2Flag{v2HelpFlag})
		if err := set.Parse(args); err != nil {
			fmt.Fprintf(e.stdout, "Incorrect Usage. %s\n\n", err)
			cmd.printGroupHelp(e.stdout, helpName)
			return &v2UsageError{err}
		}
		if set.Lookup("help").Value.String() == "true" || set.Lookup("h").Value.String() == "true" {
			cmd.printGroupHelp(e.stdout, helpName)
			return nil
		}
		rest := set.Args()
		if len(rest) == 0 {
			cmd.printGroupHelp(e.stdout, helpName)
			return nil
		}
		for _, sub := range cmd.subcommands {
			if sub.name == rest[0] {
				return sub.run(e, g, helpName, rest[1:])
			}
		}
		if rest[0] == "help" || rest[0] == "h" {
			return cmd.helpTopic(e, helpName, rest[1:])
		}
		return &v2ExitCoder{msg: fmt.Sprintf("No help topic for '%s'", rest[0]), code: 3}
	}
	flags := append(append([]v2Flag(nil), cmd.flags...), v2HelpFlag)
	set := newV2FlagSet(cmd.name, flags)
	err := set.Parse(reorderV2Args(flags, args))
	if err == nil {
		err = normalizeV2Flags(flags, set)
	}
	if err != nil {
		fmt.Fprintln(e.stdout, "Incorrect Usage:", err)
		fmt.Fprintln(e.stdout)
		cmd.printHelp(e.stdout, helpName)
		return &v2UsageError{err}
	}
	if set.Lookup("help").Value.String() == "true" {
		cmd.printHelp(e.stdout, helpName)
		return nil
	}
	return cmd.action(&v2Context{e: e, g: g, set: set, args: set.Args()})
}

func (cmd *v2Command) helpTopic(e *env, helpName string, args []string) error {
	if len(args) == 0 {
		cmd.printGroupHelp(e.stdout, helpName)
		return nil
	}
	for _, sub := range cmd.subcommands {
		if sub.name == args[0] {
			sub.printHelp(e.stdout, helpName+" "+sub.name)
			return nil
		}
	}
	return &v2ExitCoder{msg: fmt.Sprintf("No help topic for '%s'", args[0]), code: 3}
}

// printHelp is urfave's command help template.
func (cmd *v2Command) printHelp(w io.Writer, helpName string) {
	tw := tabwriter.NewWriter(w, 1, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "NAME:\n   %s - %s\n\nUSAGE:\n   %s", helpName, cmd.usage, helpName)
	if len(cmd.flags) > 0 {
		fmt.Fprint(tw, " [command options]")
	}
	args := cmd.argsUsage
	if args == "" {
		args = "[arguments...]"
	}
	fmt.Fprintf(tw, " %s", args)
	if cmd.description != "" {
		fmt.Fprintf(tw, "\n\nDESCRIPTION:\n   %s", cmd.description)
	}
	if len(cmd.flags) > 0 {
		fmt.Fprint(tw, "\n\nOPTIONS:\n   ")
		for _, f := range cmd.flags {
			fmt.Fprintf(tw, "%s\n   ", f.helpLine())
		}
	}
	fmt.Fprintln(tw)
	tw.Flush()
}

// printGroupHelp is urfave's subcommand help template.
func (cmd *v2Command) printGroupHelp(w io.Writer, helpName string) {
	tw := tabwriter.NewWriter(w, 1, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "NAME:\n   %s - %s\n\nUSAGE:\n   %s command [command options] [arguments...]\n\nCOMMANDS:", helpName, cmd.usage, helpName)
	for _, sub := range cmd.subcommands {
		fmt.Fprintf(tw, "\n   %s\t%s", sub.name, sub.usage)
	}
	fmt.Fprintf(tw, "\n\nOPTIONS:\n   %s\n   \n", v2HelpFlag.helpLine())
	tw.Flush()
}
