package utl

import (
	"fmt"
	"strings"

	"github.com/basaltkv/basalt/ctl"
	"github.com/basaltkv/basalt/server/datadir"
	"github.com/coreos/go-semver/semver"
	"github.com/spf13/cobra"
	"go.etcd.io/etcd/api/v3/version"
)

// newMigrateCommand is etcdutl's migrate: the storage version of a
// stopped member's data dir (etcd's or basalt's) moved to another etcd
// minor version, for that etcd to start on it.
func (e *env) newMigrateCommand() *cobra.Command {
	var dataDir, target string
	var force bool
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Migrates schema of etcd data dir files to make them compatible with different etcd version",
		RunE: run(func(*cobra.Command, []string) error {
			v, err := parseTargetVersion(target)
			if err != nil {
				return fail(ctl.ExitBadArgs, err)
			}
			return e.migrate(datadir.MigrateConfig{DataDir: dataDir, Target: v, Force: force})
		}),
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "Path to the etcd data dir")
	cmd.MarkFlagRequired("data-dir")
	cmd.MarkFlagDirname("data-dir")
	cmd.Flags().StringVar(&target, "target-version", "", `Target etcd version to migrate contents of data dir. Minimal value 3.5. Format "X.Y" for example 3.6.`)
	cmd.MarkFlagRequired("target-version")
	cmd.Flags().BoolVar(&force, "force", false, "Ignore migration failure and forcefully override storage version. Not recommended.")
	return cmd
}

// parseTargetVersion checks --target-version as etcdutl does: "X.Y", at
// least 3.5.
func parseTargetVersion(s string) (semver.Version, error) {
	if strings.Count(s, ".") != 1 {
		return semver.Version{}, fmt.Errorf(`wrong target version format, expected "X.Y", got %q`, s)
	}
	v, err := semver.NewVersion(s + ".0")
	if err != nil {
		return semver.Version{}, fmt.Errorf("failed to parse target version: %w", err)
	}
	if v.LessThan(version.V3_5) {
		return semver.Version{}, fmt.Errorf(`target version %q not supported. Minimal "3.5"`, datadir.MajorMinor(*v))
	}
	return *v, nil
}

func (e *env) migrate(cfg datadir.MigrateConfig) error {
	path := datadir.BackendPathOf(cfg.DataDir)
	if err := checkFile(path); err != nil {
		return err
	}
	if err := waitFileLock(path, e.lockTimeout); err != nil {
		return fail(ctl.ExitError, err)
	}
	cfg.Logger = e.logger()
	if err := datadir.Migrate(cfg); err != nil {
		return fail(ctl.ExitError, err)
	}
	return nil
}
