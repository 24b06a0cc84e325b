package ctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"

	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/basaltkv/basalt/pkg/netutil"
	"github.com/basaltkv/basalt/pkg/tlsutil"
	"github.com/basaltkv/basalt/pkg/v2client"
)

// etcdctl 3.4's v2 exit codes (its ctlv2 numbering, not ctlv3's).
const (
	v2ExitBadArgs           = 1
	v2ExitBadConnection     = 2
	v2ExitServerError       = 4
	v2ExitClusterNotHealthy = 5
)

const v2DefaultEndpoints = "http://127.0.0.1:2379,http://127.0.0.1:4001"

var v2GlobalFlags = []v2Flag{
	{names: "debug", usage: "output cURL commands which can be used to reproduce the request", kind: "bool"},
	{names: "no-sync", usage: "don't synchronize cluster information before sending request", kind: "bool"},
	{names: "output, o", usage: "output response in the given format (`simple`, `extended` or `json`)", kind: "string", def: "simple"},
	{names: "discovery-srv, D", usage: "domain name to query for SRV records describing cluster endpoints", kind: "string"},
	{names: "insecure-discovery", usage: "accept insecure SRV records describing cluster endpoints", kind: "bool"},
	{names: "peers, C", usage: `DEPRECATED - "--endpoints" should be used instead`, kind: "string"},
	{names: "endpoint", usage: `DEPRECATED - "--endpoints" should be used instead`, kind: "string"},
	{names: "endpoints", usage: `a comma-delimited list of machine addresses in the cluster (default: "` + v2DefaultEndpoints + `")`, kind: "string"},
	{names: "cert-file", usage: "identify HTTPS client using this SSL certificate file", kind: "string"},
	{names: "key-file", usage: "identify HTTPS client using this SSL key file", kind: "string"},
	{names: "ca-file", usage: "verify certificates of HTTPS-enabled servers using this CA bundle", kind: "string"},
	{names: "username, u", usage: "provide username[:password] and prompt if password is not supplied.", kind: "string"},
	{names: "timeout", usage: "connection timeout per request", kind: "duration", def: "2s"},
	{names: "total-timeout", usage: "timeout for the command execution (except watch)", kind: "duration", def: "5s"},
}

// v2Globals are the global flags as the commands use them.
type v2Globals struct {
	ctx    *v2Context
	output string
	debug  bool
}

func v2Commands() []*v2Command {
	return []*v2Command{
		v2BackupCommand(),
		v2ClusterHealthCommand(),
		v2MkCommand(), v2MkdirCommand(), v2RmCommand(), v2RmdirCommand(),
		v2GetCommand(), v2LsCommand(), v2SetCommand(), v2SetdirCommand(),
		v2UpdateCommand(), v2UpdatedirCommand(), v2WatchCommand(), v2ExecWatchCommand(),
		v2MemberCommand(), v2UserCommand(), v2RoleCommand(), v2AuthCommand(),
	}
}

// mainV2 runs basaltctl as etcdctl 3.4 with ETCDCTL_API=2.
func (e *env) mainV2(args []string) int {
	err := e.runV2(args)
	var ue *v2UsageError
	var ec *v2ExitCoder
	var ee *exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		fmt.Fprintln(e.stderr, ue.err)
		return 1
	case errors.As(err, &ec):
		fmt.Fprintln(e.stderr, ec.msg)
		return ec.code
	case errors.As(err, &ee):
		if !ee.quiet {
			fmt.Fprintln(e.stderr, ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(e.stderr, err)
	return 1
}

func (e *env) runV2(args []string) error {
	cmds := v2Commands()
	flags := append(append([]v2Flag(nil), v2GlobalFlags...), v2HelpFlag, v2Flag{names: "version, v", usage: "print the version", kind: "bool"})
	set := newV2FlagSet(e.name, flags)
	err := set.Parse(args)
	nerr := normalizeV2Flags(flags, set)
	if nerr != nil {
		fmt.Fprintln(e.stdout, nerr)
		e.printV2AppHelp(cmds)
		return &v2UsageError{nerr}
	}
	if err != nil {
		fmt.Fprintf(e.stdout, "Incorrect Usage. %s\n\n", err)
		e.printV2AppHelp(cmds)
		return &v2UsageError{err}
	}
	gctx := &v2Context{e: e, set: set}
	if gctx.Bool("help") {
		e.printV2AppHelp(cmds)
		return nil
	}
	if gctx.Bool("version") {
		fmt.Fprintf(e.stdout, "etcdctl version: %s\nAPI version: 2\n", etcdVersion)
		return nil
	}
	g := &v2Globals{ctx: gctx, output: gctx.String("output"), debug: gctx.Bool("debug")}
	rest := set.Args()
	if len(rest) > 0 {
		for _, c := range cmds {
			if c.name == rest[0] {
				return c.run(e, g, e.name, rest[1:])
			}
		}
		if rest[0] == "help" || rest[0] == "h" {
			rest = rest[1:]
		}
	}
	if len(rest) == 0 {
		e.printV2AppHelp(cmds)
		return nil
	}
	for _, c := range cmds {
		if c.name == rest[0] {
			if len(c.subcommands) > 0 {
				c.printGroupHelp(e.stdout, e.name+" "+c.name)
			} else {
				c.printHelp(e.stdout, e.name+" "+c.name)
			}
			return nil
		}
	}
	return &v2ExitCoder{msg: fmt.Sprintf("No help topic for '%s'", rest[0]), code: 3}
}

func (e *env) printV2AppHelp(cmds []*v2Command) {
	tw := tabwriter.NewWriter(e.stdout, 1, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "NAME:\n   %s - A simple command line client for etcd.\n\nUSAGE:\n   %s [global options] command [command options] [arguments...]\n\nVERSION:\n   %s\n\nCOMMANDS:", e.name, e.name, etcdVersion)
	for _, c := range cmds {
		fmt.Fprintf(tw, "\n   %s\t%s", c.name, c.usage)
	}
	fmt.Fprintf(tw, "\n   help, h\tShows a list of commands or help for one command\n\nGLOBAL OPTIONS:")
	for _, f := range v2GlobalFlags {
		fmt.Fprintf(tw, "\n   %s", f.helpLine())
	}
	fmt.Fprintf(tw, "\n   --help, -h\tshow help\n   --version, -v\tprint the version\n")
	tw.Flush()
}

// str is a global string flag's value.
func (g *v2Globals) str(name string) string { return g.ctx.String(name) }

func (g *v2Globals) duration(name string) time.Duration {
	d, _ := time.ParseDuration(g.ctx.String(name))
	return d
}

// totalTimeout is the context of one command's requests.
func (g *v2Globals) totalTimeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), g.duration("total-timeout"))
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// endpoints are SRV-discovered endpoints, else --endpoints, --endpoint
// and --peers (each after its ETCDCTL_ variable), else the default.
func (c *v2Context) endpoints() ([]string, error) {
	g := c.g
	var eps []string
	if domain, insecure, service := c.discovery(); domain != "" {
		found, err := netutil.SRVClientEndpoints(context.Background(), domain, service)
		if err != nil {
			return nil, err
		}
		for _, ep := range found {
			if !insecure && strings.HasPrefix(ep, "http://") {
				fmt.Fprintf(c.e.stderr, "ignoring discovered insecure endpoint %q\n", ep)
				continue
			}
			eps = append(eps, ep)
		}
	}
	if len(eps) == 0 {
		peers := firstNonEmpty(g.str("endpoints"), c.getenv("ETCDCTL_ENDPOINTS"), g.str("endpoint"),
			c.getenv("ETCDCTL_ENDPOINT"), g.str("peers"), c.getenv("ETCDCTL_PEERS"), v2DefaultEndpoints)
		eps = strings.Split(peers, ",")
	}
	for i, ep := range eps {
		u, err := url.Parse(ep)
		if err != nil {
			return nil, err
		}
		if u.Scheme == "" {
			u.Scheme = "http"
		}
		eps[i] = u.String()
	}
	return eps, nil
}

func (c *v2Context) getenv(k string) string {
	for _, kv := range c.e.environ() {
		if key, v, ok := strings.Cut(kv, "="); ok && key == k {
			return v
		}
	}
	return ""
}

func (c *v2Context) discovery() (domain string, insecure bool, service string) {
	domain = firstNonEmpty(c.g.str("discovery-srv"), c.getenv("ETCDCTL_DISCOVERY_SRV"))
	insecure = c.g.ctx.Bool("insecure-discovery") || c.getenv("ETCDCTL_INSECURE_DISCOVERY") != ""
	service = c.getenv("ETCDCTL_DISCOVERY_SRV_NAME")
	return domain, insecure, service
}

// newClient is etcdctl's newClient: TLS files, the per-request timeout
// and the user (whose password is asked for when not given).
func (c *v2Context) newClient() (*v2client.Client, error) {
	eps, err := c.endpoints()
	if err != nil {
		return nil, err
	}
	domain, insecure, _ := c.discovery()
	if insecure {
		domain = ""
	}
	info := tlsutil.Info{
		CertFile:      firstNonEmpty(c.g.str("cert-file"), c.getenv("ETCDCTL_CERT_FILE")),
		KeyFile:       firstNonEmpty(c.g.str("key-file"), c.getenv("ETCDCTL_KEY_FILE")),
		TrustedCAFile: firstNonEmpty(c.g.str("ca-file"), c.getenv("ETCDCTL_CA_FILE")),
		ServerName:    domain,
	}
	cfg := v2client.Config{Endpoints: eps, HeaderTimeout: c.g.duration("timeout"), DialTimeout: 30 * time.Second}
	if tt := c.g.duration("total-timeout"); tt != 0 && tt < cfg.DialTimeout {
		cfg.DialTimeout = tt
	}
	if !info.Empty() || info.TrustedCAFile != "" {
		if cfg.TLS, err = info.ClientConfig(); err != nil {
			return nil, err
		}
	}
	if netutil.TestDNS() != "" {
		// Tests point name resolution, of discovered hosts too, at their
		// own DNS server.
		cfg.DialContext = netutil.Dialer(cfg.DialTimeout, "").DialContext
	}
	if c.g.debug {
		cfg.CURLDebug = c.e.stderr
	}
	if user := firstNonEmpty(c.g.str("username"), c.getenv("ETCDCTL_USERNAME")); user != "" {
		name, password, ok := strings.Cut(user, ":")
		if !ok {
			if password, err = c.e.askPassword("Password: "); err != nil {
				return nil, err
			}
		}
		cfg.Username, cfg.Password = name, password
	}
	return v2client.New(cfg)
}

// mustClient is etcdctl's mustNewClient: a client whose endpoints were,
// unless --no-sync, replaced by those the cluster publishes.
func (c *v2Context) mustClient() (*v2client.Client, error) {
	hc, err := c.newClient()
	if err != nil {
		return nil, fail(1, err)
	}
	stderr := c.e.stderr
	if !c.g.ctx.Bool("no-sync") {
		if c.g.debug {
			fmt.Fprintf(stderr, "start to sync cluster using endpoints(%s)\n", strings.Join(hc.Endpoints(), ","))
		}
		ctx, cancel := c.g.totalTimeout()
		err := hc.Sync(ctx)
		cancel()
		if err != nil {
			if errors.Is(err, v2client.ErrNoEndpoints) {
				fmt.Fprintf(stderr, "etcd cluster has no published client endpoints.\n")
				fmt.Fprintf(stderr, "Try '--no-sync' if you want to access non-published client endpoints(%s).\n", strings.Join(hc.Endpoints(), ","))
				return nil, c.handleError(v2ExitServerError, err)
			}
			if isV2ConnectionError(err) {
				return nil, c.handleError(v2ExitBadConnection, err)
			}
		}
		if c.g.debug {
			fmt.Fprintf(stderr, "got endpoints(%s) after sync\n", strings.Join(hc.Endpoints(), ","))
		}
	}
	if c.g.debug {
		fmt.Fprintf(stderr, "Cluster-Endpoints: %s\n", strings.Join(hc.Endpoints(), ", "))
	}
	return hc, nil
}

// clientNoSync is etcdctl's mustNewClientNoSync.
func (c *v2Context) clientNoSync() (*v2client.Client, error) {
	hc, err := c.newClient()
	if err != nil {
		return nil, fail(1, err)
	}
	if c.g.debug {
		fmt.Fprintf(c.e.stderr, "Cluster-Endpoints: %s\n", strings.Join(hc.Endpoints(), ", "))
	}
	return hc, nil
}

func isV2ConnectionError(err error) bool {
	var cerr *v2client.ClusterError
	if errors.As(err, &cerr) {
		for _, e := range cerr.Errors {
			if !isV2ConnectionError(e) {
				return false
			}
		}
		return true
	}
	var op *net.OpError
	if errors.As(err, &op) {
		if op.Op == "dial" || op.Op == "read" {
			return true
		}
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// handleError prints err as etcdctl's handleError ("Error:  ", then a
// cluster error's detail) and ends the command with code.
func (c *v2Context) handleError(code int, err error) error {
	fmt.Fprintln(c.e.stderr, "Error: ", err)
	var cerr *v2client.ClusterError
	if errors.As(err, &cerr) {
		fmt.Fprintln(c.e.stderr, cerr.Detail())
	}
	return exitQuietly(code)
}

// failLine prints line to stderr and ends the command with code.
func (c *v2Context) failLine(code int, format string, a ...any) error {
	fmt.Fprintf(c.e.stderr, format, a...)
	return exitQuietly(code)
}

// argOrStdin is argument i, or all of stdin when there is none.
func (c *v2Context) argOrStdin(i int) (string, bool) {
	if i < len(c.args) {
		return c.args[i], true
	}
	b, err := io.ReadAll(c.e.stdin)
	if err != nil || len(b) == 0 {
		return "", false
	}
	return string(b), true
}
