package embed

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/basaltkv/basalt/server"
)

// Feature gates: etcd 3.7's server gates, set with --feature-gates (or
// the config file's feature-gates) in etcd's syntax, "Name=bool,...".
// AllAlpha and AllBeta set every alpha or beta gate not named. Each gate
// does in basalt what it does in etcd; a value basalt cannot honour is
// refused at start rather than ignored.

// Gate is one feature gate.
type Gate struct {
	Name    string
	Default bool
	// Stage is etcd's: ALPHA or BETA.
	Stage string
	// Help says what the gate does in basalt.
	Help string
}

// The gate names, as etcd's.
const (
	GateAllAlpha                     = "AllAlpha"
	GateAllBeta                      = "AllBeta"
	GateCompactHashCheck             = "CompactHashCheck"
	GateFastLeaseKeepAlive           = "FastLeaseKeepAlive"
	GateInitialCorruptCheck          = "InitialCorruptCheck"
	GateLeaseCheckpoint              = "LeaseCheckpoint"
	GateLeaseCheckpointPersist       = "LeaseCheckpointPersist"
	GatePriorityRequest              = "PriorityRequest"
	GateSetMemberLocalAddr           = "SetMemberLocalAddr"
	GateStopGRPCServiceOnDefrag      = "StopGRPCServiceOnDefrag"
	GateTxnModeWriteWithSharedBuffer = "TxnModeWriteWithSharedBuffer"
)

// gates are etcd 3.7's server gates with its defaults and stages, but
// for LeaseCheckpoint, on by default in basalt (see docs/design.md,
// Leases): a leader change must not hand a lease back its full TTL.
var gates = []Gate{
	{Name: GateCompactHashCheck, Stage: "ALPHA", Help: "the leader compares the hashes stored at compactions with its peers' every --compact-hash-check-time"},
	{Name: GateFastLeaseKeepAlive, Default: true, Stage: "BETA", Help: "the leader renews a lease it knows without waiting for the applied index to catch up"},
	{Name: GateInitialCorruptCheck, Stage: "ALPHA", Help: "a restarted member compares its data with its peers' before it serves"},
	{Name: GateLeaseCheckpoint, Default: true, Stage: "ALPHA", Help: "the leader checkpoints leases' remaining TTLs, which a new leader starts them from (on by default in basalt; etcd's default is false)"},
	{Name: GateLeaseCheckpointPersist, Stage: "ALPHA", Help: "checkpoints are persisted; as in etcd 3.6 and later they are, whatever its value"},
	{Name: GatePriorityRequest, Stage: "ALPHA", Help: "lease revocations are accepted further behind the commit index than other requests"},
	{Name: GateSetMemberLocalAddr, Stage: "ALPHA", Help: "connections to peers come from the first advertised peer URL whose host is an IP address neither loopback nor unspecified"},
	{Name: GateStopGRPCServiceOnDefrag, Stage: "ALPHA", Help: "the gRPC health service reports NOT_SERVING while a defragmentation runs"},
	{Name: GateTxnModeWriteWithSharedBuffer, Default: true, Stage: "BETA", Help: "an etcd write-buffer strategy; basalt's transactions behave alike either way"},
}

// Gates lists the feature gates.
func Gates() []Gate { return slices.Clone(gates) }

func lookupGate(name string) (Gate, bool) {
	i := slices.IndexFunc(gates, func(g Gate) bool { return g.Name == name })
	if i < 0 {
		return Gate{}, false
	}
	return gates[i], true
}

// FeatureGates are the gates' values.
type FeatureGates map[string]bool

// Enabled reports a gate's value (its default if not set).
func (fg FeatureGates) Enabled(name string) bool {
	if v, ok := fg[name]; ok {
		return v
	}
	g, _ := lookupGate(name)
	return g.Default
}

// ParseFeatureGates reads "Name=bool,..." as etcd does, with etcd's
// errors.
func ParseFeatureGates(s string) (FeatureGates, error) {
	fg, err := parseFeatureGates(s)
	if err != nil {
		return nil, err
	}
	if fg.Enabled(GateLeaseCheckpointPersist) && !fg.Enabled(GateLeaseCheckpoint) {
		return nil, fmt.Errorf("enabling feature gate LeaseCheckpointPersist requires enabling feature gate LeaseCheckpoint")
	}
	return fg, nil
}

// CheckFeatureGatesSyntax is what the --feature-gates flag checks when it
// is set: the syntax and the gate names (etcd's flag errors).
func CheckFeatureGatesSyntax(s string) error {
	_, err := parseFeatureGates(s)
	return err
}

// parseFeatureGates returns the gates' values.
func parseFeatureGates(s string) (FeatureGates, error) {
	set := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		if part == "" {
			continue
		}
		kv := strings.SplitN(part, "=", 2)
		k := strings.TrimSpace(kv[0])
		if len(kv) != 2 {
			return nil, fmt.Errorf("missing bool value for %s", k)
		}
		v := strings.TrimSpace(kv[1])
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("invalid value of %s=%s, err: %v", k, v, err)
		}
		if _, ok := lookupGate(k); !ok && k != GateAllAlpha && k != GateAllBeta {
			return nil, fmt.Errorf("unrecognized feature gate: %s", k)
		}
		set[k] = b
	}
	fg := FeatureGates{}
	// AllAlpha and AllBeta keep their own values, which etcd reports.
	for _, all := range []string{GateAllAlpha, GateAllBeta} {
		if v, ok := set[all]; ok {
			fg[all] = v
		}
	}
	for _, g := range gates {
		if v, ok := set[g.Name]; ok {
			fg[g.Name] = v
			continue
		}
		if v, ok := set[GateAllAlpha]; ok && g.Stage == "ALPHA" {
			fg[g.Name] = v
		}
		if v, ok := set[GateAllBeta]; ok && g.Stage == "BETA" {
			fg[g.Name] = v
		}
	}
	return fg, nil
}

// serverFeatures are the gates' values with their stages, AllAlpha and
// AllBeta first, for the member's etcd_server_feature_enabled.
func (fg FeatureGates) serverFeatures() []server.Feature {
	fs := []server.Feature{
		{Name: GateAllAlpha, Stage: "ALPHA", Enabled: fg[GateAllAlpha]},
		{Name: GateAllBeta, Stage: "BETA", Enabled: fg[GateAllBeta]},
	}
	for _, g := range gates {
		fs = append(fs, server.Feature{Name: g.Name, Stage: g.Stage, Enabled: fg.Enabled(g.Name)})
	}
	return fs
}

// FeatureGatesHelp describes the gates for --help.
func FeatureGatesHelp() string {
	var b strings.Builder
	b.WriteString("key=value pairs of server feature gates (etcd's); options are:")
	for _, g := range []string{GateAllAlpha, GateAllBeta} {
		stage := "ALPHA"
		if g == GateAllBeta {
			stage = "BETA"
		}
		fmt.Fprintf(&b, "\n        %s=true|false (%s - default=false): every %s gate not named", g, stage, strings.ToLower(stage))
	}
	for _, g := range gates {
		fmt.Fprintf(&b, "\n        %s=true|false (%s - default=%v): %s", g.Name, g.Stage, g.Default, g.Help)
	}
	return b.String()
}
