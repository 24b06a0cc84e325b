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
		case "member", "fixtures":
		case "proxy":
			return false, fmt.Errorf("data directory %s holds a v2 proxy, which etcd 3.6 removed", cfg.Dir)
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
