package ctl

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

const cliDescription = "A simple command line client for etcd3."

// Command groups, as etcdctl's help lists them.
const (
	groupKV          = "kv"
	groupCluster     = "cluster maintenance"
	groupConcurrency = "concurrency"
	groupAuth        = "authentication"
	groupUtility     = "utility"
)

// env is what one run of the command line shares: its streams, the global
// flags and the printer they select.
type env struct {
	name           string
	stdin          io.Reader
	stdout, stderr io.Writer
	environ        func() []string
	g              globalFlags
	display        printer
	osArgs         []string
}

// Main runs the command line args (without the program name) as basaltctl,
// naming itself progName in help and messages, and returns the process's
// exit status.
func Main(progName string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cobra.EnablePrefixMatching = true
	e := &env{
		name:    filepath.Base(progName),
		stdin:   stdin,
		stdout:  stdout,
		stderr:  stderr,
		environ: os.Environ,
		osArgs:  args,
	}
	// As etcdctl 3.4: ETCDCTL_API=2 selects the v2 command line, anything
	// else this one.
	if os.Getenv("ETCDCTL_API") == "2" {
		return e.mainV2(args)
	}
	root := e.newRoot()
	root.SetArgs(args)
	// Cobra's usage after a bad flag goes to the process's stderr and help
	// to its stdout, as in etcdctl: only errors are redirected here.
	root.SetIn(stdin)
	root.SetErr(stderr)
	return report(stderr, root.Execute())
}

func (e *env) newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:        e.name,
		Short:      cliDescription,
		SuggestFor: []string{"etcdctl"},
	}
	e.g.register(root.PersistentFlags())
	root.RegisterFlagCompletionFunc("write-out", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"fields", "json", "protobuf", "simple", "table"}, cobra.ShellCompDirectiveDefault
	})
	root.AddGroup(
		&cobra.Group{ID: groupKV, Title: "Key-value commands"},
		&cobra.Group{ID: groupCluster, Title: "Cluster maintenance commands"},
		&cobra.Group{ID: groupConcurrency, Title: "Concurrency commands"},
		&cobra.Group{ID: groupAuth, Title: "Authentication commands"},
		&cobra.Group{ID: groupUtility, Title: "Utility commands"},
	)
	root.AddCommand(
		e.newGetCommand(),
		e.newPutCommand(),
		e.newDelCommand(),
		e.newTxnCommand(),
		e.newCompactionCommand(),
		e.newAlarmCommand(),
		e.newDefragCommand(),
		e.newEndpointCommand(),
		e.newMoveLeaderCommand(),
		e.newDowngradeCommand(),
		e.newWatchCommand(),
		e.newVersionCommand(),
		e.newLeaseCommand(),
		e.newMemberCommand(),
		e.newSnapshotCommand(),
		e.newLockCommand(),
		e.newElectCommand(),
		e.newMakeMirrorCommand(),
		e.newUserCommand(),
		e.newRoleCommand(),
		e.newAuthCommand(),
		e.newCheckCommand(),
		e.newMigrateCommand(),
		e.newCompletionCommand(),
		e.newOptionsCommand(root),
	)
	root.SetHelpCommandGroupID(groupUtility)

	// Global flags are listed by "options", not in every command's help.
	root.PersistentFlags().VisitAll(func(f *pflag.Flag) { f.Hidden = true })
	if root.Flags().Lookup("help") == nil {
		root.Flags().BoolP("help", "h", false, "help for "+root.Name())
	}
	root.Flags().MarkHidden("help")
	defaultHelp := root.HelpFunc()
	root.SetHelpFunc(func(cmd *cobra.Command, args []string) {
		defaultHelp(cmd, args)
		fmt.Fprintf(cmd.OutOrStdout(), "Use \"%s options\" for a list of global command-line options (applies to all commands).\n", e.name)
	})
	return root
}

// run adapts a command body to cobra: an exitError silences cobra's own
// error and usage printing, since Main reports it.
func run(f func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		err := f(cmd, args)
		if err != nil {
			cmd.SilenceErrors = true
			cmd.SilenceUsage = true
			cmd.Root().SilenceErrors = true
			cmd.Root().SilenceUsage = true
		}
		return err
	}
}

func (e *env) newOptionsCommand(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:     "options",
		Short:   "Show the global command-line flags",
		GroupID: groupUtility,
		Run: func(cmd *cobra.Command, args []string) {
			fs := pflag.NewFlagSet("global", pflag.ContinueOnError)
			root.PersistentFlags().VisitAll(func(f *pflag.Flag) {
				shown := *f
				shown.Hidden = false
				fs.AddFlag(&shown)
			})
			fmt.Fprintf(e.stdout, "The following options can be passed to any command:\n\n")
			fmt.Fprint(e.stdout, fs.FlagUsages())
		},
	}
}
