package linearizability

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/anishathalye/porcupine"
)

// numKeys is the size of the key set the traffic uses. The model keeps the
// whole store (every key and the global revision) in one state, so a
// history is checked as one partition: a put's revision, a read's header
// revision and multi-key transactions all constrain one another.
const numKeys = 8

// keyPrefix is the prefix of every key the traffic writes; watchers watch
// it whole.
const keyPrefix = "/lin/"

// keyName is the name of key i.
func keyName(i int) string { return keyPrefix + "k" + strconv.Itoa(i) }

// keyIndex is the index of a key name, or -1 if it is none of ours.
func keyIndex(name string) int {
	s, ok := strings.CutPrefix(name, keyPrefix+"k")
	if !ok {
		return -1
	}
	i, err := strconv.Atoi(s)
	if err != nil || i < 0 || i >= numKeys {
		return -1
	}
	return i
}

// kvState is one key as a range returns it; the zero value is an absent
// key.
type kvState struct {
	Value   string
	ModRev  int64
	Create  int64
	Version int64
	Lease   int64
}

func (kv kvState) exists() bool { return kv.ModRev != 0 }

// state is the whole store: the revision, every key, and the leases that
// exist (sorted, comma-separated decimal IDs, so that state stays
// comparable with ==).
type state struct {
	Rev    int64
	KVs    [numKeys]kvState
	Leases string
}

func (s state) leaseIDs() []int64 {
	if s.Leases == "" {
		return nil
	}
	var ids []int64
	for _, f := range strings.Split(s.Leases, ",") {
		id, _ := strconv.ParseInt(f, 10, 64)
		ids = append(ids, id)
	}
	return ids
}

func (s state) hasLease(id int64) bool { return slices.Contains(s.leaseIDs(), id) }

func (s state) withLeases(ids []int64) state {
	slices.Sort(ids)
	ids = slices.Compact(ids)
	fs := make([]string, len(ids))
	for i, id := range ids {
		fs[i] = strconv.FormatInt(id, 10)
	}
	s.Leases = strings.Join(fs, ",")
	return s
}

// opKind names an operation of the traffic.
type opKind int

const (
	opGet      opKind = iota // linearizable range of one key
	opRangeAll               // linearizable range of every key
	opPut                    // put, with a lease when Lease != 0
	opDelete                 // delete one key
	opCAS                    // txn: if mod_revision(key) == ExpectRev then put else get
	opMultiTxn               // txn: if mod_revision of two keys match then put both else get both
	opLeaseGrant
	opLeaseRevoke
)

var opNames = [...]string{"get", "range", "put", "delete", "cas", "txn2", "grant", "revoke"}

func (k opKind) String() string { return opNames[k] }

// input is what a client asked. Keys index the key set; Values are unique
// across the history (client and sequence number) so that a value names
// the put that wrote it.
type input struct {
	Kind       opKind
	Keys       []int
	Values     []string
	ExpectRevs []int64
	Lease      int64
}

// output is what the server answered. Unknown marks an operation whose
// outcome the client never learned (timeout, lost connection): the model
// accepts whatever the operation would have done, and its return time is
// the end of the history, so the checker may also place it after
// everything (which is the same as it never taking effect).
type output struct {
	Unknown bool
	// Err is a definite failure the model must reproduce (lease not
	// found); any other error makes the outcome Unknown.
	Err string
	Rev int64
	// Succeeded is a txn's branch.
	Succeeded bool
	// KVs are a read's result (or a failed txn's gets), one per key of
	// the input (opRangeAll: one per key of the key set).
	KVs []kvState
	// Deleted is a delete's count.
	Deleted int64
	// Lease is a grant's ID.
	Lease int64
}

const errLeaseNotFound = "lease not found"

// step applies in to s and reports whether the server's out is what the
// model answers. It is a pure function.
func step(s state, in input, out output) (bool, state) {
	if out.Unknown && in.Kind == opLeaseGrant {
		// A lease granted without the client learning its ID is never
		// used by the traffic: no effect on what the model checks.
		return true, s
	}
	want, next := apply(s, in, out.Lease)
	if out.Unknown {
		return true, next
	}
	return outputsEqual(want, out), next
}

// apply computes the answer and the next state. grantedID is the ID a
// grant got (the server picks it).
func apply(s state, in input, grantedID int64) (output, state) {
	switch in.Kind {
	case opGet:
		return output{Rev: s.Rev, KVs: []kvState{s.KVs[in.Keys[0]]}}, s
	case opRangeAll:
		kvs := make([]kvState, numKeys)
		copy(kvs, s.KVs[:])
		return output{Rev: s.Rev, KVs: kvs}, s
	case opPut:
		if in.Lease != 0 && !s.hasLease(in.Lease) {
			return output{Err: errLeaseNotFound}, s
		}
		s.Rev++
		s = put(s, in.Keys[0], in.Values[0], in.Lease)
		return output{Rev: s.Rev}, s
	case opDelete:
		k := in.Keys[0]
		if !s.KVs[k].exists() {
			return output{Rev: s.Rev}, s
		}
		s.Rev++
		s.KVs[k] = kvState{}
		return output{Rev: s.Rev, Deleted: 1}, s
	case opCAS, opMultiTxn:
		ok := true
		for i, k := range in.Keys {
			if s.KVs[k].ModRev != in.ExpectRevs[i] {
				ok = false
			}
		}
		if !ok {
			kvs := make([]kvState, len(in.Keys))
			for i, k := range in.Keys {
				kvs[i] = s.KVs[k]
			}
			return output{Rev: s.Rev, KVs: kvs}, s
		}
		s.Rev++
		for i, k := range in.Keys {
			s = put(s, k, in.Values[i], 0)
		}
		return output{Rev: s.Rev, Succeeded: true}, s
	case opLeaseGrant:
		return output{Lease: grantedID}, s.withLeases(append(s.leaseIDs(), grantedID))
	case opLeaseRevoke:
		if !s.hasLease(in.Lease) {
			return output{Err: errLeaseNotFound}, s
		}
		deleted := false
		for k := range s.KVs {
			if s.KVs[k].exists() && s.KVs[k].Lease == in.Lease {
				if !deleted {
					s.Rev++
					deleted = true
				}
				s.KVs[k] = kvState{}
			}
		}
		ids := slices.DeleteFunc(s.leaseIDs(), func(id int64) bool { return id == in.Lease })
		return output{Rev: s.Rev}, s.withLeases(ids)
	}
	panic(fmt.Sprintf("unknown op kind %d", in.Kind))
}

// put writes key k at s.Rev (already advanced).
func put(s state, k int, value string, lease int64) state {
	old := s.KVs[k]
	kv := kvState{Value: value, ModRev: s.Rev, Lease: lease, Create: s.Rev, Version: 1}
	if old.exists() {
		kv.Create = old.Create
		kv.Version = old.Version + 1
	}
	s.KVs[k] = kv
	return s
}

func outputsEqual(a, b output) bool {
	if a.Err != "" || b.Err != "" {
		return a.Err == b.Err
	}
	return a.Rev == b.Rev && a.Succeeded == b.Succeeded && a.Deleted == b.Deleted &&
		a.Lease == b.Lease && slices.Equal(a.KVs, b.KVs)
}

// initialState is a new store: no keys, at revision 1.
var initialState = state{Rev: 1}

// kvModel is the porcupine model of the store.
var kvModel = porcupine.Model{
	Init: func() any { return initialState },
	Step: func(s, in, out any) (bool, any) {
		return step(s.(state), in.(input), out.(output))
	},
	Hash: func(s any) uint64 {
		// Revisions name the values: equal states have equal ones.
		st := s.(state)
		h := uint64(14695981039346656037)
		mix := func(v int64) { h = (h ^ uint64(v)) * 1099511628211 }
		mix(st.Rev)
		for _, kv := range st.KVs {
			mix(kv.ModRev)
		}
		mix(int64(len(st.Leases)))
		return h
	},
	DescribeOperation: func(in, out any) string { return describeOp(in.(input), out.(output)) },
	DescribeState:     func(s any) string { return describeState(s.(state)) },
}

func describeOp(in input, out output) string {
	var b strings.Builder
	b.WriteString(in.Kind.String())
	b.WriteString("(")
	for i, k := range in.Keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "k%d", k)
		if i < len(in.ExpectRevs) {
			fmt.Fprintf(&b, "@%d", in.ExpectRevs[i])
		}
		if i < len(in.Values) {
			fmt.Fprintf(&b, "=%s", in.Values[i])
		}
	}
	if in.Lease != 0 {
		fmt.Fprintf(&b, " lease %x", in.Lease)
	}
	b.WriteString(") -> ")
	switch {
	case out.Unknown:
		b.WriteString("unknown")
	case out.Err != "":
		b.WriteString(out.Err)
	default:
		fmt.Fprintf(&b, "rev %d", out.Rev)
		if in.Kind == opCAS || in.Kind == opMultiTxn {
			fmt.Fprintf(&b, " ok=%v", out.Succeeded)
		}
		if in.Kind == opDelete {
			fmt.Fprintf(&b, " deleted=%d", out.Deleted)
		}
		if in.Kind == opLeaseGrant {
			fmt.Fprintf(&b, " lease %x", out.Lease)
		}
		for i, kv := range out.KVs {
			if kv.exists() {
				fmt.Fprintf(&b, " [%d]%s@%d", i, kv.Value, kv.ModRev)
			}
		}
	}
	return b.String()
}

func describeState(s state) string {
	var b strings.Builder
	fmt.Fprintf(&b, "rev %d", s.Rev)
	for i, kv := range s.KVs {
		if kv.exists() {
			fmt.Fprintf(&b, " k%d=%s@%d", i, kv.Value, kv.ModRev)
			if kv.Lease != 0 {
				fmt.Fprintf(&b, "(lease %x)", kv.Lease)
			}
		}
	}
	if s.Leases != "" {
		fmt.Fprintf(&b, " leases[%s]", s.Leases)
	}
	return b.String()
}
