package ctl

import (
	"github.com/basaltkv/basalt/server/datadir"
	"github.com/spf13/cobra"
)

// newMigrateCommand is etcdctl 3.4's `migrate` (gone from etcdctl 3.5):
// the v2 keys of a stopped member's data dir written into its database as
// v3 keys (server/datadir.MigrateV2).
func (e *env) newMigrateCommand() *cobra.Command {
	var cfg datadir.V2MigrateConfig
	cmd := &cobra.Command{
		Use:     "migrate",
		Short:   "Migrates keys in a v2 store to a mvcc store",
		GroupID: groupUtility,
		RunE: run(func(*cobra.Command, []string) error {
			cfg.Out, cfg.Err = e.stdout, e.stderr
			if err := datadir.MigrateV2(cfg); err != nil {
				return fail(ExitError, err)
			}
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data-dir", "", "Path to the data directory")
	f.StringVar(&cfg.WALDir, "wal-dir", "", "Path to the WAL directory")
	f.BoolVar(&cfg.NoTTL, "no-ttl", false, "Do not convert TTL keys")
	f.StringVar(&cfg.Transformer, "transformer", "", "Path to the user-provided transformer program")
	return cmd
}
