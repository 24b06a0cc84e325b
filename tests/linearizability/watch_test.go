package linearizability

import (
	"strings"
	"testing"
)

func putEv(k int, v string, mod, create, ver int64) event {
	return event{Key: k, KV: kvState{Value: v, ModRev: mod, Create: create, Version: ver}}
}

func TestCheckWatch(t *testing.T) {
	ops := hist(
		row{0, 0, 1, putIn(0, "a"), output{Rev: 2}},
		row{0, 2, 3, putIn(0, "b"), output{Rev: 3}},
		row{1, 0, -1, putIn(1, "c"), unknown},
		row{0, 4, 5, input{Kind: opDelete, Keys: []int{0}}, output{Rev: 4, Deleted: 1}},
	)
	good := []event{putEv(0, "a", 2, 2, 1), putEv(0, "b", 3, 2, 2), {Delete: true, Key: 0, KV: kvState{ModRev: 4}}}
	if _, errs := checkWatch(good, ops, 4); len(errs) != 0 {
		t.Fatalf("a complete stream: %v", errs)
	}
	withUnknown := []event{putEv(0, "a", 2, 2, 1), putEv(1, "c", 3, 3, 1), putEv(0, "b", 4, 2, 2)}
	opsUnknownFirst := hist(
		row{0, 0, 1, putIn(0, "a"), output{Rev: 2}},
		row{1, 0, -1, putIn(1, "c"), unknown},
		row{0, 2, 3, putIn(0, "b"), output{Rev: 4}},
	)
	s, errs := checkWatch(withUnknown, opsUnknownFirst, 4)
	if len(errs) != 0 || s.KVs[1].Value != "c" {
		t.Fatalf("an unknown put delivered: %v, %s", errs, describeState(s))
	}
	resolved, settled, dropped := resolveUnknown(opsUnknownFirst, withUnknown)
	if settled != 1 || dropped != 0 || resolved[1].Output.(output).Rev != 3 {
		t.Fatalf("resolveUnknown: settled %d dropped %d %+v", settled, dropped, resolved)
	}
	if _, settled, dropped := resolveUnknown(ops, good); settled != 0 || dropped != 1 {
		t.Fatalf("resolveUnknown of an undelivered put: settled %d dropped %d", settled, dropped)
	}

	for name, tc := range map[string]struct {
		events []event
		want   string
	}{
		"gap":               {[]event{putEv(0, "b", 3, 3, 1), {Delete: true, Key: 0, KV: kvState{ModRev: 4}}}, "missing"},
		"duplicate":         {[]event{putEv(0, "a", 2, 2, 1), putEv(0, "a", 2, 2, 1), putEv(0, "b", 3, 2, 2), {Delete: true, Key: 0, KV: kvState{ModRev: 4}}}, "twice"},
		"out of order":      {[]event{putEv(0, "b", 3, 2, 2), putEv(0, "a", 2, 2, 1), {Delete: true, Key: 0, KV: kvState{ModRev: 4}}}, "after revision"},
		"wrong revision":    {[]event{putEv(0, "a", 2, 2, 1), putEv(0, "b", 4, 2, 2)}, "acknowledged at revision 3"},
		"phantom value":     {[]event{putEv(0, "a", 2, 2, 1), putEv(0, "z", 3, 2, 2), {Delete: true, Key: 0, KV: kvState{ModRev: 4}}}, "no put of the history"},
		"lost delete":       {[]event{putEv(0, "a", 2, 2, 1), putEv(0, "b", 3, 2, 2)}, "delete of k0 at revision 4 never delivered"},
		"wrong version":     {[]event{putEv(0, "a", 2, 2, 1), putEv(0, "b", 3, 2, 1), {Delete: true, Key: 0, KV: kvState{ModRev: 4}}}, "want"},
		"lost acknowledged": {[]event{putEv(0, "a", 2, 2, 1)}, "never delivered"},
	} {
		_, errs := checkWatch(tc.events, ops, 4)
		if !strings.Contains(strings.Join(errs, "\n"), tc.want) {
			t.Errorf("%s: errors %q, want one with %q", name, errs, tc.want)
		}
	}
}
