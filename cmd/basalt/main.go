// Command basalt runs a basalt member: etcd's server, with etcd's flags,
// ETCD_* environment variables, config file, defaults and log lines.
//
// This package only parses the command line and wires the parts
// together; the configuration's meaning lives in server/embed, TLS in
// pkg/tlsutil, the member in server and the client API in api/.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"

	"github.com/basaltkv/basalt/pkg/failpoint"
	"github.com/basaltkv/basalt/pkg/gctune"
	"github.com/basaltkv/basalt/server/datadir"
	"github.com/basaltkv/basalt/server/discovery"
	"github.com/basaltkv/basalt/server/embed"
	"github.com/basaltkv/basalt/server/v2discovery"
	"go.uber.org/zap"
)

// gcHeadroom is how much the heap may grow between collections at least;
// see pkg/gctune. A member's live heap is about 30 MiB with 100,000 keys
// and 210 MiB with 1,000,000: the headroom cuts the collector's share of
// a small member's CPU by half and leaves a large member's memory alone.
const gcHeadroom = 64 << 20

func main() {
	// GOGC set by the user wins, as with any Go program.
	if _, set := os.LookupEnv("GOGC"); !set {
		gctune.Start(gcHeadroom)
	}
	os.Exit(run(os.Args, os.Environ(), os.Stdout, os.Stderr))
}

// run is the whole life of the process; it returns the exit status: 0
// after --help, --version or a clean stop on SIGTERM/SIGINT; 2 for a
// command line the flag parser refuses (as etcd); 1 for anything else
// that stops the member from starting or running.
func run(args, environ []string, stdout, stderr io.Writer) int {
	// Until the configuration says otherwise, log as etcd does by
	// default: JSON, info, to stderr.
	lg := embed.DefaultLogger()
	defer func() { _ = lg.Sync() }()
	if !supportedArch(runtime.GOARCH, environ, lg) {
		return 1
	}

	cfg, err := parseConfig(args[1:], environ, stdout, stderr, lg)
	var exit parseExit
	if errors.As(err, &exit) {
		return exit.code
	}
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		lg.Info("Running: ", zap.Strings("args", args))
		lg.Warn("failed to verify flags", zap.Error(err))
		if errors.Is(err, embed.ErrUnsetAdvertiseClientURLsFlag) {
			lg.Warn("advertise client URLs are not set", zap.Error(err))
		}
		return 1
	}
	if lg, err = cfg.NewLogger(); err != nil {
		fmt.Fprintf(stderr, "basalt: %v\n", err)
		return 1
	}
	defer func() { _ = lg.Sync() }()
	lg.Info("Running: ", zap.Strings("args", args))
	if cfg.Name == embed.DefaultName {
		lg.Warn("it isn't recommended to use default name, please set a value for --name. "+
			"Note that etcd might run into issue when multiple members have the same default name", zap.String("name", cfg.Name))
	}
	if cfg.ApplyDataDirDefault() {
		lg.Warn("'data-dir' was empty; using default", zap.String("data-dir", cfg.Dir))
	}
	if err := failpoint.CheckEnv(); err != nil {
		lg.Error("failed to arm failpoints", zap.Error(err))
		return 1
	}
	if failpoint.Enabled() {
		lg.Warn("failpoints are enabled (a test hook): this member can be made to crash",
			zap.String(failpoint.EnvPoints, os.Getenv(failpoint.EnvPoints)), zap.Bool("http", failpoint.HTTPEnabled()))
	}

	// etcd 3.4's choice between a member and a v2 proxy: a data dir that
	// holds one stays one; an empty one follows --proxy.
	kind, err := cfg.DataDirKind()
	if err != nil {
		lg.Error("failed to identify data directory", zap.String("data-dir", cfg.Dir), zap.Error(err))
		return 1
	}
	if kind == embed.DirProxy || (kind == embed.DirEmpty && cfg.IsProxy()) {
		if kind == embed.DirProxy {
			lg.Info("server has already been initialized", zap.String("data-dir", cfg.Dir), zap.String("dir-type", kind))
		}
		return runProxy(cfg, lg)
	}

	n, err := start(cfg, lg)
	if errors.Is(err, v2discovery.ErrFullCluster) && cfg.ShouldFallbackToProxy() {
		lg.Warn("discovery cluster is full, falling back to proxy", zap.String("fallback-proxy", embed.FallbackProxy), zap.Error(err))
		if err := cfg.RemoveUnbootstrappedMember(); err != nil {
			lg.Error("failed to fall back to proxy", zap.Error(err))
			return 1
		}
		return runProxy(cfg, lg)
	}
	var derr *discovery.Error
	if errors.As(err, &derr) {
		if cfg.Durl != "" {
			warnV2Discovery(lg, cfg, err)
			return 1
		}
		lg.Warn("failed to bootstrap; discovery token was already used", zap.String("discovery-token", cfg.DiscoveryCfg.Token),
			zap.Strings("discovery-endpoints", cfg.DiscoveryCfg.Endpoints), zap.Error(err))
		lg.Warn("do not reuse discovery token; generate a new one to bootstrap a cluster")
		return 1
	}
	if err != nil {
		if !cfg.UsesDiscovery() && (strings.Contains(err.Error(), "--initial-cluster") || strings.Contains(err.Error(), "initial cluster")) {
			lg.Warn("failed to start", zap.Error(err))
			if !cfg.ExplicitlySet["initial-cluster"] {
				lg.Warn("forgot to set --initial-cluster?")
			}
			if !cfg.ExplicitlySet["initial-advertise-peer-urls"] {
				lg.Warn("forgot to set --initial-advertise-peer-urls?")
			}
		} else {
			lg.Error("failed to start member", zap.Error(err))
		}
		return 1
	}

	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigc)
	code := 0
	select {
	case sig := <-sigc:
		lg.Info("received signal; shutting down", zap.String("signal", sig.String()))
		n.close()
		if n.member.Failed() {
			code = 1
		}
	case <-n.member.Done():
		n.close()
		if n.member.Failed() {
			lg.Error("member stopped on an error")
			code = 1
		}
	case err := <-n.errc:
		lg.Error("listener failed", zap.Error(err))
		n.close()
		code = 1
	}
	// ETCD_VERIFY: the persisted state of the stopped member is checked,
	// as etcd does when it closes.
	if datadir.VerifyStorageEnabled() {
		if err := datadir.Verify(lg, datadir.Layout{DataDir: cfg.Dir, WALDir: cfg.WalDir}); err != nil {
			lg.Error("Verification failed", zap.String("data-dir", cfg.Dir), zap.Error(err))
			return 1
		}
	}
	return code
}

// runProxy runs a v2 proxy until a signal or a listener failure.
func runProxy(cfg *embed.Config, lg *zap.Logger) int {
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigc)
	p, err := startProxy(cfg, lg)
	if err != nil {
		lg.Error("discovery failed", zap.Error(err))
		return 1
	}
	return p.wait(sigc)
}

// warnV2Discovery logs a failed v2 discovery with etcd 3.4's advice.
func warnV2Discovery(lg *zap.Logger, cfg *embed.Config, err error) {
	switch {
	case errors.Is(err, v2discovery.ErrDuplicateID):
		lg.Warn("member has been registered with discovery service", zap.String("name", cfg.Name),
			zap.String("discovery-token", cfg.Durl), zap.Error(v2discovery.ErrDuplicateID))
		lg.Warn("but could not find valid cluster configuration", zap.String("data-dir", cfg.Dir))
		lg.Warn("check data dir if previous bootstrap succeeded")
		lg.Warn("or use a new discovery token if previous bootstrap failed")
	case errors.Is(err, v2discovery.ErrDuplicateName):
		lg.Warn("member with duplicated name has already been registered", zap.String("discovery-token", cfg.Durl),
			zap.Error(v2discovery.ErrDuplicateName))
		lg.Warn("cURL the discovery token URL for details")
		lg.Warn("do not reuse discovery token; generate a new one to bootstrap a cluster")
	default:
		lg.Warn("failed to bootstrap; discovery token was already used", zap.String("discovery-token", cfg.Durl), zap.Error(err))
		lg.Warn("do not reuse discovery token; generate a new one to bootstrap a cluster")
	}
}

// supportedArch says whether basalt may run on arch: etcd's supported
// architectures, or another one named by ETCD_UNSUPPORTED_ARCH, as etcd
// allows.
func supportedArch(arch string, environ []string, lg *zap.Logger) bool {
	switch arch {
	case "amd64", "arm64", "ppc64le", "s390x":
		return true
	}
	if lookupEnv(environ, unsupportedArchEnv) == arch {
		lg.Info("running etcd on unsupported architecture since ETCD_UNSUPPORTED_ARCH is set", zap.String("arch", arch))
		return true
	}
	lg.Error("Refusing to run etcd on unsupported architecture since ETCD_UNSUPPORTED_ARCH is not set", zap.String("arch", arch))
	return false
}
