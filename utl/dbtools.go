package utl

import (
	"fmt"
	"time"

	"github.com/basaltkv/basalt/ctl"
	"github.com/basaltkv/basalt/pkg/humanize"
	"github.com/basaltkv/basalt/server/datadir"
	"github.com/spf13/cobra"
	"go.uber.org/zap"
)

func (e *env) newDefragCommand() *cobra.Command {
	var dataDir string
	cmd := &cobra.Command{
		Use:   "defrag",
		Short: "Defragments the storage of the etcd",
		RunE: run(func(*cobra.Command, []string) error {
			if err := e.defrag(dataDir); err != nil {
				return fail(ctl.ExitError, fmt.Errorf("Failed to defragment etcd data[%s] (%w)", dataDir, err))
			}
			return nil
		}),
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "Required. The data directory, of a member that is not running, to defragment.")
	cmd.MarkFlagRequired("data-dir")
	cmd.MarkFlagDirname("data-dir")
	return cmd
}

func (e *env) defrag(dataDir string) error {
	path := datadir.BackendPathOf(dataDir)
	if err := checkFile(path); err != nil {
		return err
	}
	if err := waitFileLock(path, e.lockTimeout); err != nil {
		return err
	}
	lg := e.logger()
	start := time.Now()
	var before datadir.DefragSizes
	after, err := datadir.DefragDataDir(dataDir, func(s datadir.DefragSizes) {
		before = s
		lg.Info("defragmenting", zap.String("path", path),
			zap.Int64("current-db-size-bytes", s.Size), zap.String("current-db-size", humanize.Bytes(uint64(s.Size))),
			zap.Int64("current-db-size-in-use-bytes", s.InUse), zap.String("current-db-size-in-use", humanize.Bytes(uint64(s.InUse))))
	})
	if err != nil {
		return err
	}
	lg.Info("finished defragmenting directory", zap.String("path", path),
		zap.Int64("current-db-size-bytes-diff", after.Size-before.Size),
		zap.Int64("current-db-size-bytes", after.Size),
		zap.String("current-db-size", humanize.Bytes(uint64(after.Size))),
		zap.Int64("current-db-size-in-use-bytes-diff", after.InUse-before.InUse),
		zap.Int64("current-db-size-in-use-bytes", after.InUse),
		zap.String("current-db-size-in-use", humanize.Bytes(uint64(after.InUse))),
		zap.Duration("took", time.Since(start)))
	return nil
}

func (e *env) newHashKVCommand() *cobra.Command {
	var rev int64
	cmd := &cobra.Command{
		Use:   "hashkv <filename>",
		Short: "Prints the KV history hash of a given file",
		Args:  cobra.ExactArgs(1),
		RunE: run(func(_ *cobra.Command, args []string) error {
			p, err := e.printer()
			if err != nil {
				return err
			}
			h, err := e.hashKV(args[0], rev)
			if err != nil {
				return fail(ctl.ExitError, err)
			}
			return p.DBHashKV(h)
		}),
	}
	cmd.Flags().Int64Var(&rev, "rev", 0, "maximum revision to hash (default: latest revision)")
	return cmd
}

func (e *env) hashKV(path string, rev int64) (datadir.DBHashKV, error) {
	if err := checkFile(path); err != nil {
		return datadir.DBHashKV{}, err
	}
	if err := waitFileLock(path, e.lockTimeout); err != nil {
		return datadir.DBHashKV{}, err
	}
	return datadir.DBFileHashKV(path, rev)
}
