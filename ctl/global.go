package ctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/basaltkv/basalt/pkg/netutil"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.etcd.io/etcd/client/pkg/v3/logutil"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/grpclog"
)

// etcdctl's defaults for the global flags.
const (
	defaultEndpoint         = "127.0.0.1:2379"
	defaultDialTimeout      = 2 * time.Second
	defaultCommandTimeout   = 5 * time.Second
	defaultKeepAliveTime    = 2 * time.Second
	defaultKeepAliveTimeout = 6 * time.Second
)

// envPrefix prefixes the environment variable of every global flag.
const envPrefix = "ETCDCTL"

// globalFlags are the flags every command inherits from the root.
type globalFlags struct {
	endpoints          []string
	debug              bool
	writeOut           string
	hex                bool
	dialTimeout        time.Duration
	commandTimeout     time.Duration
	keepAliveTime      time.Duration
	keepAliveTimeout   time.Duration
	maxRequestBytes    int
	maxRecvBytes       int
	insecureTransport  bool
	insecureDiscovery  bool
	insecureSkipVerify bool
	cert, key, cacert  string
	jwtToken           string
	user, password     string
	discoverySrv       string
	discoverySrvName   string
}

func (g *globalFlags) register(fs *pflag.FlagSet) {
	fs.StringSliceVar(&g.endpoints, "endpoints", []string{defaultEndpoint}, "gRPC endpoints")
	fs.BoolVar(&g.debug, "debug", false, "enable client-side debug logging")
	fs.StringVarP(&g.writeOut, "write-out", "w", "simple", "set the output format (fields, json, protobuf, simple, table)")
	fs.BoolVar(&g.hex, "hex", false, "print byte strings as hex encoded strings")
	fs.DurationVar(&g.dialTimeout, "dial-timeout", defaultDialTimeout, "dial timeout for client connections")
	fs.DurationVar(&g.commandTimeout, "command-timeout", defaultCommandTimeout, "timeout for short running command (excluding dial timeout)")
	fs.DurationVar(&g.keepAliveTime, "keepalive-time", defaultKeepAliveTime, "keepalive time for client connections")
	fs.DurationVar(&g.keepAliveTimeout, "keepalive-timeout", defaultKeepAliveTimeout, "keepalive timeout for client connections")
	fs.IntVar(&g.maxRequestBytes, "max-request-bytes", 0, "client-side request send limit in bytes (if 0, it defaults to 2.0 MiB (2 * 1024 * 1024).)")
	fs.IntVar(&g.maxRecvBytes, "max-recv-bytes", 0, "client-side response receive limit in bytes (if 0, it defaults to \"math.MaxInt32\")")
	fs.BoolVar(&g.insecureTransport, "insecure-transport", true, "disable transport security for client connections")
	fs.BoolVar(&g.insecureDiscovery, "insecure-discovery", true, "accept insecure SRV records describing cluster endpoints")
	fs.BoolVar(&g.insecureSkipVerify, "insecure-skip-tls-verify", false, "skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)")
	fs.StringVar(&g.cert, "cert", "", "identify secure client using this TLS certificate file")
	fs.StringVar(&g.key, "key", "", "identify secure client using this TLS key file")
	fs.StringVar(&g.cacert, "cacert", "", "verify certificates of TLS-enabled secure servers using this CA bundle")
	fs.StringVar(&g.jwtToken, "auth-jwt-token", "", "JWT token used for authentication (if this option is used, --user and --password should not be set)")
	fs.StringVar(&g.user, "user", "", "username[:password] for authentication (prompt if password is not supplied)")
	fs.StringVar(&g.password, "password", "", "password for authentication (if this option is used, --user option shouldn't include password)")
	fs.StringVarP(&g.discoverySrv, "discovery-srv", "d", "", "domain name to query for SRV records describing cluster endpoints")
	fs.StringVar(&g.discoverySrvName, "discovery-srv-name", "", "service name to query when using DNS discovery")
}

// envName is the environment variable of flag name: ETCDCTL_DIAL_TIMEOUT
// for dial-timeout.
func envName(name string) string {
	return envPrefix + "_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// ignoredEnv are ETCDCTL_* variables that are not flags but are read
// elsewhere, so are neither applied nor reported as unrecognized.
var ignoredEnv = map[string]bool{
	// the API version: 2 selects the v2 command line (see Main).
	"ETCDCTL_API": true,
}

// newLogger is the logger etcdctl uses for its own messages: JSON lines on
// stderr at info level.
func newLogger() (*zap.Logger, error) { return logutil.CreateDefaultZapLogger(zap.InfoLevel) }

// applyEnv sets every flag of fs not given on the command line from its
// ETCDCTL_* variable. A variable that shadows a flag given on the command
// line is an error; an ETCDCTL_* variable that names no flag is a warning.
func applyEnv(lg *zap.Logger, fs *pflag.FlagSet, environ []string) error {
	given := map[string]bool{}
	used := map[string]bool{}
	lookup := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			lookup[k] = v
		}
	}
	fs.VisitAll(func(f *pflag.Flag) {
		key := envName(f.Name)
		if f.Changed {
			given[key] = true
			return
		}
		if v := lookup[key]; v != "" {
			used[key] = true
			// etcdctl ignores a value the flag rejects: the flag keeps
			// its default.
			_ = fs.Set(f.Name, v)
		}
	})
	for _, kv := range environ {
		k, _, ok := strings.Cut(kv, "=")
		if !ok {
			lg.Warn("found invalid environment variable", zap.String("environment-variable", kv))
			continue
		}
		if used[k] || ignoredEnv[k] {
			continue
		}
		if given[k] {
			// etcdctl stops with a fatal log line here.
			lg.WithOptions(zap.WithFatalHook(zapcore.WriteThenNoop)).Fatal(
				"conflicting environment variable is shadowed by corresponding command-line flag (either unset environment variable or disable flag))",
				zap.String("environment-variable", k))
			return exitQuietly(ExitError)
		}
		if strings.HasPrefix(kv, envPrefix+"_") {
			lg.Warn("unrecognized environment variable", zap.String("environment-variable", kv))
		}
	}
	return nil
}

// discardValue is a flag value that accepts anything, for environment
// variables a command reads itself.
type discardValue struct{}

func (discardValue) String() string   { return "" }
func (discardValue) Set(string) error { return nil }
func (discardValue) Type() string     { return "" }

// clientSpec applies the environment to the global flags, sets up logging
// and the printer, and returns the client configuration the flags describe.
func (e *env) clientSpec(cmd *cobra.Command) (*clientv3.ConfigSpec, error) {
	lg, err := newLogger()
	if err != nil {
		return nil, fail(ExitError, err)
	}
	fs := cmd.InheritedFlags()
	if cmd.Name() == "watch" {
		// watch reads these itself.
		for _, n := range []string{"watch-key", "watch-range-end"} {
			if fs.Lookup(n) == nil {
				fs.AddFlag(&pflag.Flag{Name: n, Value: discardValue{}})
			}
		}
	}
	if err := applyEnv(lg, fs, e.environ()); err != nil {
		return nil, err
	}
	if e.g.debug {
		grpclog.SetLoggerV2(grpclog.NewLoggerV2WithVerbosity(e.stderr, e.stderr, e.stderr, 4))
		fs.VisitAll(func(f *pflag.Flag) {
			fmt.Fprintf(e.stderr, "%s=%v\n", envName(f.Name), f.Value)
		})
	} else {
		// Warnings tell of TLS misconfiguration; info is routine noise.
		grpclog.SetLoggerV2(grpclog.NewLoggerV2(io.Discard, io.Discard, e.stderr))
	}

	spec := &clientv3.ConfigSpec{
		DialTimeout:        e.g.dialTimeout,
		KeepAliveTime:      e.g.keepAliveTime,
		KeepAliveTimeout:   e.g.keepAliveTimeout,
		MaxCallSendMsgSize: e.g.maxRequestBytes,
		MaxCallRecvMsgSize: e.g.maxRecvBytes,
	}
	if spec.Endpoints, err = e.endpoints(cmd); err != nil {
		return nil, fail(ExitError, err)
	}
	if spec.Secure, err = e.secureConfig(cmd); err != nil {
		return nil, err
	}
	if spec.Auth, err = e.authConfig(); err != nil {
		return nil, err
	}
	if err := e.initDisplay(); err != nil {
		return nil, err
	}
	return spec, nil
}

// initDisplay chooses the printer of --write-out and --hex.
func (e *env) initDisplay() error {
	p := newPrinter(e.g.writeOut, e.g.hex, e.stdout, e.stderr)
	if p == nil {
		return fail(ExitBadFeature, errors.New("unsupported output format"))
	}
	e.display = p
	return nil
}

// config turns spec into a clientv3 configuration.
func (e *env) config(spec *clientv3.ConfigSpec) (*clientv3.Config, error) {
	lg, err := newLogger()
	if err != nil {
		return nil, fail(ExitError, err)
	}
	cfg, err := clientv3.NewClientConfig(spec, lg)
	if err != nil {
		return nil, fail(ExitBadArgs, err)
	}
	if netutil.TestDNS() != "" {
		// Discovered endpoints name hosts only the test's DNS knows.
		cfg.DialOptions = append(cfg.DialOptions, grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return netutil.Dialer(0, "").DialContext(ctx, "tcp", addr)
		}))
	}
	return cfg, nil
}

// dial connects a client with spec.
func (e *env) dial(spec *clientv3.ConfigSpec) (*clientv3.Client, error) {
	cfg, err := e.config(spec)
	if err != nil {
		return nil, err
	}
	cli, err := clientv3.New(*cfg)
	if err != nil {
		return nil, fail(ExitBadConnection, err)
	}
	return cli, nil
}

// client is clientSpec and dial together: what most commands start with.
func (e *env) client(cmd *cobra.Command) (*clientv3.Client, error) {
	spec, err := e.clientSpec(cmd)
	if err != nil {
		return nil, err
	}
	return e.dial(spec)
}

// request opens a client for cmd and makes one call bounded by
// --command-timeout; a failed call ends the command with ExitError.
func request[T any](e *env, cmd *cobra.Command, do func(context.Context, *clientv3.Client) (T, error)) (T, error) {
	cli, err := e.client(cmd)
	if err != nil {
		var zero T
		return zero, err
	}
	defer cli.Close()
	ctx, cancel := e.commandCtx()
	defer cancel()
	resp, err := do(ctx, cli)
	if err != nil {
		return resp, fail(ExitError, err)
	}
	return resp, nil
}

// commandCtx bounds a short command by --command-timeout.
func (e *env) commandCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), e.g.commandTimeout)
}

// endpoints are the SRV-discovered endpoints, if --discovery-srv is set and
// finds some, else --endpoints.
func (e *env) endpoints(cmd *cobra.Command) ([]string, error) {
	if e.g.discoverySrv != "" {
		ctx, cancel := context.WithTimeout(context.Background(), srvLookupTimeout)
		found, err := netutil.SRVClientEndpoints(ctx, e.g.discoverySrv, e.g.discoverySrvName)
		cancel()
		if err != nil {
			return nil, err
		}
		var eps []string
		for _, ep := range found {
			if !e.g.insecureDiscovery && strings.HasPrefix(ep, "http://") {
				fmt.Fprintf(e.stderr, "ignoring discovered insecure endpoint %q\n", ep)
				continue
			}
			eps = append(eps, ep)
		}
		if len(eps) > 0 {
			return eps, nil
		}
	}
	eps := make([]string, len(e.g.endpoints))
	for i, ep := range e.g.endpoints {
		eps[i] = strings.TrimSpace(ep)
	}
	return eps, nil
}

func (e *env) secureConfig(cmd *cobra.Command) (*clientv3.SecureConfig, error) {
	for _, f := range []struct {
		name, val string
	}{{"cert", e.g.cert}, {"key", e.g.key}, {"cacert", e.g.cacert}} {
		if f.val == "" && cmd.Flags().Changed(f.name) {
			return nil, failf(ExitBadArgs, "empty string is passed to --%s option", f.name)
		}
	}
	serverName := e.g.discoverySrv
	if e.g.insecureDiscovery {
		serverName = ""
	}
	return &clientv3.SecureConfig{
		Cert:               e.g.cert,
		Key:                e.g.key,
		Cacert:             e.g.cacert,
		ServerName:         serverName,
		InsecureTransport:  e.g.insecureTransport,
		InsecureSkipVerify: e.g.insecureSkipVerify,
	}, nil
}

// authConfig is --user/--password or --auth-jwt-token; a user without a
// password is asked for one.
func (e *env) authConfig() (*clientv3.AuthConfig, error) {
	if e.g.user == "" && e.g.jwtToken == "" {
		return nil, nil
	}
	if e.g.jwtToken != "" {
		return &clientv3.AuthConfig{Token: e.g.jwtToken}, nil
	}
	if e.g.password != "" {
		return &clientv3.AuthConfig{Username: e.g.user, Password: e.g.password}, nil
	}
	if name, pass, ok := strings.Cut(e.g.user, ":"); ok {
		return &clientv3.AuthConfig{Username: name, Password: pass}, nil
	}
	pass, err := e.askPassword("Password: ")
	if err != nil {
		return nil, fail(ExitError, err)
	}
	return &clientv3.AuthConfig{Username: e.g.user, Password: pass}, nil
}

// askPassword prompts on stdout and reads a line from stdin, without echo
// when stdin is a terminal, as etcdctl's prompts do: the line is read a
// byte at a time (a second prompt reads the next line) and trimmed of
// surrounding white space, and a newline follows the answer.
func (e *env) askPassword(prompt string) (string, error) {
	fmt.Fprint(e.stdout, prompt)
	if f, ok := e.stdin.(*os.File); ok {
		fd := int(f.Fd())
		if old, err := unix.IoctlGetTermios(fd, unix.TCGETS); err == nil {
			noEcho := *old
			noEcho.Lflag &^= unix.ECHO
			if err := unix.IoctlSetTermios(fd, unix.TCSETS, &noEcho); err == nil {
				defer unix.IoctlSetTermios(fd, unix.TCSETS, old)
			}
		}
	}
	line, err := readLine(e.stdin)
	fmt.Fprintln(e.stdout)
	if err != nil {
		return "", fmt.Errorf("failed during password entry: %w", err)
	}
	return strings.TrimSpace(line), nil
}

// readLine reads up to a newline or the end of r, one byte at a time so
// that nothing after the line is consumed.
func readLine(r io.Reader) (string, error) {
	var line []byte
	b := make([]byte, 1)
	for {
		n, err := r.Read(b)
		if n == 1 {
			if b[0] == '\n' {
				return string(line), nil
			}
			line = append(line, b[0])
		}
		if err == io.EOF {
			return string(line), nil
		}
		if err != nil {
			return "", err
		}
	}
}

// argOrStdin is args[i], or all of stdin when there are fewer arguments.
func (e *env) argOrStdin(args []string, i int) (string, error) {
	if i < len(args) {
		return args[i], nil
	}
	b, err := io.ReadAll(e.stdin)
	if len(b) == 0 || err != nil {
		return "", errors.New("no available argument and stdin")
	}
	return string(b), nil
}

// serializable reads --consistency: "s" or "l".
func serializable(consistency string) (bool, error) {
	switch consistency {
	case "s":
		return true, nil
	case "l":
		return false, nil
	}
	return false, failf(ExitBadFeature, "unknown consistency flag %q", consistency)
}
