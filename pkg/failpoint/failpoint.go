// Package failpoint gives basalt named crash points: places between the
// steps of persisting and installing state where a test can make the
// process die (or stall, or panic) to prove that a restart recovers.
//
// A point is declared once, at package level, and hit where the step is:
//
//	var fpAfterSave = failpoint.New("raftAfterSave")
//	...
//	fpAfterSave.Hit()
//
// Points are inert unless armed. An unarmed Hit is one atomic load, so
// points stay compiled into every build. They are armed by
//
//   - BASALT_FAILPOINTS, read at start: "name=action;name=action", and
//   - when BASALT_FAILPOINTS_HTTP is "on", the HTTP handler Handler
//     returns, which basalt mounts at /debug/failpoints on its client
//     URLs: GET lists every point as "name=action" (action empty when
//     off), GET /debug/failpoints/NAME shows one, PUT with the action as
//     body arms it, DELETE disarms it.
//
// An action is [N*]kind, where kind is one of
//
//	kill        SIGKILL this process: nothing after the point happens, no
//	            deferred function runs, unsynced data may be lost (a crash)
//	panic       panic with the point's name
//	sleep(D)    sleep D (a time.ParseDuration duration), then go on
//	off         disarmed
//
// and N*, if given, limits the action to the next N hits, after which the
// point is off again. Hits are counted whether or not the point is armed
// (Point.Hits, and "hits" in the HTTP listing), so a test can wait until
// a step was passed.
package failpoint

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// EnvPoints and EnvHTTP are the environment variables that arm points.
const (
	EnvPoints = "BASALT_FAILPOINTS"
	EnvHTTP   = "BASALT_FAILPOINTS_HTTP"
)

// Point is one named crash point.
type Point struct {
	name  string
	armed atomic.Pointer[action]
	hits  atomic.Int64
}

type kind int

const (
	kindOff kind = iota
	kindKill
	kindPanic
	kindSleep
)

// action is what an armed point does; left counts the remaining hits of
// an N* action (-1: unlimited).
type action struct {
	text  string
	kind  kind
	sleep time.Duration
	left  atomic.Int64
}

var registry = struct {
	sync.Mutex
	points map[string]*Point
	// fromEnv holds BASALT_FAILPOINTS, parsed once, for points declared
	// after it was read.
	fromEnv map[string]string
	envErr  error
}{points: map[string]*Point{}}

// loadEnvLocked reads BASALT_FAILPOINTS the first time it is needed
// (points of this package's own tests are declared before its init runs).
func loadEnvLocked() {
	if registry.fromEnv == nil && registry.envErr == nil {
		registry.fromEnv, registry.envErr = parseSpec(os.Getenv(EnvPoints))
	}
}

// New declares the point name. Declare each point once, in a package-level
// variable; a second declaration of a name panics.
func New(name string) *Point {
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.points[name]; dup {
		panic("failpoint: " + name + " declared twice")
	}
	p := &Point{name: name}
	registry.points[name] = p
	loadEnvLocked()
	if spec, ok := registry.fromEnv[name]; ok {
		if a, err := parseAction(spec); err == nil {
			p.armed.Store(a)
		}
	}
	return p
}

// Name is the point's name.
func (p *Point) Name() string { return p.name }

// Hits is how many times the point was reached.
func (p *Point) Hits() int64 { return p.hits.Load() }

// Hit performs the point's action if it is armed.
func (p *Point) Hit() {
	p.hits.Add(1)
	a := p.armed.Load()
	if a == nil {
		return
	}
	if a.left.Load() >= 0 {
		left := a.left.Add(-1)
		if left < 0 {
			return // another hit took the last one
		}
		if left == 0 {
			p.armed.CompareAndSwap(a, nil)
		}
	}
	switch a.kind {
	case kindKill:
		// The process ends here, as in a power cut: stdout and stderr are
		// unbuffered, so what was logged before the point is kept.
		fmt.Fprintf(os.Stderr, "failpoint %s: kill\n", p.name)
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // SIGKILL is not delivered synchronously
	case kindPanic:
		panic("failpoint " + p.name)
	case kindSleep:
		time.Sleep(a.sleep)
	}
}

// Set arms the point name with action (see the package documentation);
// "off" or "" disarms it.
func Set(name, spec string) error {
	p := lookup(name)
	if p == nil {
		return fmt.Errorf("failpoint: no point %q", name)
	}
	a, err := parseAction(spec)
	if err != nil {
		return err
	}
	if a == nil {
		p.armed.Store(nil)
	} else {
		p.armed.Store(a)
	}
	return nil
}

// Names lists every declared point, sorted.
func Names() []string {
	registry.Lock()
	defer registry.Unlock()
	names := make([]string, 0, len(registry.points))
	for n := range registry.points {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// CheckEnv reports a malformed BASALT_FAILPOINTS or one naming a point no
// package declared. Call it once every package is initialized (from main).
func CheckEnv() error {
	registry.Lock()
	defer registry.Unlock()
	loadEnvLocked()
	if registry.envErr != nil {
		return registry.envErr
	}
	var errs []error
	for name, spec := range registry.fromEnv {
		if _, ok := registry.points[name]; !ok {
			errs = append(errs, fmt.Errorf("failpoint: %s names no point %q", EnvPoints, name))
			continue
		}
		if _, err := parseAction(spec); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Enabled reports whether points may be armed in this process: by the
// environment at start, or over HTTP.
func Enabled() bool { return HTTPEnabled() || os.Getenv(EnvPoints) != "" }

// HTTPEnabled reports whether BASALT_FAILPOINTS_HTTP asks for the handler.
func HTTPEnabled() bool { return os.Getenv(EnvHTTP) == "on" }

func lookup(name string) *Point {
	registry.Lock()
	defer registry.Unlock()
	return registry.points[name]
}

// parseSpec reads "name=action;name=action".
func parseSpec(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, term := range strings.Split(s, ";") {
		term = strings.TrimSpace(term)
		if term == "" {
			continue
		}
		name, spec, ok := strings.Cut(term, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("failpoint: %s: %q is not name=action", EnvPoints, term)
		}
		if _, err := parseAction(spec); err != nil {
			return nil, err
		}
		out[name] = spec
	}
	return out, nil
}

// parseAction reads [N*]kill|panic|sleep(D)|off; off is nil.
func parseAction(spec string) (*action, error) {
	spec = strings.TrimSpace(spec)
	a := &action{text: spec}
	a.left.Store(-1)
	body := spec
	if count, rest, ok := strings.Cut(spec, "*"); ok {
		n, err := strconv.ParseInt(count, 10, 64)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("failpoint: bad count in %q", spec)
		}
		a.left.Store(n)
		body = rest
	}
	switch {
	case body == "" || body == "off":
		return nil, nil
	case body == "kill":
		a.kind = kindKill
	case body == "panic":
		a.kind = kindPanic
	case strings.HasPrefix(body, "sleep(") && strings.HasSuffix(body, ")"):
		d, err := time.ParseDuration(body[len("sleep(") : len(body)-1])
		if err != nil || d < 0 {
			return nil, fmt.Errorf("failpoint: bad duration in %q", spec)
		}
		a.kind, a.sleep = kindSleep, d
	default:
		return nil, fmt.Errorf("failpoint: unknown action %q (kill, panic, sleep(D), off, with an optional N* prefix)", spec)
	}
	return a, nil
}
