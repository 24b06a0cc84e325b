package ctl_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/basaltkv/basalt/tests/e2e"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// The end-to-end tests run the basaltctl binary against real basalt
// processes and compare transcripts with testdata/*.golden (go test -update
// rewrites them).
var update = flag.Bool("update", false, "rewrite the golden files")

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(e2e.RunWithBinary(m, "basaltctl"))
}

// result is one run of a command line client.
type result struct {
	stdout, stderr string
	code           int
}

// runCtl runs bin with args, stdin and extra environment (the test's
// ETCDCTL_* variables are dropped), bounded by timeout.
func runCtl(t testing.TB, bin string, args []string, stdin string, env []string, timeout time.Duration) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = cleanEnv(env)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %q: no exit within %v\nstdout:\n%s\nstderr:\n%s", bin, args, timeout, out.String(), errOut.String())
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s %q: %v", bin, args, err)
	}
	return result{stdout: out.String(), stderr: errOut.String(), code: code}
}

func cleanEnv(extra []string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ETCDCTL_") && !strings.HasPrefix(kv, "ETCD_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// normalizer replaces values that differ between runs (IDs, ports, terms,
// timings) with placeholders.
type normalizer struct {
	literal []string // old, new pairs
	regexps []regexpRepl
}

type regexpRepl struct {
	re   *regexp.Regexp
	repl string
}

func (n *normalizer) addLiteral(old, repl string) {
	if old != "" {
		n.literal = append(n.literal, old, repl)
	}
}

func (n *normalizer) addRegexp(expr, repl string) {
	n.regexps = append(n.regexps, regexpRepl{regexp.MustCompile(expr), repl})
}

func (n *normalizer) apply(s string) string {
	s = strings.NewReplacer(n.literal...).Replace(s)
	for _, r := range n.regexps {
		s = r.re.ReplaceAllString(s, r.repl)
	}
	return s
}

// clusterNormalizer knows the cluster's IDs and URLs.
func clusterNormalizer(t testing.TB, c *e2e.Cluster) *normalizer {
	t.Helper()
	return clientNormalizer(t, c.Client(t))
}

// clientNormalizer knows the IDs and URLs of the cluster cli reaches
// (basalt's, or an etcd's).
func clientNormalizer(t testing.TB, cli *clientv3.Client) *normalizer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ml, err := cli.MemberList(ctx)
	if err != nil {
		t.Fatalf("member list: %v", err)
	}
	n := &normalizer{}
	n.addID(ml.Header.ClusterId, "CLUSTER_ID")
	for i, m := range ml.Members {
		n.addID(m.ID, fmt.Sprintf("MEMBER%d_ID", i))
		for _, u := range m.PeerURLs {
			n.addLiteral(strings.TrimPrefix(strings.TrimPrefix(u, "http://"), "https://"), fmt.Sprintf("<MEMBER%d_PEER>", i))
		}
		for _, u := range m.ClientURLs {
			n.addLiteral(strings.TrimPrefix(strings.TrimPrefix(u, "http://"), "https://"), fmt.Sprintf("<MEMBER%d_CLIENT>", i))
		}
	}
	// Raft terms depend on elections.
	n.addRegexp(`"raft_term":\d+`, `"raft_term":<TERM>`)
	n.addRegexp(`"raftTerm":\d+`, `"raftTerm":<TERM>`)
	n.addRegexp(`"RaftTerm" : \d+`, `"RaftTerm" : <TERM>`)
	// Durations.
	n.addRegexp(`took = [0-9.]+[µmn]?s`, `took = <DURATION>`)
	n.addRegexp(`took [0-9.]+[µmn]?s`, `took <DURATION>`)
	n.addRegexp(`"took":"[0-9.]+[µmn]?s"`, `"took":"<DURATION>"`)
	n.addRegexp(`"Took" : [0-9.]+[µmn]?s`, `"Took" : <DURATION>`)
	n.addRegexp(`│ +[0-9.]+[µmn]?s │`, `│ <DURATION> │`)
	// Client library logs carry timestamps and addresses: keep the message.
	n.addRegexp(`(?m)^\{"level":"(\w+)".*"msg":"([^"]*)".*\}$`, `<log $1: $2>`)
	return n
}

// addID replaces id written in hex (padded or not) and decimal.
func (n *normalizer) addID(id uint64, name string) {
	n.addLiteral(fmt.Sprintf("%016x", id), "<"+name+">")
	n.addLiteral(strconv.FormatUint(id, 16), "<"+name+">")
	n.addLiteral(strconv.FormatUint(id, 10), "<"+name+">")
}

// step is one command of a golden scenario.
type step struct {
	args  []string
	stdin string
	env   []string
	// decode turns protobuf output into JSON of the named message.
	decode func([]byte) (any, error)
	// after sees the raw result, e.g. to learn a lease ID to normalise
	// and to name in later steps' arguments as $NAME (vars).
	after func(t testing.TB, r result, n *normalizer, vars map[string]string)
	// norm are extra regexp replacements for this step's output.
	norm [][2]string
}

// transcript runs steps against endpoints and returns the normalised
// transcript.
func transcript(t testing.TB, endpoint string, n *normalizer, steps []step) string {
	t.Helper()
	var sb strings.Builder
	vars := map[string]string{}
	for _, s := range steps {
		args := []string{"--endpoints=" + endpoint}
		for _, arg := range s.args {
			if v, ok := vars[strings.TrimPrefix(arg, "$")]; ok && strings.HasPrefix(arg, "$") {
				arg = v
			}
			args = append(args, arg)
		}
		r := runCtl(t, ctlPath(), args, s.stdin, s.env, 60*time.Second)
		if s.after != nil {
			s.after(t, r, n, vars)
		}
		out := r.stdout
		if s.decode != nil && r.code == 0 {
			v, err := s.decode([]byte(r.stdout))
			if err != nil {
				t.Fatalf("%q: decode protobuf output: %v", s.args, err)
			}
			b, _ := json.Marshal(v)
			out = "<protobuf> " + string(b) + "\n"
		}
		sn := &normalizer{}
		for _, p := range s.norm {
			sn.addRegexp(p[0], p[1])
		}
		fmt.Fprintf(&sb, "$ %s\n", n.apply(envPrefix(s.env)+strings.Join(quoteArgs(s.args), " ")))
		if s.stdin != "" {
			fmt.Fprintf(&sb, "<stdin %q>\n", s.stdin)
		}
		sb.WriteString(realignTables(sn.apply(n.apply(out))))
		if r.stderr != "" {
			for _, l := range strings.SplitAfter(sn.apply(n.apply(r.stderr)), "\n") {
				if l != "" {
					sb.WriteString("stderr: " + l)
				}
			}
			if !strings.HasSuffix(r.stderr, "\n") {
				sb.WriteString("\n")
			}
		}
		fmt.Fprintf(&sb, "[exit %d]\n\n", r.code)
	}
	return sb.String()
}

func envPrefix(env []string) string {
	if len(env) == 0 {
		return ""
	}
	return strings.Join(env, " ") + " "
}

func quoteArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \"'\\\n\t") {
			out[i] = strconv.Quote(a)
		} else {
			out[i] = a
		}
	}
	return out
}

// checkGolden compares got with testdata/name.golden, or rewrites it with
// -update.
func checkGolden(t *testing.T, name, got string) { t.Helper(); e2e.CheckGolden(t, name, got, *update) }

// newCluster starts a one-member basalt cluster and returns it with its
// client endpoint and a normalizer for its IDs.
func newCluster(t *testing.T, size int, opts *e2e.Options) (*e2e.Cluster, string, *normalizer) {
	t.Helper()
	c := e2e.NewCluster(t, size, opts)
	n := clusterNormalizer(t, c)
	return c, c.Members[0].ClientURL(), n
}

// leaseFrom learns the lease ID of "lease grant" output, for normalisation
// and as $name in later arguments.
func leaseFrom(name string) func(testing.TB, result, *normalizer, map[string]string) {
	return func(t testing.TB, r result, n *normalizer, vars map[string]string) {
		var id string
		if _, err := fmt.Sscanf(r.stdout, "lease %s granted", &id); err != nil {
			t.Fatalf("lease grant output %q: %v", r.stdout, err)
		}
		v, err := strconv.ParseUint(id, 16, 64)
		if err != nil {
			t.Fatal(err)
		}
		n.addID(v, name)
		vars[name] = id
	}
}

// client is a clientv3 client of endpoint for test setup.
func client(t testing.TB, endpoint string) *clientv3.Client {
	return e2e.NewClient(t, []string{endpoint}, nil)
}

// realignTables redraws box tables after normalisation changed cell
// widths: cells are re-padded (headers centred, others right-aligned), so
// goldens stay readable. renderTable's own layout is tested in
// table_test.go against the table library etcdctl uses.
func realignTables(s string) string {
	lines := strings.Split(s, "\n")
	var out []string
	for i := 0; i < len(lines); {
		if !strings.HasPrefix(lines[i], "┌") {
			out = append(out, lines[i])
			i++
			continue
		}
		var rows [][]string
		j := i + 1
		for ; j < len(lines) && !strings.HasPrefix(lines[j], "└"); j++ {
			if strings.HasPrefix(lines[j], "│") {
				cells := strings.Split(strings.Trim(lines[j], "│"), "│")
				for k := range cells {
					cells[k] = strings.TrimSpace(cells[k])
				}
				rows = append(rows, cells)
			}
		}
		widths := make([]int, len(rows[0]))
		for _, r := range rows {
			for k, c := range r {
				widths[k] = max(widths[k], len([]rune(c)))
			}
		}
		border := func(l, m, r string) string {
			parts := make([]string, len(widths))
			for k, w := range widths {
				parts[k] = strings.Repeat("─", w+2)
			}
			return l + strings.Join(parts, m) + r
		}
		out = append(out, border("┌", "┬", "┐"))
		for ri, r := range rows {
			var sb strings.Builder
			sb.WriteString("│")
			for k, c := range r {
				pad := widths[k] - len([]rune(c))
				if ri == 0 {
					sb.WriteString(" " + strings.Repeat(" ", pad/2) + c + strings.Repeat(" ", pad-pad/2) + " │")
				} else {
					sb.WriteString(" " + strings.Repeat(" ", pad) + c + " │")
				}
			}
			out = append(out, sb.String())
			if ri == 0 && len(rows) > 1 {
				out = append(out, border("├", "┼", "┤"))
			}
		}
		out = append(out, border("└", "┴", "┘"))
		i = j + 1
	}
	return strings.Join(out, "\n")
}

// ctlPath is the basaltctl binary TestMain built.
func ctlPath() string { return e2e.Command("basaltctl") }
