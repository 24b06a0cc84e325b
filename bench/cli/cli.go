// Package cli is basalt-bench's command line: etcd benchmark's
// subcommands and flags, wired to the workloads of package bench.
package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/basaltkv/basalt/bench"
)

// Main runs the command line args (without the program name) and returns
// the exit status.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := NewRoot(ctx, stdin, stdout, stderr)
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		fmt.Fprintln(stderr, "Error:", err)
		return 1
	}
	return 0
}

// global holds the root command's flags.
type global struct {
	endpoints        []string
	conns, clients   uint
	precise, sample  bool
	cert, key, ca    string
	insecureSkip     bool
	user             string
	dialTimeout      time.Duration
	targetLeader     bool
	autoSyncInterval time.Duration
}

// NewRoot builds the command tree.
func NewRoot(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	var g global
	root := &cobra.Command{
		Use:   "basalt-bench",
		Short: "A low-level benchmark tool for basalt and etcd v3",
		Long: "basalt-bench drives load against a basalt or etcd v3 cluster over the gRPC API and\n" +
			"prints latency summaries in the format of etcd's benchmark tool.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	pf := root.PersistentFlags()
	pf.StringSliceVar(&g.endpoints, "endpoints", []string{"127.0.0.1:2379"}, "gRPC endpoints")
	pf.UintVar(&g.conns, "conns", 1, "Total number of gRPC connections")
	pf.UintVar(&g.clients, "clients", 1, "Total number of gRPC clients")
	pf.BoolVar(&g.precise, "precise", false, "use full floating point precision")
	pf.BoolVar(&g.sample, "sample", false, "'true' to sample requests for every second")
	pf.StringVar(&g.cert, "cert", "", "identify HTTPS client using this SSL certificate file")
	pf.StringVar(&g.key, "key", "", "identify HTTPS client using this SSL key file")
	pf.StringVar(&g.ca, "cacert", "", "verify certificates of HTTPS-enabled servers using this CA bundle")
	pf.BoolVar(&g.insecureSkip, "insecure-skip-tls-verify", false, "skip server certificate verification")
	pf.StringVar(&g.user, "user", "", "provide username[:password] and prompt if password is not supplied.")
	pf.DurationVar(&g.dialTimeout, "dial-timeout", 0, "dial timeout for client connections")
	pf.BoolVar(&g.targetLeader, "target-leader", false, "connect only to the leader node")
	pf.DurationVar(&g.autoSyncInterval, "auto-sync-interval", 0, "AutoSyncInterval is the interval to update endpoints with its latest members")

	config := func() *bench.Config {
		c := &bench.Config{
			Endpoints:        trimAll(g.endpoints),
			Conns:            int(g.conns),
			Clients:          int(g.clients),
			Precise:          g.precise,
			Sample:           g.sample,
			DialTimeout:      g.dialTimeout,
			User:             g.user,
			AskPassword:      func() (string, error) { return askPassword(stdin, stderr) },
			TargetLeader:     g.targetLeader,
			AutoSyncInterval: g.autoSyncInterval,
			Out:              stdout,
		}
		c.TLS.CertFile, c.TLS.KeyFile, c.TLS.TrustedCAFile = g.cert, g.key, g.ca
		c.TLS.InsecureSkipVerify = g.insecureSkip
		if isTerminal(stderr) {
			c.Progress = stderr
		}
		return c
	}
	root.AddCommand(
		putCommand(ctx, config),
		rangeCommand(ctx, config),
		txnPutCommand(ctx, config),
		txnMixedCommand(ctx, config),
		watchCommand(ctx, config, stderr),
		watchGetCommand(ctx, config),
		watchLatencyCommand(ctx, config),
		leaseKeepaliveCommand(ctx, config),
		stmCommand(ctx, config),
		mvccCommand(config),
		v2PutCommand(ctx, config),
		v2GetCommand(ctx, config),
	)
	return root
}

func trimAll(ss []string) []string {
	out := make([]string, 0, len(ss))
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// askPassword prompts on stderr and reads a line from stdin, without echo
// when stdin is a terminal.
func askPassword(stdin io.Reader, prompt io.Writer) (string, error) {
	fmt.Fprint(prompt, "Password: ")
	if f, ok := stdin.(*os.File); ok {
		fd := int(f.Fd())
		if old, err := unix.IoctlGetTermios(fd, unix.TCGETS); err == nil {
			noEcho := *old
			noEcho.Lflag &^= unix.ECHO
			if err := unix.IoctlSetTermios(fd, unix.TCSETS, &noEcho); err == nil {
				defer unix.IoctlSetTermios(fd, unix.TCSETS, old)
			}
		}
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	fmt.Fprintln(prompt)
	if err != nil && line == "" {
		return "", errors.New("no password given")
	}
	return strings.TrimRight(line, "\r\n"), nil
}
