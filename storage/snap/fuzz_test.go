package snap

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/basaltkv/basalt/raft/raftpb"
)

// checkSnapDecode must never panic; what decodes re-encodes to a file
// that decodes to the same snapshot.
func checkSnapDecode(t *testing.T, data []byte) {
	checkSnapDecodeOnce(t, data)
	// The checksum stops almost every mutation before the protobuf
	// decoder; also give it data as a snapshot under a valid CRC.
	var framed []byte
	framed = binary.AppendUvarint(framed, crcTag)
	framed = binary.AppendUvarint(framed, uint64(crc32.Checksum(data, crcTable)))
	framed = binary.AppendUvarint(framed, dataTag)
	framed = binary.AppendUvarint(framed, uint64(len(data)))
	checkSnapDecodeOnce(t, append(framed, data...))
}

func checkSnapDecodeOnce(t *testing.T, data []byte) {
	s, err := decode(data)
	if err != nil {
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("decode error %v does not wrap ErrCorrupt", err)
		}
		return
	}
	b, err := encode(&s)
	if err != nil {
		t.Fatalf("re-encode: %v", err)
	}
	s2, err := decode(b)
	if err != nil || !snapEqual(s, s2) {
		t.Fatalf("re-encoded snapshot decodes to %+v, %v", s2.Metadata, err)
	}
}

func snapSeeds(t testing.TB) [][]byte {
	var seeds [][]byte
	for _, s := range []raftpb.Snapshot{mkSnap(1, 10, 0), mkSnap(3, 300, 40), {Metadata: raftpb.SnapshotMetadata{Index: 1, Term: 1}}} {
		b, err := encode(&s)
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	flipped := bytes.Clone(seeds[1])
	flipped[30] ^= 4
	return append(seeds, flipped, seeds[1][:20], []byte{crcTag, 1}, nil)
}

func FuzzSnapDecode(f *testing.F) {
	for _, s := range snapSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(checkSnapDecode)
}

// TestSnapDecodeRandomInputs exercises the fuzz property on every run.
func TestSnapDecodeRandomInputs(t *testing.T) {
	seeds := snapSeeds(t)
	rng := rand.New(rand.NewPCG(4, 5))
	for i := range 3000 {
		var data []byte
		if i%2 == 0 {
			data = make([]byte, rng.IntN(100))
			for j := range data {
				data[j] = byte(rng.UintN(256))
			}
			if len(data) >= 1 && i%4 == 0 {
				data[0] = crcTag
			}
		} else {
			data = bytes.Clone(seeds[rng.IntN(len(seeds))])
			if len(data) > 0 {
				data[rng.IntN(len(data))] ^= byte(1 << rng.IntN(8))
			}
		}
		checkSnapDecode(t, data)
	}
}

// TestWriteFuzzSeedCorpus regenerates testdata/fuzz/FuzzSnapDecode when
// BASALT_WRITE_FUZZ_CORPUS=1 (after a format change).
func TestWriteFuzzSeedCorpus(t *testing.T) {
	if os.Getenv("BASALT_WRITE_FUZZ_CORPUS") == "" {
		t.Skip("set BASALT_WRITE_FUZZ_CORPUS=1 to rewrite the committed seed corpus")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzSnapDecode")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, s := range snapSeeds(t) {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
