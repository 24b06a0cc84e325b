package embed

import (
	"strings"
	"testing"
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
		{in: "SetMemberLocalAddr=true", wantErr: "basalt: --feature-gates=SetMemberLocalAddr=true is not supported yet"},
		{in: "AllAlpha=true", wantErr: "basalt: --feature-gates=SetMemberLocalAddr=true is not supported yet (dialing peers from the advertised address is not built; AllAlpha=true turns it on: add SetMemberLocalAddr=false)"},
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
