package schema

import (
	"fmt"
	"strings"

	"github.com/basaltkv/basalt/raft/raftpb"
	"github.com/coreos/go-semver/semver"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/version"
	"go.etcd.io/etcd/api/v3/versionpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// entryConfChangeV2 is raft's type of an entry holding a ConfChangeV2,
// which basalt's raft never writes but etcd's WAL may hold.
const entryConfChangeV2 raftpb.EntryType = 2

// MinimalEtcdVersion is the oldest etcd version able to apply every entry
// of ents (nil when no entry says), as etcd computes it before a
// downgrade of the storage version: the etcd version annotations of
// api/v3's protos (versionpb's etcd_version_msg, _field, _enum and
// _enum_value) on each request's message, the fields it sets and the
// enum values it uses, descending into nested messages but not into
// repeated fields or maps (etcd's walk does not either); the version a
// DowngradeVersionTest request names; 3.0 for a conf change and 3.4 for
// a ConfChangeV2 (nothing for either if its data does not decode). raft's
// own types carry no annotation.
//
// Where etcd panics (a normal entry that is not an InternalRaftRequest,
// an unknown entry type or enum value), this returns an error.
func MinimalEtcdVersion(ents []raftpb.Entry) (*semver.Version, error) {
	var newest *semver.Version
	see := func(v *semver.Version) {
		if v != nil && (newest == nil || newest.LessThan(*v)) {
			newest = v
		}
	}
	for i := range ents {
		v, err := entryVersion(&ents[i], see)
		if err != nil {
			return nil, fmt.Errorf("wal entry %d: %w", ents[i].Index, err)
		}
		see(v)
	}
	return newest, nil
}

// entryVersion reports the versions e needs through see, or returns the
// one version of a conf change.
func entryVersion(e *raftpb.Entry, see func(*semver.Version)) (*semver.Version, error) {
	switch e.Type {
	case raftpb.EntryNormal:
		var r pb.InternalRaftRequest
		if err := proto.Unmarshal(e.Data, &r); err != nil {
			return nil, err
		}
		if r.DowngradeVersionTest != nil {
			v, err := semver.NewVersion(r.DowngradeVersionTest.Ver)
			if err != nil {
				return nil, err
			}
			see(v)
		}
		return nil, visitMessage(r.ProtoReflect(), see)
	case raftpb.EntryConfChange:
		if !wellFormed(e.Data, nil) {
			return nil, nil // not a conf change: etcd counts nothing
		}
		return &version.V3_0, nil
	case entryConfChangeV2:
		if !wellFormed(e.Data, confChangeV2Changes) {
			return nil, nil
		}
		return &version.V3_4, nil
	}
	return nil, fmt.Errorf("unhandled entry type %d", e.Type)
}

// visitMessage reports the version of m's type, of each field set and,
// recursively, of the messages and enum values they hold.
func visitMessage(m protoreflect.Message, see func(*semver.Version)) error {
	v, err := annotation(m.Descriptor(), versionpb.E_EtcdVersionMsg)
	if err != nil {
		return err
	}
	see(v)
	m.Range(func(fd protoreflect.FieldDescriptor, val protoreflect.Value) bool {
		if v, err = annotation(fd, versionpb.E_EtcdVersionField); err != nil {
			return false
		}
		see(v)
		switch {
		case fd.IsList() || fd.IsMap():
		case fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind:
			err = visitMessage(val.Message(), see)
		case fd.Kind() == protoreflect.EnumKind:
			err = visitEnumValue(fd.Enum(), val.Enum(), see)
		}
		return err == nil
	})
	return err
}

func visitEnumValue(ed protoreflect.EnumDescriptor, n protoreflect.EnumNumber, see func(*semver.Version)) error {
	v, err := annotation(ed, versionpb.E_EtcdVersionEnum)
	if err != nil {
		return err
	}
	see(v)
	vd := ed.Values().ByNumber(n)
	if vd == nil {
		return fmt.Errorf("%s: no value %d", ed.FullName(), n)
	}
	v, err = annotation(vd, versionpb.E_EtcdVersionEnumValue)
	see(v)
	return err
}

// annotation is the version d's options give under xt ("X.Y" means
// X.Y.0), or nil.
func annotation(d protoreflect.Descriptor, xt protoreflect.ExtensionType) (*semver.Version, error) {
	opts := d.Options()
	if opts == nil || !opts.ProtoReflect().IsValid() {
		return nil, nil
	}
	s, _ := proto.GetExtension(opts, xt).(string)
	if s == "" {
		return nil, nil
	}
	if strings.Count(s, ".") == 1 {
		s += ".0"
	}
	v, err := semver.NewVersion(s)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.FullName(), err)
	}
	return v, nil
}

// confChangeV2Changes is the field of raft's ConfChangeV2 that holds
// messages (changes, each a ConfChangeSingle).
var confChangeV2Changes = map[protowire.Number]bool{2: true}

// wellFormed says whether b decodes as a conf change would with etcd's
// raftpb (protobuf-go, proto2): a sequence of well-formed fields, those
// numbered in nested holding well-formed messages if their wire type is
// bytes. A field of an unexpected wire type is an unknown field there,
// not an error, and so it is here.
func wellFormed(b []byte, nested map[protowire.Number]bool) bool {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
			return false
		}
		if typ == protowire.BytesType && nested[num] {
			if v, _ := protowire.ConsumeBytes(b[:n]); !wellFormed(v, nil) {
				return false
			}
		}
		b = b[n:]
	}
	return true
}
