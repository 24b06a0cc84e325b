package server

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// V2Request is a v2 API request as etcd's raft log carries it: etcd
// 3.5's etcdserverpb.Request (etcd 3.7's API module no longer has it),
// with its field numbers. A committed one is an InternalRaftRequest whose
// field 2 (V2) holds it.
type V2Request struct {
	ID         uint64
	Method     string
	Path       string
	Val        string
	Dir        bool
	PrevValue  string
	PrevIndex  uint64
	PrevExist  *bool
	Expiration int64
	Wait       bool
	Since      uint64
	Recursive  bool
	Sorted     bool
	Quorum     bool
	Time       int64
	Stream     bool
	Refresh    *bool
}

// internalRaftRequestV2 is the field number of V2 in etcd's
// InternalRaftRequest.
const internalRaftRequestV2 = 2

// Marshal encodes r as etcd's gogo-generated code does: every field
// present but the two optional booleans, which are there when set.
func (r *V2Request) Marshal() []byte {
	var b []byte
	varint := func(num protowire.Number, v uint64) {
		b = protowire.AppendTag(b, num, protowire.VarintType)
		b = protowire.AppendVarint(b, v)
	}
	str := func(num protowire.Number, s string) {
		b = protowire.AppendTag(b, num, protowire.BytesType)
		b = protowire.AppendString(b, s)
	}
	varint(1, r.ID)
	str(2, r.Method)
	str(3, r.Path)
	str(4, r.Val)
	varint(5, protowire.EncodeBool(r.Dir))
	str(6, r.PrevValue)
	varint(7, r.PrevIndex)
	if r.PrevExist != nil {
		varint(8, protowire.EncodeBool(*r.PrevExist))
	}
	varint(9, uint64(r.Expiration))
	varint(10, protowire.EncodeBool(r.Wait))
	varint(11, r.Since)
	varint(12, protowire.EncodeBool(r.Recursive))
	varint(13, protowire.EncodeBool(r.Sorted))
	varint(14, protowire.EncodeBool(r.Quorum))
	varint(15, uint64(r.Time))
	varint(16, protowire.EncodeBool(r.Stream))
	if r.Refresh != nil {
		varint(17, protowire.EncodeBool(*r.Refresh))
	}
	return b
}

// Unmarshal decodes what Marshal (or etcd) encoded; unknown fields are
// skipped.
func (r *V2Request) Unmarshal(b []byte) error {
	*r = V2Request{}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("decode v2 request: %w", protowire.ParseError(n))
		}
		b = b[n:]
		switch typ {
		case protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return fmt.Errorf("decode v2 request field %d: %w", num, protowire.ParseError(n))
			}
			b = b[n:]
			r.setVarint(num, v)
		case protowire.BytesType:
			v, n := protowire.ConsumeString(b)
			if n < 0 {
				return fmt.Errorf("decode v2 request field %d: %w", num, protowire.ParseError(n))
			}
			b = b[n:]
			r.setString(num, v)
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return fmt.Errorf("decode v2 request field %d: %w", num, protowire.ParseError(n))
			}
			b = b[n:]
		}
	}
	return nil
}

func (r *V2Request) setVarint(num protowire.Number, v uint64) {
	flag := protowire.DecodeBool(v)
	switch num {
	case 1:
		r.ID = v
	case 5:
		r.Dir = flag
	case 7:
		r.PrevIndex = v
	case 8:
		r.PrevExist = &flag
	case 9:
		r.Expiration = int64(v)
	case 10:
		r.Wait = flag
	case 11:
		r.Since = v
	case 12:
		r.Recursive = flag
	case 13:
		r.Sorted = flag
	case 14:
		r.Quorum = flag
	case 15:
		r.Time = int64(v)
	case 16:
		r.Stream = flag
	case 17:
		r.Refresh = &flag
	}
}

func (r *V2Request) setString(num protowire.Number, v string) {
	switch num {
	case 2:
		r.Method = v
	case 3:
		r.Path = v
	case 4:
		r.Val = v
	case 6:
		r.PrevValue = v
	}
}

// v2Field is r as the V2 field of an InternalRaftRequest, for its unknown
// fields.
func v2Field(r *V2Request) []byte {
	b := protowire.AppendTag(nil, internalRaftRequestV2, protowire.BytesType)
	return protowire.AppendBytes(b, r.Marshal())
}

// v2FromFields finds and decodes the V2 field among an
// InternalRaftRequest's unknown fields; nil if there is none.
func v2FromFields(b []byte) (*V2Request, error) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		b = b[n:]
		if num == internalRaftRequestV2 && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, protowire.ParseError(n)
			}
			r := &V2Request{}
			return r, r.Unmarshal(v)
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		b = b[n:]
	}
	return nil, nil
}
