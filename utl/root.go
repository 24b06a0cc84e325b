package utl

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/basaltkv/basalt/ctl"
	"github.com/spf13/cobra"
	"go.etcd.io/etcd/client/pkg/v3/logutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

const cliDescription = "An administrative command line tool for etcd3."

// env is one run of the command line: its streams and global flags.
type env struct {
	name           string
	stdout, stderr io.Writer
	// lockTimeout is --timeout: how long to wait for the database file's
	// lock (0: wait as long as it takes).
	lockTimeout time.Duration
	writeOut    string
}

// Main runs args (without the program name) as basaltutl, naming itself
// progName, and returns the process's exit status.
func Main(progName string, args []string, stdout, stderr io.Writer) int {
	cobra.EnablePrefixMatching = true
	e := &env{name: filepath.Base(progName), stdout: stdout, stderr: stderr}
	root := e.newRoot()
	root.SetArgs(args)
	// Help goes to the process's stdout and usage after an error to its
	// stderr, as in etcdutl: only errors are redirected here.
	root.SetErr(stderr)
	return e.report(root.Execute())
}

func (e *env) newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:        e.name,
		Short:      cliDescription,
		SuggestFor: []string{"etcdutl"},
	}
	root.PersistentFlags().DurationVar(&e.lockTimeout, "timeout", 10*time.Second, "time to wait to obtain a file lock on db file, 0 to block indefinitely")
	root.PersistentFlags().StringVarP(&e.writeOut, "write-out", "w", "simple", "set the output format (fields, json, protobuf, simple, table)")
	root.RegisterFlagCompletionFunc("write-out", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"fields", "json", "protobuf", "simple", "table"}, cobra.ShellCompDirectiveDefault
	})
	root.AddCommand(
		e.newBackupCommand(),
		e.newDefragCommand(),
		e.newSnapshotCommand(),
		e.newHashKVCommand(),
		e.newVersionCommand(),
		e.newCompletionCommand(),
		e.newMigrateCommand(),
	)
	// As etcdutl: help is the usage alone.
	root.SetHelpTemplate(`{{.UsageString}}`)
	return root
}

// exitError ends a command with an exit status and "Error: err".
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func fail(code int, err error) error { return &exitError{code: code, err: err} }

// report prints err as etcdutl does and returns the exit status. An error
// of cobra's own (a bad flag or argument count) was already printed with
// the usage by cobra; etcdutl prints it a second time and exits 1.
func (e *env) report(err error) int {
	if err == nil {
		return ctl.ExitSuccess
	}
	var le *loggedError
	if errors.As(err, &le) {
		return le.code
	}
	var ee *exitError
	if errors.As(err, &ee) {
		fmt.Fprintln(e.stderr, "Error:", ee.err)
		return ee.code
	}
	fmt.Fprintln(e.stderr, "Error:", err)
	return ctl.ExitError
}

// run adapts a command body to cobra: the body's error is reported by
// Main alone, without cobra's error line and usage.
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

// logger writes etcdutl's log lines: zap's console encoding with RFC 3339
// times, on stderr.
func (e *env) logger() *zap.Logger {
	cfg := logutil.DefaultZapLoggerConfig
	ec := cfg.EncoderConfig
	ec.EncodeTime = zapcore.RFC3339TimeEncoder
	core := zapcore.NewCore(zapcore.NewConsoleEncoder(ec), zapcore.AddSync(e.stderr), cfg.Level)
	return zap.New(core, zap.AddCaller())
}
