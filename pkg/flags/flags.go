// Package flags holds the flag.Value types of etcd's command lines (URL
// lists, comma-separated strings, a choice among values) and the mapping
// of flags to environment variables (--foo-bar ↔ PREFIX_FOO_BAR).
package flags

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
)

// ParseURLs parses a list of URLs as etcd accepts them: http and https
// URLs need host:port and no path; unix and unixs URLs are socket paths.
// The result is sorted.
func ParseURLs(strs []string) ([]url.URL, error) {
	if len(strs) == 0 {
		return nil, errors.New("no valid URLs given")
	}
	out := make([]url.URL, 0, len(strs))
	for _, in := range strs {
		in = strings.TrimSpace(in)
		u, err := url.Parse(in)
		if err != nil {
			return nil, err
		}
		switch u.Scheme {
		case "http", "https":
			if _, _, err := net.SplitHostPort(u.Host); err != nil {
				return nil, fmt.Errorf(`URL address does not have the form "host:port": %s`, in)
			}
			if u.Path != "" {
				return nil, fmt.Errorf("URL must not contain a path: %s", in)
			}
		case "unix", "unixs":
		default:
			return nil, fmt.Errorf("URL scheme must be http, https, unix, or unixs: %s", in)
		}
		out = append(out, *u)
	}
	slices.SortFunc(out, func(a, b url.URL) int { return strings.Compare(a.String(), b.String()) })
	return out, nil
}

// URLsString renders URLs comma-separated.
func URLsString(us []url.URL) string {
	s := make([]string, len(us))
	for i, u := range us {
		s[i] = u.String()
	}
	return strings.Join(s, ",")
}

// URLs is a comma-separated list of URLs, duplicates dropped. It writes
// through to the slice it was made with.
type URLs struct{ p *[]url.URL }

// NewURLs binds a URL list flag to p, whose current value is the default.
func NewURLs(p *[]url.URL) *URLs { return &URLs{p: p} }

// Set replaces the list. An empty value leaves it as it is, as etcd's
// URL flags do.
func (v *URLs) Set(s string) error {
	if s == "" {
		return nil
	}
	us, err := ParseURLs(strings.Split(s, ","))
	if err != nil {
		return err
	}
	*v.p = slices.CompactFunc(us, func(a, b url.URL) bool { return a.String() == b.String() })
	return nil
}

func (v *URLs) String() string {
	if v == nil || v.p == nil {
		return ""
	}
	return URLsString(*v.p)
}

// Strings is a comma-separated list of strings. With unique set,
// duplicates are dropped and the list is sorted, as etcd's unique string
// flags are.
type Strings struct {
	p      *[]string
	unique bool
}

// NewStrings binds a comma-separated list flag to p.
func NewStrings(p *[]string, unique bool) *Strings { return &Strings{p: p, unique: unique} }

func (v *Strings) Set(s string) error {
	parts := strings.Split(s, ",")
	if v.unique {
		slices.Sort(parts)
		parts = slices.Compact(parts)
	}
	*v.p = parts
	return nil
}

func (v *Strings) String() string {
	if v == nil || v.p == nil {
		return ""
	}
	return strings.Join(*v.p, ",")
}

// Choice is a string restricted to a set of values.
type Choice struct {
	p     *string
	valid []string
}

// NewChoice binds a flag to p that accepts only the given values.
func NewChoice(p *string, valid ...string) *Choice { return &Choice{p: p, valid: valid} }

func (v *Choice) Set(s string) error {
	if !slices.Contains(v.valid, s) {
		return fmt.Errorf("invalid value %q", s)
	}
	*v.p = s
	return nil
}

func (v *Choice) String() string {
	if v == nil || v.p == nil {
		return ""
	}
	return *v.p
}

// Valid lists the accepted values.
func (v *Choice) Valid() []string { return slices.Clone(v.valid) }

// Ignored is a flag etcd still accepts but that no longer means
// anything; setting it calls warn.
type Ignored struct {
	Name string
	Warn func(name string)
}

func (f *Ignored) IsBoolFlag() bool { return true }
func (f *Ignored) String() string   { return "" }
func (f *Ignored) Set(string) error {
	if f.Warn != nil {
		f.Warn(f.Name)
	}
	return nil
}

// IsSet reports whether the flag was given on the command line (or set
// from the environment by SetFromEnv).
func IsSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// ParseURLsMap parses "name=url,name=url" (--initial-cluster's form; a
// name may repeat for several URLs) as etcd's types.NewURLsMap does.
func ParseURLsMap(s string) (map[string][]url.URL, error) {
	raw := map[string][]string{}
	for _, pair := range strings.Split(s, ",") {
		if pair == "" {
			continue
		}
		name, u, _ := strings.Cut(pair, "=")
		raw[name] = append(raw[name], u)
	}
	out := make(map[string][]url.URL, len(raw))
	for name, us := range raw {
		parsed, err := ParseURLs(us)
		if err != nil {
			return nil, err
		}
		out[name] = parsed
	}
	return out, nil
}
