package lease

import (
	"bytes"
	"encoding/hex"
	"math"
	"testing"

	"github.com/gogo/protobuf/proto"
)

// etcdGolden are leasepb.Lease values and their encodings by etcd
// v3.7.3's generated code (go.etcd.io/etcd/server/v3/lease/leasepb,
// proto.Marshal), produced by a throwaway program outside this module,
// which must not import etcd's server.
var etcdGolden = []struct {
	rec record
	hex string
}{
	{record{}, ""},
	{record{ID: 1, TTL: 5}, "08011005"},
	{record{ID: 7587857420784405249, TTL: 60, RemainingTTL: 17}, "088196aae1f383dfa669103c1811"},
	{record{ID: -1, TTL: 9000000000, RemainingTTL: 1}, "08ffffffffffffffffff011080b4c4c3211801"},
	{record{ID: math.MaxInt64, TTL: 1, RemainingTTL: math.MaxInt64}, "08ffffffffffffffff7f100118ffffffffffffffff7f"},
	{record{ID: math.MinInt64, TTL: 300}, "088080808080808080800110ac02"},
}

func TestRecordMatchesEtcd(t *testing.T) {
	for _, g := range etcdGolden {
		want, err := hex.DecodeString(g.hex)
		if err != nil {
			t.Fatal(err)
		}
		if got := g.rec.marshal(); !bytes.Equal(got, want) {
			t.Errorf("marshal(%+v) = %x, etcd's %x", g.rec, got, want)
		}
		got, err := unmarshalRecord(want)
		if err != nil || got != g.rec {
			t.Errorf("unmarshal(%x) = %+v, %v; want %+v", want, got, err, g.rec)
		}
	}
}

// gogoLease is leasepb.Lease's message declared for gogo/protobuf's
// reflection-based codec: a second, independent encoder to compare with.
type gogoLease struct {
	ID           int64 `protobuf:"varint,1,opt,name=ID,proto3"`
	TTL          int64 `protobuf:"varint,2,opt,name=TTL,proto3"`
	RemainingTTL int64 `protobuf:"varint,3,opt,name=RemainingTTL,proto3"`
}

func (m *gogoLease) Reset()         { *m = gogoLease{} }
func (m *gogoLease) String() string { return proto.CompactTextString(m) }
func (*gogoLease) ProtoMessage()    {}

func TestUnmarshalRecordTolerance(t *testing.T) {
	tests := []struct {
		name string
		hex  string
		want record
	}{
		{"fields out of order", "1811" + "103c" + "0801", record{ID: 1, TTL: 60, RemainingTTL: 17}},
		{"last occurrence wins", "0801" + "0802", record{ID: 2}},
		{"unknown varint", "0801" + "2005", record{ID: 1}},
		{"unknown bytes", "0801" + "2a03616263" + "1005", record{ID: 1, TTL: 5}},
		{"unknown fixed64", "0801" + "210102030405060708", record{ID: 1}},
		{"unknown fixed32", "0801" + "2d01020304", record{ID: 1}},
		{"explicit zero", "0800" + "1000", record{}},
	}
	for _, tt := range tests {
		b, _ := hex.DecodeString(tt.hex)
		got, err := unmarshalRecord(b)
		if err != nil || got != tt.want {
			t.Errorf("%s: %+v, %v; want %+v", tt.name, got, err, tt.want)
		}
	}
}

func TestUnmarshalRecordErrors(t *testing.T) {
	tests := []struct{ name, hex string }{
		{"truncated tag", "80"},
		{"truncated varint", "0880"},
		{"varint overflow", "08ffffffffffffffffff7f"},
		{"field zero", "0001"},
		{"id as bytes", "0a0101"},
		{"truncated bytes", "2a05616263"},
		{"truncated fixed64", "2101"},
		{"truncated fixed32", "2d01"},
		{"group", "2301"},
	}
	for _, tt := range tests {
		b, _ := hex.DecodeString(tt.hex)
		if r, err := unmarshalRecord(b); err == nil {
			t.Errorf("%s: decoded %x as %+v", tt.name, b, r)
		}
	}
}

func TestLeaseKey(t *testing.T) {
	for _, tt := range []struct {
		id  ID
		hex string
	}{
		{1, "0000000000000001"},
		{0x694d7c1f3c2a8b01, "694d7c1f3c2a8b01"},
		{-1, "ffffffffffffffff"},
	} {
		k := leaseKey(tt.id)
		if hex.EncodeToString(k) != tt.hex {
			t.Errorf("leaseKey(%d) = %x, want %s", int64(tt.id), k, tt.hex)
		}
		if id, err := idFromKey(k); err != nil || id != tt.id {
			t.Errorf("idFromKey(%x) = %v, %v", k, id, err)
		}
	}
}

func FuzzRecordMatchesGogo(f *testing.F) {
	for _, g := range etcdGolden {
		f.Add(g.rec.ID, g.rec.TTL, g.rec.RemainingTTL)
	}
	f.Fuzz(func(t *testing.T, id, ttl, remaining int64) {
		r := record{ID: id, TTL: ttl, RemainingTTL: remaining}
		got := r.marshal()
		want, err := proto.Marshal(&gogoLease{ID: id, TTL: ttl, RemainingTTL: remaining})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("marshal(%+v) = %x, gogo's %x", r, got, want)
		}
		back, err := unmarshalRecord(got)
		if err != nil || back != r {
			t.Fatalf("round trip of %+v: %+v, %v", r, back, err)
		}
	})
}

// FuzzUnmarshalRecord: no input panics, and whatever both decoders accept
// decodes to the same values.
func FuzzUnmarshalRecord(f *testing.F) {
	for _, g := range etcdGolden {
		b, _ := hex.DecodeString(g.hex)
		f.Add(b)
	}
	f.Add([]byte{0x08, 0x80})
	f.Add([]byte{0x2a, 0x03, 'a', 'b', 'c', 0x10, 0x05})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := unmarshalRecord(b)
		if err != nil {
			return
		}
		var g gogoLease
		if proto.Unmarshal(b, &g) != nil {
			return // the decoders may disagree on what is malformed
		}
		if (record{g.ID, g.TTL, g.RemainingTTL}) != r {
			t.Fatalf("%x: decoded %+v, gogo %+v", b, r, g)
		}
	})
}
