package flags

import (
	"flag"
	"fmt"
	"slices"
	"strings"
)

// ToEnv is the environment variable of a flag: prefix, "_", and the
// name upper-cased with dashes as underscores (--data-dir → ETCD_DATA_DIR).
func ToEnv(prefix, name string) string {
	return prefix + "_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// EnvReport says what SetFromEnv did, for the caller to log.
type EnvReport struct {
	// Used are the variables that set a flag ("KEY=value").
	Used []string
	// Unrecognized are PREFIX_ variables that match no flag.
	Unrecognized []string
	// Shadowed are variables of flags also given on the command line;
	// etcd refuses to start on them.
	Shadowed []string
}

// SetFromEnv sets every flag not given on the command line from its
// environment variable, when that is non-empty. environ is os.Environ().
// skip lists variables that are handled elsewhere: they set nothing and
// are not reported as unrecognized.
func SetFromEnv(fs *flag.FlagSet, prefix string, environ []string, skip ...string) (EnvReport, error) {
	var rep EnvReport
	env := map[string]string{}
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	onCmdLine := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { onCmdLine[ToEnv(prefix, f.Name)] = true })
	known := map[string]bool{}
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		key := ToEnv(prefix, f.Name)
		known[key] = true
		if onCmdLine[key] || err != nil || slices.Contains(skip, key) {
			return
		}
		val := env[key]
		if val == "" {
			return
		}
		if serr := fs.Set(f.Name, val); serr != nil {
			err = fmt.Errorf("invalid value %q for %s: %w", val, key, serr)
			return
		}
		rep.Used = append(rep.Used, key+"="+val)
	})
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case slices.Contains(skip, k):
		case onCmdLine[k]:
			rep.Shadowed = append(rep.Shadowed, k)
		case !known[k] && strings.HasPrefix(k, prefix+"_"):
			rep.Unrecognized = append(rep.Unrecognized, kv)
		}
	}
	return rep, err
}
