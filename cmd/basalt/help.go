package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/basaltkv/basalt/server"
)

const usageText = `Usage:

  basalt [flags]
    Start a member.

  basalt --version
    Print the version.

  basalt -h | --help
    Print this help and every flag.

  basalt --config-file PATH
    Read the configuration from a YAML file with etcd's keys. Flags and
    ETCD_* environment variables are then ignored. Durations in the file
    are integer nanoseconds.

Every flag --foo-bar can also be set with the environment variable
ETCD_FOO_BAR; a flag given on the command line must not also be set in the
environment.
`

// helpText lists every flag by section, with its default.
func helpText(c *cmdline) string {
	var b strings.Builder
	for _, s := range c.sections {
		fmt.Fprintf(&b, "\n%s:\n", s.title)
		for _, name := range s.names {
			f := c.fs.Lookup(name)
			def := f.DefValue
			switch name {
			case "data-dir":
				def = "${name}.etcd"
			case "max-concurrent-streams":
				def = "math.MaxUint32"
			}
			if _, isBool := f.Value.(interface{ IsBoolFlag() bool }); isBool && name == "version" {
				fmt.Fprintf(&b, "  --%s\n    %s\n", name, f.Usage)
				continue
			}
			fmt.Fprintf(&b, "  --%s '%s'\n    %s\n", name, def, f.Usage)
		}
	}
	return b.String()
}

// gitSHA is the commit the binary was built from, when the build
// recorded it.
func gitSHA() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 7 {
				return s.Value[:7]
			}
		}
	}
	return "Not provided"
}

// versionText is etcd's --version output, then basalt's own version.
func versionText() string {
	return fmt.Sprintf("etcd Version: %s\nGit SHA: %s\nGo Version: %s\nGo OS/Arch: %s/%s\nbasalt Version: %s\n",
		server.EtcdVersion, gitSHA(), runtime.Version(), runtime.GOOS, runtime.GOARCH, server.Version)
}
