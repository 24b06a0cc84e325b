package embed

import (
	"strings"
	"testing"

	"github.com/basaltkv/basalt/pkg/flags"
	"github.com/basaltkv/basalt/server"
)

func TestParseFeatureGates(t *testing.T) {
	tests := []struct {
		in      string
		want    map[string]bool
		wantErr string
	}{
		{in: "", want: map[string]bool{GateFastLeaseKeepAlive: true, GateTxnModeWriteWithSharedBuffer: true, GateInitialCorruptCheck: false}},
		{in: "InitialCorruptCheck=true", want: map[string]bool{GateInitialCorruptCheck: true, GateCompactHashCheck: false}},
		{in: " CompactHashCheck = true ,,FastLeaseKeepAlive=false", want: map[string]bool{GateCompactHashCheck: true, GateFastLeaseKeepAlive: false}},
		{in: "AllBeta=false", want: map[string]bool{GateFastLeaseKeepAlive: false, GateTxnModeWriteWithSharedBuffer: false, GateLeaseCheckpoint: true}},
		{in: "LeaseCheckpoint=false", want: map[string]bool{GateLeaseCheckpoint: false}},
		{in: "AllAlpha=false", want: map[string]bool{GateLeaseCheckpoint: false, GateInitialCorruptCheck: false}},
		{in: "AllAlpha=true,SetMemberLocalAddr=false", want: map[string]bool{GateInitialCorruptCheck: true, GateStopGRPCServiceOnDefrag: true, GateSetMemberLocalAddr: false}},
		{in: "AllBeta=false,TxnModeWriteWithSharedBuffer=true", want: map[string]bool{GateTxnModeWriteWithSharedBuffer: true, GateFastLeaseKeepAlive: false}},
		{in: "NoSuchGate=true", wantErr: "unrecognized feature gate: NoSuchGate"},
		{in: "InitialCorruptCheck", wantErr: "missing bool value for InitialCorruptCheck"},
		{in: "InitialCorruptCheck=yes", wantErr: `invalid value of InitialCorruptCheck=yes, err: strconv.ParseBool: parsing "yes": invalid syntax`},
		{in: "SetMemberLocalAddr=true", want: map[string]bool{GateSetMemberLocalAddr: true}},
		{in: "AllAlpha=true", want: map[string]bool{GateSetMemberLocalAddr: true, GateCompactHashCheck: true, GateInitialCorruptCheck: true}},
		{in: "LeaseCheckpointPersist=true,LeaseCheckpoint=false", wantErr: "enabling feature gate LeaseCheckpointPersist requires enabling feature gate LeaseCheckpoint"},
		{in: "LeaseCheckpointPersist=true,LeaseCheckpoint=true", want: map[string]bool{GateLeaseCheckpoint: true, GateLeaseCheckpointPersist: true}},
	}
	for _, tt := range tests {
		fg, err := ParseFeatureGates(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
				t.Errorf("%q: got %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		for name, want := range tt.want {
			if got := fg.Enabled(name); got != want {
				t.Errorf("%q: %s = %v, want %v", tt.in, name, got, want)
			}
		}
	}
}

func TestInferLocalAddr(t *testing.T) {
	tests := []struct {
		name, gates string
		advertised  []string
		want        string
	}{
		{name: "gate off", gates: "", advertised: []string{"http://10.0.0.1:2380"}, want: ""},
		{name: "first suitable IP", gates: "SetMemberLocalAddr=true", advertised: []string{"http://127.0.0.1:2380", "http://0.0.0.0:2380", "http://host:2380", "http://10.0.0.1:2380", "http://10.0.0.2:2380"}, want: "10.0.0.1"},
		{name: "IPv6", gates: "AllAlpha=true", advertised: []string{"http://[::1]:2380", "http://[fd00::1]:2380"}, want: "fd00::1"},
		{name: "none suitable", gates: "SetMemberLocalAddr=true", advertised: []string{"http://localhost:2380", "http://127.0.0.2:2380"}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := NewConfig()
			cfg.FeatureGates = tt.gates
			us, err := flags.ParseURLs(tt.advertised)
			if err != nil {
				t.Fatal(err)
			}
			cfg.AdvertisePeerUrls = us
			if got := cfg.InferLocalAddr(nil); got != tt.want {
				t.Fatalf("InferLocalAddr = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestServerFeatures: the member reports every gate with its stage and
// value, AllAlpha and AllBeta with the value given.
func TestServerFeatures(t *testing.T) {
	fg, err := ParseFeatureGates("AllAlpha=true,SetMemberLocalAddr=false")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]server.Feature{}
	for _, f := range fg.serverFeatures() {
		got[f.Name] = f
	}
	want := []server.Feature{
		{Name: GateAllAlpha, Stage: "ALPHA", Enabled: true},
		{Name: GateAllBeta, Stage: "BETA", Enabled: false},
		{Name: GateInitialCorruptCheck, Stage: "ALPHA", Enabled: true},
		{Name: GateSetMemberLocalAddr, Stage: "ALPHA", Enabled: false},
		{Name: GateFastLeaseKeepAlive, Stage: "BETA", Enabled: true},
	}
	for _, w := range want {
		if got[w.Name] != w {
			t.Errorf("%s: %+v, want %+v", w.Name, got[w.Name], w)
		}
	}
	if len(got) != len(Gates())+2 {
		t.Errorf("%d features reported, want the %d gates and AllAlpha, AllBeta", len(got), len(Gates()))
	}
}
