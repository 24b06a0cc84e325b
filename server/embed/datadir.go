package embed

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.uber.org/zap"
)

// CheckDataDir inspects the data dir as etcd does at start: it reports
// whether a member was initialized there (a WAL exists), and warns about
// files that do not belong.
func (cfg *Config) CheckDataDir(lg *zap.Logger) (initialized bool, err error) {
	entries, err := os.ReadDir(cfg.Dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return false, nil
		}
		return false, fmt.Errorf("failed to list data directory %s: %w", cfg.Dir, err)
	}
	for _, e := range entries {
		switch e.Name() {
		case "member", "fixtures", "proxy":
		default:
			lg.Warn("found invalid file under data directory", zap.String("filename", e.Name()), zap.String("data-dir", cfg.Dir))
		}
	}
	return cfg.walExists(), nil
}

func (cfg *Config) walExists() bool {
	dir := cfg.WalDir
	if dir == "" {
		dir = filepath.Join(cfg.MemberDir(), "wal")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".wal") {
			return true
		}
	}
	return false
}

// What a data dir holds, as etcd 3.4 tells it by its subdirectories.
const (
	DirEmpty  = "empty"
	DirMember = "member"
	DirProxy  = "proxy"
)

// DataDirKind says whether the data dir holds a member, a v2 proxy or
// neither; both is an error, as in etcd.
func (cfg *Config) DataDirKind() (string, error) {
	entries, err := os.ReadDir(cfg.Dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return DirEmpty, nil
		}
		return "", fmt.Errorf("failed to list data directory %s: %w", cfg.Dir, err)
	}
	var member, proxy bool
	for _, e := range entries {
		switch e.Name() {
		case DirMember:
			member = true
		case DirProxy:
			proxy = true
		}
	}
	switch {
	case member && proxy:
		return "", errors.New("invalid datadir; both member and proxy directories exist")
	case member:
		return DirMember, nil
	case proxy:
		return DirProxy, nil
	}
	return DirEmpty, nil
}

// RemoveUnbootstrappedMember removes the member directory a bootstrap
// left before it failed, when it holds no WAL: a member that discovery
// found the cluster full for and that becomes a proxy instead. etcd 3.4
// leaves it, and then refuses to restart on a data dir with both.
func (cfg *Config) RemoveUnbootstrappedMember() error {
	if cfg.walExists() {
		return nil
	}
	if err := os.RemoveAll(cfg.MemberDir()); err != nil {
		return fmt.Errorf("remove unbootstrapped member directory: %w", err)
	}
	return nil
}
