package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/basaltkv/basalt/pkg/flags"
	"github.com/basaltkv/basalt/server/datadir"
	"github.com/basaltkv/basalt/server/embed"
	"go.uber.org/zap"
)

// parseExit asks the caller to exit with code without starting: --help,
// --version, or a flag the flag package could not parse.
type parseExit struct{ code int }

func (e parseExit) Error() string { return fmt.Sprintf("exit %d", e.code) }

const envPrefix = "ETCD"

// unsupportedArchEnv lets basalt run on an architecture etcd does not
// support, when it names that architecture (etcd's variable).
const unsupportedArchEnv = "ETCD_UNSUPPORTED_ARCH"

// parseConfig builds the configuration from the command line, the ETCD_*
// environment variables and the config file, as etcd does. It writes
// --help and --version to stdout and flag syntax errors to stderr, logs
// warnings to lg, and does not validate beyond what etcd checks while
// parsing (call Validate).
func parseConfig(args, environ []string, stdout, stderr io.Writer, lg *zap.Logger) (*embed.Config, error) {
	cfg := embed.NewConfig()
	c := newCmdline(cfg, stderr)
	if err := c.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, helpText(c))
			return nil, parseExit{0}
		}
		// The flag package has printed the error and the usage.
		return nil, parseExit{2}
	}
	if c.fs.NArg() != 0 {
		return nil, fmt.Errorf("%q is not a valid flag", c.fs.Arg(0))
	}
	if c.printVersion {
		fmt.Fprint(stdout, versionText())
		return nil, parseExit{0}
	}
	if c.configFile == "" {
		c.configFile = lookupEnv(environ, flags.ToEnv(envPrefix, "config-file"))
	}
	if c.configFile != "" {
		fileCfg, res, err := embed.ConfigFromFile(c.configFile)
		if err != nil {
			return nil, err
		}
		lg.Info("loaded server configuration, other configuration command line flags and environment variables will be ignored if provided",
			zap.String("path", c.configFile))
		for _, k := range res.UnknownKeys {
			lg.Warn("unrecognized configuration file key; ignoring", zap.String("key", k), zap.String("path", c.configFile))
		}
		warnDeprecated(lg, fileCfg.ExplicitlySet)
		return fileCfg, nil
	}
	if err := c.applyEnv(environ, lg); err != nil {
		return nil, err
	}
	return cfg, c.finish(lg)
}

// applyEnv sets flags not on the command line from ETCD_* variables.
func (c *cmdline) applyEnv(environ []string, lg *zap.Logger) error {
	const versionKey = "ETCD_VERSION"
	if v := lookupEnv(environ, versionKey); v != "" {
		lg.Warn("cannot set special environment variable", zap.String("key", versionKey), zap.String("value", v))
	}
	// ETCD_VERIFY and ETCD_UNSUPPORTED_ARCH are read where they act, not
	// as flags.
	rep, err := flags.SetFromEnv(c.fs, envPrefix, environ, versionKey, flags.ToEnv(envPrefix, "config-file"),
		datadir.VerifyEnv, unsupportedArchEnv)
	for _, kv := range rep.Used {
		k, v, _ := strings.Cut(kv, "=")
		lg.Info("recognized and used environment variable", zap.String("variable-name", k), zap.String("variable-value", v))
	}
	for _, kv := range rep.Unrecognized {
		lg.Warn("unrecognized environment variable", zap.String("environment-variable", kv))
	}
	if err != nil {
		return err
	}
	if len(rep.Shadowed) > 0 {
		return fmt.Errorf("conflicting environment variable is shadowed by corresponding command-line flag (either unset environment variable or disable flag): %s", strings.Join(rep.Shadowed, ", "))
	}
	return nil
}

// finish applies what etcd derives from which flags were given.
func (c *cmdline) finish(lg *zap.Logger) error {
	cfg := c.cfg
	c.fs.Visit(func(f *flag.Flag) { cfg.ExplicitlySet[f.Name] = true })
	for _, name := range c.ignoredSet {
		lg.Warn("flag is no longer supported - ignoring", zap.String("flag-name", name))
	}
	warnDeprecated(lg, cfg.ExplicitlySet)
	// Listening on explicit client URLs needs explicit advertised ones,
	// except in a process that may be a proxy (etcd 3.4).
	if flags.IsSet(c.fs, "listen-client-urls") && !flags.IsSet(c.fs, "advertise-client-urls") && !cfg.MayBeProxy() {
		cfg.AdvertiseClientUrls = nil
	}
	// Without --initial-cluster a member bootstraps alone, under its name
	// and with its advertised peer URLs, unless discovery finds its
	// cluster.
	if !flags.IsSet(c.fs, "initial-cluster") {
		cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
		if cfg.UsesDiscovery() {
			cfg.InitialCluster = ""
		}
	}
	return nil
}

func warnDeprecated(lg *zap.Logger, set map[string]bool) {
	names := make([]string, 0, len(deprecatedFlags))
	for n := range deprecatedFlags {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if set[n] {
			lg.Warn(deprecatedFlags[n])
		}
	}
}

func lookupEnv(environ []string, key string) string {
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}
