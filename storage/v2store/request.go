package v2store

import (
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// Request is a v2 API request as etcd's raft log carries it: etcd 3.4's
// etcdserverpb.Request (etcd 3.7's API module no longer has it), with its
// field numbers, proposed bare as etcd 3.4 proposes it (older etcd also
// wrapped it in field 2, V2, of an InternalRaftRequest; both are read).
type Request struct {
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
// InternalRaftRequest, and that of Method in a Request.
const internalRaftRequestV2 = 2

// Marshal encodes r as etcd's gogo-generated code does: every field
// present but the two optional booleans, which are there when set.
func (r *Request) Marshal() []byte {
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
func (r *Request) Unmarshal(b []byte) error {
	*r = Request{}
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

func (r *Request) setVarint(num protowire.Number, v uint64) {
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

func (r *Request) setString(num protowire.Number, v string) {
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

// methods are the methods a Request in the log may have.
var methods = map[string]bool{"PUT": true, "POST": true, "DELETE": true, "QGET": true, "SYNC": true, "GET": true, "HEAD": true}

// RequestFromEntry decodes the v2 request a raft entry's data holds: a
// bare Request (its field 2, Method, is a method name, which no
// InternalRaftRequest's field 2 or any of its messages can be), or an
// InternalRaftRequest whose field 2 (V2) holds one. It returns nil for
// any other entry.
func RequestFromEntry(data []byte) (*Request, error) {
	b := data
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, nil
		}
		b = b[n:]
		if num == internalRaftRequestV2 && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, nil
			}
			r := &Request{}
			if methods[string(v)] {
				return r, r.Unmarshal(data)
			}
			if err := r.Unmarshal(v); err != nil || !methods[r.Method] {
				return nil, nil
			}
			return r, nil
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return nil, nil
		}
		b = b[n:]
	}
	return nil, nil
}

// Apply applies a committed request to the store, as etcd's v2 applier
// does; a read (QGET) is answered, an expiry (SYNC) answers nothing.
func (s *Store) Apply(r *Request) (*Event, error) {
	ttl := TTLOptions{Refresh: r.Refresh != nil && *r.Refresh}
	if r.Expiration != 0 {
		ttl.ExpireTime = time.Unix(0, r.Expiration)
	}
	switch r.Method {
	case "POST":
		return s.Create(r.Path, r.Dir, r.Val, true, ttl)
	case "PUT":
		switch {
		case r.PrevExist != nil && *r.PrevExist && r.PrevIndex == 0 && r.PrevValue == "":
			return s.Update(r.Path, r.Val, ttl)
		case r.PrevExist != nil && *r.PrevExist:
			return s.CompareAndSwap(r.Path, r.PrevValue, r.PrevIndex, r.Val, ttl)
		case r.PrevExist != nil:
			return s.Create(r.Path, r.Dir, r.Val, false, ttl)
		case r.PrevIndex > 0 || r.PrevValue != "":
			return s.CompareAndSwap(r.Path, r.PrevValue, r.PrevIndex, r.Val, ttl)
		default:
			return s.Set(r.Path, r.Dir, r.Val, ttl)
		}
	case "DELETE":
		if r.PrevIndex > 0 || r.PrevValue != "" {
			return s.CompareAndDelete(r.Path, r.PrevValue, r.PrevIndex)
		}
		return s.Delete(r.Path, r.Dir, r.Recursive)
	case "QGET":
		return s.Get(r.Path, r.Recursive, r.Sorted)
	case "SYNC":
		s.DeleteExpiredKeys(time.Unix(0, r.Time))
		return nil, nil
	}
	return nil, ErrUnknownMethod
}

// ErrUnknownMethod is etcd's error for a request of no known method.
var ErrUnknownMethod = errors.New("etcdserver: unknown method")
