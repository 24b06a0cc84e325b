package raft

// Scripted scenarios with golden output. Each file in testdata/*.txt is a
// sequence of commands, each followed by "----" and the output it must
// produce, up to a blank line; lines starting with # are comments. Run
//
//	go test ./raft -run TestScenarios -update
//
// to rewrite the expected output after a deliberate behaviour change, and
// review the diff.
//
// Commands (ids are member ids; "ids..." defaults to every member):
//
//	add-nodes <n> [prevote] [checkquorum] [learners=4,5] [max-size=N] [max-inflight=N]
//	                         start voters 1..n (and learners) of a new cluster
//	add-member <id> voters=1,2,3 [learners=...]
//	                         start a member that joins, knowing that membership
//	campaign <id>            make id campaign
//	propose <id> <data>      propose data on id
//	propose-conf-change <id> add|add-learner|remove <node>
//	transfer-leader <from> <to>
//	read-index <id> <ctx>... requests that all arrive before id's next Ready
//	tick <n> [ids...]        tick n times, delivering messages after each
//	                         round; heartbeats are not printed
//	stabilize                deliver messages until none is left, printing each
//	partition <ids> | <ids> [| ...]
//	                         cut every link between the groups
//	isolate <id>             cut every link of id
//	heal                     restore every link
//	snapshot <id>            snapshot id's applied state and compact its log
//	restart <id>             crash id and start it again from its storage
//	status [ids...]          role, term, commit; the leader's progress
//	log <id>                 id's log
//
// Besides a command's own output, the driver prints what the members do as
// it happens: role and term changes, entries applied, snapshots restored,
// membership changes and read states.

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	pb "github.com/basaltkv/basalt/raft/raftpb"
)

var updateScenarios = flag.Bool("update", false, "rewrite the expected output of raft/testdata/*.txt scenarios")

func TestScenarios(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no scenarios in testdata")
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			runScenarioFile(t, file)
		})
	}
}

// scenarioCase is one command of a script with its expected output and
// the comment and blank lines before it.
type scenarioCase struct {
	preamble []string
	line     int
	command  string
	want     []string
}

func parseScenario(t *testing.T, file string) (cases []scenarioCase, trailer []string) {
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	var pre []string
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") {
			pre = append(pre, l)
			continue
		}
		c := scenarioCase{preamble: pre, line: i + 1, command: l}
		pre = nil
		if i+1 >= len(lines) || lines[i+1] != "----" {
			if !*updateScenarios {
				t.Fatalf("%s:%d: command %q is not followed by ----", file, i+1, l)
			}
		} else {
			i += 2
			for ; i < len(lines) && lines[i] != ""; i++ {
				c.want = append(c.want, lines[i])
			}
			i-- // the blank line, if any, starts the next preamble
		}
		cases = append(cases, c)
	}
	return cases, pre
}

func runScenarioFile(t *testing.T, file string) {
	cases, trailer := parseScenario(t, file)
	d := &scenarioDriver{t: t}
	var out strings.Builder
	for _, c := range cases {
		got := d.run(c.command)
		if len(got) == 0 {
			got = []string{"ok"}
		}
		if *updateScenarios {
			for _, l := range c.preamble {
				out.WriteString(l + "\n")
			}
			out.WriteString(c.command + "\n----\n")
			for _, l := range got {
				out.WriteString(l + "\n")
			}
			continue
		}
		if !slices.Equal(got, c.want) {
			t.Fatalf("%s:%d: %s\ngot:\n%s\nwant:\n%s", file, c.line, c.command, strings.Join(got, "\n"), strings.Join(c.want, "\n"))
		}
	}
	if *updateScenarios {
		for _, l := range trailer {
			out.WriteString(l + "\n")
		}
		if err := os.WriteFile(file, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// scenarioDriver runs commands against a testNetwork. Messages that
// members send wait in flight until stabilize or tick delivers them.
type scenarioDriver struct {
	t        *testing.T
	nw       *testNetwork
	inflight []pb.Message
	out      []string
	// seen is the last role, term and leader printed for each member.
	seen map[uint64]SoftState
	term map[uint64]uint64
}

func (d *scenarioDriver) printf(format string, args ...any) {
	// Trailing blanks would not survive editors; a blank line would end
	// the output.
	d.out = append(d.out, strings.TrimRight(fmt.Sprintf(format, args...), " "))
}

func (d *scenarioDriver) fail(format string, args ...any) []string {
	return []string{"error: " + fmt.Sprintf(format, args...)}
}

func (d *scenarioDriver) run(command string) []string {
	fields := strings.Fields(command)
	name, args := fields[0], fields[1:]
	if d.nw == nil && name != "add-nodes" {
		return d.fail("no cluster: start with add-nodes")
	}
	d.out = nil
	var err error
	switch name {
	case "add-nodes":
		err = d.addNodes(args)
	case "add-member":
		err = d.addMember(args)
	case "campaign":
		err = d.onMember(args, func(rn *RawNode) error { return rn.Campaign() })
	case "propose":
		if len(args) != 2 {
			return d.fail("usage: propose <id> <data>")
		}
		err = d.onMember(args[:1], func(rn *RawNode) error { return rn.Propose([]byte(args[1])) })
	case "propose-conf-change":
		err = d.proposeConfChange(args)
	case "transfer-leader":
		if len(args) != 2 {
			return d.fail("usage: transfer-leader <from> <to>")
		}
		var to uint64
		if to, err = strconv.ParseUint(args[1], 10, 64); err == nil {
			err = d.onMember(args[:1], func(rn *RawNode) error { rn.TransferLeader(to); return nil })
		}
	case "read-index":
		if len(args) < 2 {
			return d.fail("usage: read-index <id> <ctx>...")
		}
		// All the requests arrive before the member's next Ready.
		err = d.onMember(args[:1], func(rn *RawNode) error {
			for _, ctx := range args[1:] {
				if err := rn.ReadIndex([]byte(ctx)); err != nil {
					return err
				}
			}
			return nil
		})
	case "tick":
		err = d.tick(args)
	case "stabilize":
		d.deliverAll(true)
	case "partition":
		err = d.partition(args)
	case "isolate":
		err = d.onMember(args, func(rn *RawNode) error { d.nw.isolate(rn.raft.id); return nil })
	case "heal":
		d.nw.recover()
	case "snapshot":
		err = d.onMember(args, d.snapshot)
	case "restart":
		err = d.onMember(args, func(rn *RawNode) error {
			id := rn.raft.id
			d.nw.restart(id)
			d.seen[id] = d.nw.nodes[id].raft.softState()
			d.printf("%d restarted: %s", id, d.nw.nodes[id].Status())
			return nil
		})
	case "status":
		err = d.status(args)
	case "log":
		err = d.onMember(args, func(rn *RawNode) error { d.printLog(rn); return nil })
	default:
		return d.fail("unknown command %q", name)
	}
	if err != nil {
		d.printf("error: %v", err)
	}
	if d.nw != nil {
		d.collect()
	}
	return d.out
}

func parseIDs(s string) ([]uint64, error) {
	var ids []uint64
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		id, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("bad member id %q", f)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// onMember runs f on the one member named by args.
func (d *scenarioDriver) onMember(args []string, f func(*RawNode) error) error {
	if len(args) != 1 {
		return fmt.Errorf("want one member id, got %v", args)
	}
	ids, err := parseIDs(args[0])
	if err != nil {
		return err
	}
	rn, ok := d.nw.nodes[ids[0]]
	if !ok {
		return fmt.Errorf("no member %d", ids[0])
	}
	return f(rn)
}

func (d *scenarioDriver) configOpts(args []string) (opts []func(*Config), learners []uint64, err error) {
	for _, a := range args {
		key, val, _ := strings.Cut(a, "=")
		n, _ := strconv.ParseUint(val, 10, 64)
		switch key {
		case "prevote":
			opts = append(opts, withPreVote)
		case "checkquorum":
			opts = append(opts, withCheckQuorum)
		case "learners":
			if learners, err = parseIDs(val); err != nil {
				return nil, nil, err
			}
		case "max-size":
			opts = append(opts, func(c *Config) { c.MaxSizePerMsg = n })
		case "max-inflight":
			opts = append(opts, func(c *Config) { c.MaxInflightMsgs = int(n) })
		case "voters":
		default:
			return nil, nil, fmt.Errorf("unknown option %q", a)
		}
	}
	return opts, learners, nil
}

func (d *scenarioDriver) addNodes(args []string) error {
	if len(args) < 1 {
		return fmt.Errorf("usage: add-nodes <n> [options]")
	}
	n, err := strconv.Atoi(args[0])
	if err != nil {
		return err
	}
	opts, learners, err := d.configOpts(args[1:])
	if err != nil {
		return err
	}
	d.nw = newTestNetworkWith(d.t, idsUpTo(n), learners, opts...)
	d.seen, d.term = map[uint64]SoftState{}, map[uint64]uint64{}
	d.nw.onReady = d.report
	for _, id := range sortedIDs(d.nw.nodes) {
		d.seen[id] = d.nw.nodes[id].raft.softState()
		d.printf("%d: %s", id, d.nw.nodes[id].Status())
	}
	return nil
}

func (d *scenarioDriver) addMember(args []string) error {
	if len(args) < 2 {
		return fmt.Errorf("usage: add-member <id> voters=<ids> [learners=<ids>]")
	}
	id, err := strconv.ParseUint(args[0], 10, 64)
	if err != nil {
		return err
	}
	var cs pb.ConfState
	for _, a := range args[1:] {
		key, val, _ := strings.Cut(a, "=")
		ids, err := parseIDs(val)
		if err != nil {
			return err
		}
		switch key {
		case "voters":
			cs.Voters = ids
		case "learners":
			cs.Learners = ids
		default:
			return fmt.Errorf("unknown option %q", a)
		}
	}
	d.nw.addMember(id, cs)
	d.seen[id] = d.nw.nodes[id].raft.softState()
	d.printf("%d: %s", id, d.nw.nodes[id].Status())
	return nil
}

func (d *scenarioDriver) proposeConfChange(args []string) error {
	if len(args) != 3 {
		return fmt.Errorf("usage: propose-conf-change <id> add|add-learner|remove <node>")
	}
	types := map[string]pb.ConfChangeType{
		"add":         pb.ConfChangeAddNode,
		"add-learner": pb.ConfChangeAddLearnerNode,
		"remove":      pb.ConfChangeRemoveNode,
	}
	typ, ok := types[args[1]]
	if !ok {
		return fmt.Errorf("unknown conf change %q", args[1])
	}
	node, err := strconv.ParseUint(args[2], 10, 64)
	if err != nil {
		return err
	}
	return d.onMember(args[:1], func(rn *RawNode) error {
		return rn.ProposeConfChange(pb.ConfChange{Type: typ, NodeID: node})
	})
}

func (d *scenarioDriver) partition(args []string) error {
	var groups [][]uint64
	for _, g := range strings.Split(strings.Join(args, " "), "|") {
		ids, err := parseIDs(g)
		if err != nil {
			return err
		}
		groups = append(groups, ids)
	}
	if len(groups) < 2 {
		return fmt.Errorf("usage: partition <ids> | <ids>")
	}
	for i, a := range groups {
		for _, b := range groups[i+1:] {
			for _, x := range a {
				for _, y := range b {
					d.nw.cut(x, y)
				}
			}
		}
	}
	return nil
}

func (d *scenarioDriver) tick(args []string) error {
	if len(args) < 1 {
		return fmt.Errorf("usage: tick <n> [ids...]")
	}
	n, err := strconv.Atoi(args[0])
	if err != nil {
		return err
	}
	ids := sortedIDs(d.nw.nodes)
	if len(args) > 1 {
		if ids, err = parseIDs(strings.Join(args[1:], " ")); err != nil {
			return err
		}
	}
	for i := 0; i < n; i++ {
		for _, id := range ids {
			d.nw.nodes[id].Tick()
		}
		d.collect()
		d.deliverAll(false)
	}
	return nil
}

// collect handles every member's Ready and queues the messages to send.
func (d *scenarioDriver) collect() {
	for _, id := range sortedIDs(d.nw.nodes) {
		d.inflight = append(d.inflight, d.nw.handleReady(id)...)
	}
}

// deliverAll delivers messages, and those they cause, until none is left.
// Unless verbose, heartbeats that are not part of a read are not printed.
func (d *scenarioDriver) deliverAll(verbose bool) {
	for round := 0; len(d.inflight) > 0; round++ {
		if round > 1000 {
			d.t.Fatal("messages keep flowing after 1000 rounds")
		}
		msgs := d.inflight
		d.inflight = nil
		for _, m := range msgs {
			quiet := !verbose && len(m.Context) == 0 && (m.Type == pb.MsgHeartbeat || m.Type == pb.MsgHeartbeatResp)
			delivered := d.nw.deliver(m)
			if !quiet {
				if delivered {
					d.printf("%s", DescribeMessage(m))
				} else {
					d.printf("%s (dropped)", DescribeMessage(m))
				}
			}
		}
		d.collect()
	}
}

// report prints what a member's Ready shows it did.
func (d *scenarioDriver) report(id uint64, rd Ready) {
	rn := d.nw.nodes[id]
	r := rn.raft
	if ss := r.softState(); ss != d.seen[id] || r.Term != d.term[id] {
		d.seen[id], d.term[id] = ss, r.Term
		d.printf("%d is %s at term %d, lead %d", id, ss.RaftState, r.Term, ss.Lead)
	}
	if !IsEmptySnap(rd.Snapshot) {
		m := rd.Snapshot.Metadata
		d.printf("%d restored snapshot %d/%d %s", id, m.Term, m.Index, describeConfState(m.ConfState))
	}
	if len(rd.CommittedEntries) > 0 {
		var ents []string
		confChanged := false
		for _, e := range rd.CommittedEntries {
			ents = append(ents, DescribeEntry(e))
			confChanged = confChanged || e.Type == pb.EntryConfChange
		}
		d.printf("%d applied %s", id, strings.Join(ents, ", "))
		if confChanged {
			d.printf("%d membership: %s", id, describeConfState(rn.Status().Config))
		}
	}
	for _, rs := range rd.ReadStates {
		d.printf("%d read %q at index %d", id, rs.RequestCtx, rs.Index)
	}
}

func (d *scenarioDriver) snapshot(rn *RawNode) error {
	id := rn.raft.id
	s := d.nw.storage[id]
	applied := rn.raft.raftLog.applied
	cs := rn.raft.trk.ConfState()
	snap, err := s.CreateSnapshot(applied, &cs, []byte(fmt.Sprintf("state of %d at %d", id, applied)))
	if err != nil {
		return err
	}
	if err := s.Compact(applied); err != nil {
		return err
	}
	d.printf("%d snapshot %d/%d %s; log compacted", id, snap.Metadata.Term, snap.Metadata.Index, describeConfState(cs))
	return nil
}

func (d *scenarioDriver) status(args []string) error {
	ids := sortedIDs(d.nw.nodes)
	if len(args) > 0 {
		var err error
		if ids, err = parseIDs(strings.Join(args, " ")); err != nil {
			return err
		}
	}
	for _, id := range ids {
		rn, ok := d.nw.nodes[id]
		if !ok {
			return fmt.Errorf("no member %d", id)
		}
		st := rn.Status()
		d.printf("%s", st)
		for _, pid := range sortedIDs(st.Progress) {
			pr := st.Progress[pid]
			d.printf("  %d: %s", pid, &pr)
		}
	}
	return nil
}

func (d *scenarioDriver) printLog(rn *RawNode) {
	l := rn.raft.raftLog
	d.printf("%d: first %d, last %d, committed %d, applied %d", rn.raft.id, l.firstIndex(), l.lastIndex(), l.committed, l.applied)
	for _, e := range l.allEntries() {
		d.printf("  %s", DescribeEntry(e))
	}
}

func describeConfState(cs pb.ConfState) string {
	return fmt.Sprintf("voters=%v learners=%v", cs.Voters, cs.Learners)
}
