package embed

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// NotBuilt is an etcd setting basalt does not implement yet. basalt
// accepts it only at the value that describes what basalt does (usually
// etcd's default), so that etcd's configurations that do not use the
// feature keep working, and refuses any other value rather than ignore
// it.
type NotBuilt struct {
	// Name is the flag name, which is also the config-file key.
	Name string
	// Honoured is the one value (as the flag prints it) basalt behaves
	// as; empty with Always set.
	Honoured string
	// Always refuses the setting whatever its value.
	Always bool
	// Why completes the message.
	Why string
}

// Error is the start-up error for the setting given as value.
func (n NotBuilt) Error() string {
	msg := fmt.Sprintf("basalt: --%s is not supported yet", n.Name)
	if n.Why != "" {
		msg += " (" + n.Why + ")"
	}
	return msg
}

const (
	whyTracing = "distributed tracing is not built"
)

// notBuilt lists etcd 3.7's server settings that basalt does not
// implement yet.
var notBuilt = []NotBuilt{
	{Name: "enable-distributed-tracing", Honoured: "false", Why: whyTracing},
	{Name: "distributed-tracing-address", Honoured: "localhost:4317", Why: whyTracing},
	{Name: "distributed-tracing-service-name", Honoured: "etcd", Why: whyTracing},
	{Name: "distributed-tracing-instance-id", Honoured: "", Why: whyTracing},
	{Name: "distributed-tracing-sampling-rate", Honoured: "0", Why: whyTracing},
}

// NotBuiltSettings lists the settings basalt refuses at other values.
func NotBuiltSettings() []NotBuilt { return slices.Clone(notBuilt) }

// LookupNotBuilt finds a setting by flag name.
func LookupNotBuilt(name string) (NotBuilt, bool) {
	i := slices.IndexFunc(notBuilt, func(n NotBuilt) bool { return n.Name == name })
	if i < 0 {
		return NotBuilt{}, false
	}
	return notBuilt[i], true
}

// CheckNotBuiltFlag returns the error for a flag set to value, or nil if
// basalt honours it.
func CheckNotBuiltFlag(name, value string) error {
	n, ok := LookupNotBuilt(name)
	if !ok {
		return nil
	}
	if n.Always || value != n.Honoured {
		return n
	}
	return nil
}

// checkNotBuiltKey is CheckNotBuiltFlag for a value decoded from the
// config file (bool, float64, string, list or map). Zero values count as
// unset.
func checkNotBuiltKey(name string, v any) error {
	n, ok := LookupNotBuilt(name)
	if !ok {
		return nil
	}
	if n.Always {
		return n
	}
	var s string
	switch x := v.(type) {
	case nil:
		return nil
	case bool:
		s = strconv.FormatBool(x)
		if !x {
			// false is the zero value: as if unset, unless basalt
			// honours only true.
			if n.Honoured == "true" {
				return n
			}
			return nil
		}
	case float64:
		if x == 0 {
			return nil
		}
		s = strconv.FormatFloat(x, 'f', -1, 64)
		// The file gives durations in nanoseconds.
		if _, err := time.ParseDuration(n.Honoured); err == nil {
			s = time.Duration(x).String()
		}
	case string:
		if x == "" {
			return nil
		}
		s = x
	case []any:
		if len(x) == 0 {
			return nil
		}
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = fmt.Sprint(e)
		}
		s = strings.Join(parts, ",")
	default:
		return n
	}
	if s == n.Honoured {
		return nil
	}
	return n
}
