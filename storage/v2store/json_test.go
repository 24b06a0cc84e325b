package v2store

import (
	"encoding/json"
	"testing"
	"time"
)

// plainEvent and plainNode are Event and NodeExtern without their
// MarshalJSON: encoding/json's own encoding, the reference.
type plainEvent struct {
	Action   string     `json:"action"`
	Node     *plainNode `json:"node,omitempty"`
	PrevNode *plainNode `json:"prevNode,omitempty"`
	Refresh  bool       `json:"refresh,omitempty"`
}

type plainNode struct {
	Key           string       `json:"key,omitempty"`
	Value         *string      `json:"value,omitempty"`
	Dir           bool         `json:"dir,omitempty"`
	Expiration    *time.Time   `json:"expiration,omitempty"`
	TTL           int64        `json:"ttl,omitempty"`
	Nodes         []*plainNode `json:"nodes,omitempty"`
	ModifiedIndex uint64       `json:"modifiedIndex,omitempty"`
	CreatedIndex  uint64       `json:"createdIndex,omitempty"`
}

func plainOf(n *NodeExtern) *plainNode {
	if n == nil {
		return nil
	}
	p := &plainNode{Key: n.Key, Value: n.Value, Dir: n.Dir, Expiration: n.Expiration, TTL: n.TTL, ModifiedIndex: n.ModifiedIndex, CreatedIndex: n.CreatedIndex}
	for _, c := range n.Nodes {
		p.Nodes = append(p.Nodes, plainOf(c))
	}
	return p
}

func checkJSON(t *testing.T, e *Event) {
	t.Helper()
	got, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	want, err := json.Marshal(plainEvent{Action: e.Action, Node: plainOf(e.Node), PrevNode: plainOf(e.PrevNode), Refresh: e.Refresh})
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("encoding/json: %s\nours:          %s", want, got)
	}
}

func TestEventJSONIsEncodingJSONs(t *testing.T) {
	str := func(s string) *string { return &s }
	exp := time.Date(2026, 12, 8, 1, 2, 3, 456789000, time.UTC)
	for _, e := range []*Event{
		{Action: Get},
		{Action: Set, Node: &NodeExtern{Key: "/a", Value: str(""), ModifiedIndex: 1, CreatedIndex: 1}},
		{Action: Update, Refresh: true, Node: &NodeExtern{Key: "/d", Dir: true, Expiration: &exp, TTL: 5, ModifiedIndex: 9, CreatedIndex: 2},
			PrevNode: &NodeExtern{Key: "/d", Dir: true, ModifiedIndex: 2, CreatedIndex: 2}},
		{Action: Get, Node: &NodeExtern{Dir: true, Nodes: []*NodeExtern{{Key: "/x", Value: str("1")}, {Key: "/y", Dir: true, Nodes: []*NodeExtern{}}}}},
		{Action: Set, Node: &NodeExtern{Key: "/q\"\\<>&\u2028\u2029\x00\x1f\b\f\n\r\t é \xff\xfe", Value: str("\u00e9\U0001F600</script>")}},
		{Action: Expire, Node: &NodeExtern{Key: "/t", TTL: -3}},
	} {
		checkJSON(t, e)
	}
}

func FuzzEventJSON(f *testing.F) {
	f.Add("/a", "v", int64(3), uint64(4))
	f.Add("/\x00<&>", "\xff\u2028", int64(-1), uint64(0))
	f.Fuzz(func(t *testing.T, key, value string, ttl int64, index uint64) {
		checkJSON(t, &Event{Action: key, Node: &NodeExtern{Key: key, Value: &value, TTL: ttl, ModifiedIndex: index, Nodes: []*NodeExtern{{Key: value}}}})
	})
}
