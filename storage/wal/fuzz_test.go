package wal

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/basaltkv/basalt/raft/raftpb"
	"github.com/basaltkv/basalt/storage/vfs"
)

// checkDecode runs the segment decoder over data as a newest and as an
// older segment and checks what it reports is self-consistent. It must
// never panic, whatever data holds.
func checkDecode(t *testing.T, data []byte) {
	checkDecodeOnce(t, data)
	// Checksums stop almost every mutation at the frame; also decode data
	// cut into records with valid frames, so the record decoders and the
	// replay rules see arbitrary payloads.
	checkDecodeOnce(t, frameRecords(data))
}

// frameRecords makes a segment out of data: a crc record, then records
// whose type and length come from data's bytes (type byte, length byte,
// payload), with valid CRCs.
func frameRecords(data []byte) []byte {
	buf, crc := appendCRCFrame(nil, 0), uint32(0)
	for len(data) >= 2 {
		typ, n := recordType(1+data[0]%5), min(int(data[1]), len(data)-2)
		buf, crc = appendBytesFrame(buf, typ, crc, data[2:2+n])
		data = data[2+n:]
	}
	return buf
}

func checkDecodeOnce(t *testing.T, data []byte) {
	for _, last := range []bool{true, false} {
		r := &replay{start: Marker{Index: 2, Term: 1}}
		err := r.segment("fuzz.wal", bytes.NewReader(data), int64(len(data)), last)
		if err != nil {
			if _, ok := err.(*CorruptionError); !ok && !errors.Is(err, ErrSnapshotMismatch) {
				t.Fatalf("decode error %T %v, want *CorruptionError or ErrSnapshotMismatch", err, err)
			}
			continue
		}
		if r.end < 0 || r.end > int64(len(data)) {
			t.Fatalf("log end %d in %d bytes", r.end, len(data))
		}
		// What decoded is a complete log on its own: the same bytes cut at
		// the end decode to the same result as an older segment.
		r2 := &replay{start: r.start}
		if err := r2.segment("fuzz.wal", bytes.NewReader(data[:r.end]), r.end, false); err != nil {
			t.Fatalf("prefix up to log end %d fails to decode: %v", r.end, err)
		}
		if r2.crc != r.crc || r2.state != r.state || !entsEqual(r2.ents, r.ents) || !bytes.Equal(r2.metadata, r.metadata) {
			t.Fatalf("prefix decodes differently")
		}
	}
}

func FuzzWALDecode(f *testing.F) {
	for _, seed := range walSeeds(f) {
		f.Add(seed)
	}
	f.Fuzz(checkDecode)
}

// walSeeds returns segments written by the WAL, whole, torn, and damaged.
func walSeeds(t testing.TB) [][]byte {
	fs := vfs.NewCrashFS()
	vfs.MkdirAllSync(fs, "/data", 0o700)
	w, err := Create(fs, walDir, []byte("m"), WithSegmentSize(1024))
	if err != nil {
		t.Fatal(err)
	}
	w.Save(raftpb.HardState{Term: 1, Vote: 1, Commit: 1}, mkEnts(1, 3, 1, 8))
	w.SaveSnapshot(snapMeta(Marker{Index: 2, Term: 1}))
	w.Save(raftpb.HardState{Term: 2, Vote: 2, Commit: 3}, mkEnts(3, 5, 2, 3))
	w.Close()
	seg, err := vfs.ReadFile(fs, filepath.Join(walDir, segmentName{}.String()))
	if err != nil {
		t.Fatal(err)
	}
	offs, _ := recordOffsets(t, fs, segmentName{}.String())
	end := endOfValid(t, fs, segmentName{}.String())
	whole := bytes.Clone(seg[:end+64])
	flipped := bytes.Clone(whole)
	flipped[offs[4]+wordSize+12] ^= 0x10
	return [][]byte{
		whole,
		bytes.Clone(whole[:end]),
		bytes.Clone(whole[:offs[len(offs)-1]+20]), // torn last record
		flipped,
		bytes.Clone(whole[:offs[1]]), // crc record only
		{},
		make([]byte, 40),
	}
}

// TestDecodeRandomInputs gives the decoder random and mutated inputs on
// every test run, so the fuzz target's property is exercised in CI.
func TestDecodeRandomInputs(t *testing.T) {
	seeds := walSeeds(t)
	rng := rand.New(rand.NewPCG(1, 2))
	n := 3000
	if testing.Short() {
		n = 300
	}
	for i := range n {
		var data []byte
		switch i % 3 {
		case 0: // random bytes
			data = make([]byte, rng.IntN(200))
			for j := range data {
				data[j] = byte(rng.UintN(256))
			}
		default: // a real segment with a few bytes changed, cut or extended
			data = bytes.Clone(seeds[rng.IntN(len(seeds))])
			for range 1 + rng.IntN(3) {
				if len(data) == 0 {
					break
				}
				switch rng.IntN(3) {
				case 0:
					data[rng.IntN(len(data))] ^= byte(1 << rng.IntN(8))
				case 1:
					data = data[:rng.IntN(len(data))]
				case 2:
					data = append(data, make([]byte, rng.IntN(32))...)
				}
			}
		}
		checkDecode(t, data)
	}
	for _, s := range seeds {
		checkDecode(t, s)
	}
}

// TestWriteFuzzSeedCorpus regenerates testdata/fuzz/FuzzWALDecode when
// BASALT_WRITE_FUZZ_CORPUS=1 (after a format change).
func TestWriteFuzzSeedCorpus(t *testing.T) {
	if os.Getenv("BASALT_WRITE_FUZZ_CORPUS") == "" {
		t.Skip("set BASALT_WRITE_FUZZ_CORPUS=1 to rewrite the committed seed corpus")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzWALDecode")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, s := range walSeeds(t) {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
