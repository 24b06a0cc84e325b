package rafthttp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/basaltkv/basalt/raft/raftpb"
)

func TestFrameRoundTrip(t *testing.T) {
	msgs := []raftpb.Message{app(1, 2, 1), heartbeat(1, 2, 5), snapMsg(1, 2, 9), app(1, 2, 2)}
	var fb frameBatch
	var wire bytes.Buffer
	for i := range msgs {
		if _, err := fb.appendMessage(&msgs[i]); err != nil {
			t.Fatal(err)
		}
		wire.Write(fb.buf)
		wire.Write(keepaliveFrame[:])
		fb.reset()
	}
	fr := newFrameReader(&wire)
	for i := 0; i < len(msgs); {
		payload, _, err := fr.next()
		if err != nil {
			t.Fatal(err)
		}
		if len(payload) == 0 {
			continue
		}
		var m raftpb.Message
		if err := m.Unmarshal(payload); err != nil {
			t.Fatal(err)
		}
		want, _ := msgs[i].Marshal()
		got, _ := m.Marshal()
		if !bytes.Equal(got, want) {
			t.Fatalf("message %d differs", i)
		}
		i++
	}
	if _, _, err := fr.next(); err != nil {
		t.Fatalf("trailing keepalive: %v", err)
	}
	if _, _, err := fr.next(); err != io.EOF {
		t.Fatalf("after the last frame: %v, want EOF", err)
	}
}

func TestFrameReaderRejectsDamage(t *testing.T) {
	var fb frameBatch
	m := app(1, 2, 3)
	if _, err := fb.appendMessage(&m); err != nil {
		t.Fatal(err)
	}
	huge := binary.BigEndian.AppendUint32(nil, maxFrameSize+1)
	if _, _, err := newFrameReader(bytes.NewReader(huge)).next(); !errors.Is(err, errFrameTooLarge) {
		t.Fatalf("oversized frame: %v", err)
	}
	cut := fb.buf[:len(fb.buf)-3]
	if _, _, err := newFrameReader(bytes.NewReader(cut)).next(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("truncated frame: %v", err)
	}
	var empty raftpb.Message
	if _, err := fb.appendMessage(&empty); !errors.Is(err, errEmptyMessage) {
		t.Fatalf("empty message: %v", err)
	}
}

// FuzzFrameReader: any byte stream is read without a panic, and what is
// read as frames re-encodes to the same bytes.
func FuzzFrameReader(f *testing.F) {
	var fb frameBatch
	m := app(1, 2, 3)
	_, _ = fb.appendMessage(&m)
	f.Add(fb.buf)
	f.Add(keepaliveFrame[:])
	f.Add([]byte{0, 0, 0, 5, 1, 2})
	f.Fuzz(func(t *testing.T, data []byte) {
		fr := newFrameReader(bytes.NewReader(data))
		for {
			payload, _, err := fr.next()
			if err != nil {
				return
			}
			var m raftpb.Message
			_ = m.Unmarshal(payload)
		}
	})
}

// FuzzSnapshotHeader: a snapshot body's opening never panics the receiver.
func FuzzSnapshotHeader(f *testing.F) {
	m := snapMsg(1, 2, 9)
	body, _ := newSnapshotBody(&m, 3, io.NopCloser(bytes.NewReader([]byte("abc"))), false)
	wire, _ := io.ReadAll(body)
	f.Add(wire)
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		_, _, size, err := readSnapshotHeader(r, false)
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, newDBReader(r, size))
	})
}
