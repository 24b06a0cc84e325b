package e2e

import "testing"

// TestInitialElectionTickAdvance checks etcd's fast-forward of the
// election timer at boot: always for a single member; for a cluster once
// peers are connected, unless --initial-election-tick-advance=false.
func TestInitialElectionTickAdvance(t *testing.T) {
	tests := []struct {
		name    string
		size    int
		args    []string
		wantLog string
	}{
		{"single member", 1, nil, "started as single-node; fast-forwarding election ticks"},
		{"cluster", 3, nil, "initialized peer connections; fast-forwarding election ticks"},
		{"cluster, disabled", 3, []string{"--initial-election-tick-advance=false"}, "skipping initial election tick advance"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewCluster(t, tt.size, &Options{Args: tt.args})
			for _, m := range c.Members {
				if err := m.Process().WaitOutput(tt.wantLog, opTimeout); err != nil {
					t.Errorf("%s: %v", m.Name, err)
				}
			}
			putGet(t, c.Client(t), "k", "v")
		})
	}
}
