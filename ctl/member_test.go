package ctl_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/basaltkv/basalt/tests/e2e"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"
)

// startEtcd runs Debian's etcd 3.4 as a one-member cluster named e0 and
// returns its client URL, its peer URL and a client: the member commands
// run against it and against basalt, and basalt refuses authentication
// for now, so the user, role and auth commands are tested against etcd.
func startEtcd(t *testing.T) (string, string, *clientv3.Client) {
	t.Helper()
	e := e2e.StartEtcd(t, "the member change and auth commands are tested against a real etcd")
	return e.ClientURL, e.PeerURL, e.Client
}

// learnerID is the ID of the cluster's learner, or 0.
func learnerID(t *testing.T, cli *clientv3.Client) uint64 {
	t.Helper()
	resp, err := cli.MemberList(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range resp.Members {
		if m.IsLearner {
			return m.ID
		}
	}
	return 0
}

// startBasalt runs a one-member basalt cluster, as startEtcd does etcd.
func startBasalt(t *testing.T) (string, string, *clientv3.Client) {
	t.Helper()
	c := e2e.NewCluster(t, 1, nil)
	m := c.Members[0]
	return m.ClientURL(), m.PeerURL(), client(t, m.ClientURL())
}

// TestMemberChanges runs one scenario of member commands against etcd and
// against basalt: the same output, errors and exit codes.
func TestMemberChanges(t *testing.T) {
	for _, server := range []struct {
		name  string
		start func(*testing.T) (string, string, *clientv3.Client)
	}{{"etcd", startEtcd}, {"basalt", startBasalt}} {
		t.Run(server.name, func(t *testing.T) { memberChanges(t, server.start) })
	}
}

func memberChanges(t *testing.T, start func(*testing.T) (string, string, *clientv3.Client)) {
	ep, peerURL, cli := start(t)
	ctl := func(args ...string) result {
		return runCtl(t, ctlPath(), append([]string{"--endpoints", ep}, args...), "", nil, 30*time.Second)
	}
	list, err := cli.MemberList(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	cid, e0, name0 := list.Header.ClusterId, list.Members[0].ID, list.Members[0].Name
	// Each add has peer URLs of its own: etcd derives a new member's ID from
	// them and the time in seconds, and refuses the ID of a removed member.
	nextPeer := 10
	peer := func() string {
		nextPeer++
		return fmt.Sprintf("http://127.0.0.1:%d", nextPeer)
	}
	newPeer, movedPeer := peer(), peer()

	// simple: the sentence and the new member's environment.
	r := ctl("member", "add", "new1", "--peer-urls="+newPeer, "--learner")
	id := learnerID(t, cli)
	if id == 0 {
		t.Fatalf("member add --learner added no learner: %+v", r)
	}
	initial := fmt.Sprintf("%s=%s,new1=%s", name0, peerURL, newPeer)
	if id < e0 {
		initial = fmt.Sprintf("new1=%s,%s=%s", newPeer, name0, peerURL)
	}
	want := fmt.Sprintf("Member %16x added as learner to cluster %16x\n\nETCD_NAME=\"new1\"\nETCD_INITIAL_CLUSTER=%q\nETCD_INITIAL_ADVERTISE_PEER_URLS=%q\nETCD_INITIAL_CLUSTER_STATE=\"existing\"\n",
		id, cid, initial, newPeer)
	if r.code != 0 || r.stdout != want || errorLine(r.stderr) != "" {
		t.Fatalf("member add: got %+v, want stdout\n%s", r, want)
	}
	sid := fmt.Sprintf("%x", id)
	// A learner that never started cannot be promoted.
	r = ctl("member", "promote", sid)
	if r.code != 1 || errorLine(r.stderr) != "Error: etcdserver: can only promote a learner member which is in sync with leader" {
		t.Errorf("member promote of an unstarted learner: %+v", r)
	}
	r = ctl("member", "update", sid, "--peer-urls="+movedPeer)
	if want := fmt.Sprintf("Member %16x updated in cluster %16x\n", id, cid); r.code != 0 || r.stdout != want {
		t.Errorf("member update: got %+v, want %q", r, want)
	}
	r = ctl("member", "remove", sid)
	if want := fmt.Sprintf("Member %16x removed from cluster %16x\n", id, cid); r.code != 0 || r.stdout != want {
		t.Errorf("member remove: got %+v, want %q", r, want)
	}
	if learnerID(t, cli) != 0 {
		t.Fatal("member remove left the learner in place")
	}

	// json, json --hex and protobuf carry the response message.
	for _, format := range [][]string{{"-w", "json"}, {"-w", "json", "--hex"}, {"-w", "protobuf"}} {
		r := ctl(append([]string{"member", "add", "new2", "--peer-urls=" + peer(), "--learner"}, format...)...)
		id := learnerID(t, cli)
		if r.code != 0 || id == 0 {
			t.Fatalf("member add %v: %+v", format, r)
		}
		var got pb.MemberAddResponse
		switch {
		case format[1] == "protobuf":
			if err := proto.Unmarshal([]byte(r.stdout), &got); err != nil {
				t.Fatalf("member add %v: %v", format, err)
			}
		case len(format) == 3:
			var hex struct {
				Header struct {
					ClusterID string `json:"cluster_id"`
				} `json:"header"`
				Member struct {
					ID        string `json:"ID"`
					IsLearner bool   `json:"isLearner"`
				} `json:"member"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &hex); err != nil {
				t.Fatalf("member add %v: %v in %q", format, err, r.stdout)
			}
			if hex.Header.ClusterID != fmt.Sprintf("%x", cid) || hex.Member.ID != fmt.Sprintf("%x", id) || !hex.Member.IsLearner {
				t.Errorf("member add %v: %s", format, r.stdout)
			}
			got = pb.MemberAddResponse{Header: &pb.ResponseHeader{ClusterId: cid}, Member: &pb.Member{ID: id}, Members: make([]*pb.Member, 2)}
		default:
			if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
				t.Fatalf("member add %v: %v in %q", format, err, r.stdout)
			}
		}
		if got.Header.GetClusterId() != cid || got.Member.GetID() != id || len(got.Members) != 2 {
			t.Errorf("member add %v: got %v", format, &got)
		}
		sid := fmt.Sprintf("%x", id)
		for _, sub := range [][]string{{"update", sid, "--peer-urls=" + peer()}, {"remove", sid}} {
			r := ctl(append(append([]string{"member"}, sub...), format...)...)
			if r.code != 0 || r.stdout == "" || errorLine(r.stderr) != "" {
				t.Errorf("member %v %v: %+v", sub, format, r)
			}
			if format[1] == "json" && !strings.Contains(r.stdout, `"members":[`) {
				t.Errorf("member %v %v: no members in %s", sub, format, r.stdout)
			}
		}
	}

	// fields and table have no form for a member change: the change is
	// made, then the command fails as etcdctl does.
	for _, format := range []string{"fields", "table"} {
		r := ctl("member", "add", "new3", "--peer-urls="+peer(), "--learner", "-w", format)
		want := "Error: " + format + " not supported as output format"
		if r.code != 4 || r.stdout != "" || errorLine(r.stderr) != want {
			t.Errorf("member add -w %s: got %+v, want exit 4 and %q", format, r, want)
		}
		id := learnerID(t, cli)
		if id == 0 {
			t.Fatalf("member add -w %s added no learner", format)
		}
		r = ctl("member", "remove", fmt.Sprintf("%x", id), "-w", format)
		if r.code != 4 || errorLine(r.stderr) != want {
			t.Errorf("member remove -w %s: got %+v", format, r)
		}
	}

	// Errors: etcdctl's argument checks and the server's refusals.
	for _, tc := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{a("member", "add"), 128, "Error: member name not provided\n"},
		{a("member", "add", "x", "http://127.0.0.1:3"), 128, "Error: too many arguments, did you mean --peer-urls=http://127.0.0.1:3\n"},
		{a("member", "add", "x"), 128, "Error: member peer urls not provided\n"},
		{a("member", "remove"), 128, "Error: member ID is not provided\n"},
		{a("member", "remove", "xyz"), 128, "Error: bad member ID arg (strconv.ParseUint: parsing \"xyz\": invalid syntax), expecting ID in Hex\n"},
		{a("member", "update", "1"), 128, "Error: member peer urls not provided\n"},
		{a("member", "promote"), 128, "Error: member ID is not provided\n"},
		{a("member", "remove", "1234"), 1, "Error: etcdserver: member not found\n"},
		{a("member", "promote", fmt.Sprintf("%x", e0)), 1, "Error: etcdserver: can only promote a learner member\n"},
		{a("member", "add", "dup", "--peer-urls="+peerURL, "--learner"), 1, "Error: etcdserver: Peer URLs already exists\n"},
	} {
		r := ctl(tc.args...)
		if r.code != tc.code || errorLine(r.stderr)+"\n" != tc.stderr || r.stdout != "" {
			t.Errorf("%q: got %+v, want exit %d and %q", tc.args, r, tc.code, tc.stderr)
		}
	}

	// Last, as it leaves the cluster without quorum: a voter.
	r = ctl("member", "add", "v", "--peer-urls="+peer())
	if r.code != 0 || !strings.HasPrefix(r.stdout, "Member ") || !strings.Contains(r.stdout, fmt.Sprintf(" added to cluster %16x\n\nETCD_NAME=\"v\"\n", cid)) {
		t.Errorf("member add of a voter: %+v", r)
	}
}
