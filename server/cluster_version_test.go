package server

import "testing"

// TestDecideClusterVersion: etcd's rule for the leader's cluster version.
func TestDecideClusterVersion(t *testing.T) {
	tests := []struct {
		current, minimal, want string
	}{
		{"", "", minClusterVersion}, // a member's version unknown: 3.0 for now
		{"", "3.7.0", "3.7.0"},      // first decision
		{"3.0.0", "3.7.0", "3.7.0"}, // raised once every member is known
		{"3.7.0", "", ""},           // a member unreachable: no change
		{"3.7.0", "3.7.0", ""},      // settled
		{"3.7.0", "3.6.0", ""},      // never lowered (downgrades are not built)
		{"3.6.0", "3.7.0", "3.7.0"},
	}
	for _, tt := range tests {
		if got := decideClusterVersion(tt.current, tt.minimal); got != tt.want {
			t.Errorf("decideClusterVersion(%q, %q) = %q, want %q", tt.current, tt.minimal, got, tt.want)
		}
	}
	for _, tt := range []struct{ in, want string }{{"3.7.3", "3.7.0"}, {"3.6", "3.6.0"}, {"4", "4.0.0"}} {
		if got := majorMinor0(tt.in); got != tt.want {
			t.Errorf("majorMinor0(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
