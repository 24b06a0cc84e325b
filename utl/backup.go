package utl

import (
	"errors"
	"runtime"
	"time"

	"github.com/basaltkv/basalt/ctl"
	"github.com/basaltkv/basalt/server/datadir"
	"github.com/spf13/cobra"
	"go.uber.org/zap/zapcore"
)

// newBackupCommand is etcdutl 3.5's backup (etcd 3.6 removed it): a copy
// of a stopped member's data dir that starts, with --force-new-cluster,
// as a new one-member cluster holding the same data.
func (e *env) newBackupCommand() *cobra.Command {
	var cfg datadir.BackupConfig
	cmd := &cobra.Command{
		Use:   "backup",
		Short: "[legacy] offline backup of etcd directory",
		Long:  "Prefer: `etcdctl snapshot save` instead.",
		Args:  cobra.ArbitraryArgs, // etcdutl ignores arguments
		RunE: run(func(*cobra.Command, []string) error {
			cfg.LockTimeout = e.lockTimeout
			cfg.Logger = e.logger()
			if _, err := datadir.Backup(cfg); err != nil {
				return e.logFatal(err)
			}
			return nil
		}),
	}
	cmd.Flags().StringVar(&cfg.DataDir, "data-dir", "", "Path to the etcd data dir")
	cmd.Flags().StringVar(&cfg.WALDir, "wal-dir", "", "Path to the etcd wal dir")
	cmd.Flags().StringVar(&cfg.BackupDir, "backup-dir", "", "Path to the backup dir")
	cmd.Flags().StringVar(&cfg.BackupWALDir, "backup-wal-dir", "", "Path to the backup wal dir")
	cmd.Flags().BoolVar(&cfg.WithV3, "with-v3", true, "Backup v3 backend data")
	cmd.MarkFlagRequired("data-dir")
	cmd.MarkFlagRequired("backup-dir")
	return cmd
}

// loggedError ends a command whose failure was already logged: etcdutl's
// backup logs it at fatal level and exits, without an "Error:" line.
type loggedError struct {
	code int
	err  error
}

func (e *loggedError) Error() string { return e.err.Error() }
func (e *loggedError) Unwrap() error { return e.err }

// logFatal writes err as the fatal log line etcdutl's backup writes for
// the step that failed (zap's Fatal would exit the process; Main returns
// the status instead). etcd's line is followed by a stack trace of its
// own functions, which basalt does not imitate.
func (e *env) logFatal(err error) error {
	var be *datadir.BackupError
	if !errors.As(err, &be) {
		return fail(ctl.ExitError, err)
	}
	ent := zapcore.Entry{Level: zapcore.FatalLevel, Time: time.Now(), Message: be.Msg, Caller: zapcore.NewEntryCaller(runtime.Caller(1))}
	if werr := e.logger().Core().Write(ent, be.Fields); werr != nil {
		return fail(ctl.ExitError, err)
	}
	return &loggedError{code: ctl.ExitError, err: err}
}
