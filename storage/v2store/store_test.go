package v2store

import (
	"encoding/json"
	"testing"
	"time"
)

func newTestStore(now time.Time) *Store {
	s := New("/0", "/1")
	s.SetClock(func() time.Time { return now })
	return s
}

func TestStoreOperations(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := newTestStore(now)
	type op func() (*Event, error)
	tests := []struct {
		name       string
		do         op
		wantAction string
		wantIndex  uint64
		wantCode   int
	}{
		{"set", func() (*Event, error) { return s.Set("/1/a", false, "1", TTLOptions{}) }, Set, 1, 0},
		{"create exists", func() (*Event, error) { return s.Create("/1/a", false, "2", false, TTLOptions{}) }, "", 0, EcodeNodeExist},
		{"update", func() (*Event, error) { return s.Update("/1/a", "2", TTLOptions{}) }, Update, 2, 0},
		{"cas value", func() (*Event, error) { return s.CompareAndSwap("/1/a", "2", 0, "3", TTLOptions{}) }, CompareAndSwap, 3, 0},
		{"cas fails", func() (*Event, error) { return s.CompareAndSwap("/1/a", "x", 0, "4", TTLOptions{}) }, "", 0, EcodeTestFailed},
		{"key is not a dir", func() (*Event, error) { return s.Set("/1/a/b", false, "x", TTLOptions{}) }, "", 0, EcodeNotDir},
		{"in-order", func() (*Event, error) { return s.Create("/1/q", false, "j", true, TTLOptions{}) }, Create, 4, 0},
		{"dir", func() (*Event, error) { return s.Set("/1/d", true, "", TTLOptions{}) }, Set, 5, 0},
		{"dir not a file", func() (*Event, error) { return s.Set("/1/d", false, "x", TTLOptions{}) }, "", 0, EcodeNotFile},
		{"delete dir needs dir", func() (*Event, error) { return s.Delete("/1/d", false, false) }, "", 0, EcodeNotFile},
		{"root read-only", func() (*Event, error) { return s.Delete("/1", true, true) }, "", 0, EcodeRootROnly},
		{"cad", func() (*Event, error) { return s.CompareAndDelete("/1/a", "3", 3) }, CompareAndDelete, 6, 0},
		{"get missing", func() (*Event, error) { return s.Get("/1/a", false, false) }, "", 0, EcodeKeyNotFound},
		{"delete dir", func() (*Event, error) { return s.Delete("/1/d", true, false) }, Delete, 7, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := tc.do()
			if tc.wantCode != 0 {
				e, ok := err.(*Error)
				if !ok || e.ErrorCode != tc.wantCode {
					t.Fatalf("error %v, want code %d", err, tc.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ev.Action != tc.wantAction || ev.Index() != tc.wantIndex || ev.EtcdIndex != tc.wantIndex {
				t.Fatalf("event %s at %d (etcd index %d), want %s at %d", ev.Action, ev.Index(), ev.EtcdIndex, tc.wantAction, tc.wantIndex)
			}
		})
	}
	if got := s.Index(); got != 7 {
		t.Fatalf("index %d, want 7", got)
	}
	if ev, err := s.Get("/1/q", true, true); err != nil || len(ev.Node.Nodes) != 1 || ev.Node.Nodes[0].Key != "/1/q/00000000000000000004" {
		t.Fatalf("in-order key: %+v %v", ev, err)
	}
}

func TestStoreTTLExpiresOnlyWhenToldTo(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := newTestStore(now)
	if _, err := s.Set("/1/t", false, "v", TTLOptions{ExpireTime: now.Add(1500 * time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	ev, err := s.Get("/1/t", false, false)
	if err != nil || ev.Node.TTL != 2 || ev.Node.Expiration == nil {
		t.Fatalf("ttl shown %+v %v, want 2 (rounded up)", ev, err)
	}
	w, err := s.Watch("/1/t", false, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	s.DeleteExpiredKeys(now.Add(time.Second))
	if !s.HasTTLKeys() {
		t.Fatal("expired before its time")
	}
	s.DeleteExpiredKeys(now.Add(2 * time.Second))
	if s.HasTTLKeys() {
		t.Fatal("not expired")
	}
	got := <-w.EventChan()
	if got.Action != Expire || got.Index() != 2 || got.PrevNode == nil || *got.PrevNode.Value != "v" {
		t.Fatalf("watcher got %+v", got)
	}
}

func TestWatchFromHistoryAndCleared(t *testing.T) {
	s := newTestStore(time.Now())
	for range historyCapacity + 5 {
		if _, err := s.Set("/1/k", false, "v", TTLOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Watch("/1/k", false, false, 3); err == nil || err.(*Error).ErrorCode != EcodeEventIndexCleared {
		t.Fatalf("watch of a cleared index: %v", err)
	}
	w, err := s.Watch("/1", true, false, 10)
	if err != nil {
		t.Fatal(err)
	}
	if ev := <-w.EventChan(); ev.Index() != 10 || ev.EtcdIndex != historyCapacity+5 {
		t.Fatalf("from history: %d (etcd index %d)", ev.Index(), ev.EtcdIndex)
	}
}

func TestHiddenNodesAreNotWatchedOrListed(t *testing.T) {
	s := newTestStore(time.Now())
	w, err := s.Watch("/1/d", true, true, 0)
	if err != nil {
		t.Fatal(err)
	}
	s.Set("/1/d/_h", false, "h", TTLOptions{})
	s.Set("/1/d/v", false, "v", TTLOptions{})
	if ev := <-w.EventChan(); ev.Node.Key != "/1/d/v" {
		t.Fatalf("recursive watcher got %s", ev.Node.Key)
	}
	ev, err := s.Get("/1/d", true, true)
	if err != nil || len(ev.Node.Nodes) != 1 {
		t.Fatalf("listing %+v %v", ev, err)
	}
}

func TestSaveRecover(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := newTestStore(now)
	s.Set("/1/a/b", false, "1", TTLOptions{})
	s.Set("/1/t", false, "2", TTLOptions{ExpireTime: now.Add(time.Minute)})
	s.Create("/1/q", false, "j", true, TTLOptions{})
	membership := New("/0", "/1")
	membership.Set("/0/version", false, "3.7.0", TTLOptions{})
	memberJSON, err := membership.Save()
	if err != nil {
		t.Fatal(err)
	}
	data, err := s.SaveWith(memberJSON, "/0")
	if err != nil {
		t.Fatal(err)
	}
	r := newTestStore(now)
	if err := r.Recover(data); err != nil {
		t.Fatal(err)
	}
	if r.Index() != s.Index() || !r.HasTTLKeys() {
		t.Fatalf("index %d ttl keys %v", r.Index(), r.HasTTLKeys())
	}
	for _, k := range []string{"/1/a/b", "/1/t", "/0/version"} {
		if _, err := r.Get(k, false, false); err != nil {
			t.Fatalf("%s: %v", k, err)
		}
	}
	// The history came along: a watch from index 1 is answered from it.
	w, err := r.Watch("/1", true, false, 1)
	if err != nil {
		t.Fatal(err)
	}
	if ev := <-w.EventChan(); ev.Node.Key != "/1/a/b" {
		t.Fatalf("history: %+v", ev)
	}
	// The saved form has etcd's top-level fields.
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"Root", "WatcherHub", "CurrentIndex", "Stats", "CurrentVersion"} {
		if _, ok := top[f]; !ok {
			t.Errorf("saved store lacks %s", f)
		}
	}
	r.DeleteExpiredKeys(now.Add(2 * time.Minute))
	if _, err := r.Get("/1/t", false, false); err == nil {
		t.Fatal("recovered TTL did not expire")
	}
}
