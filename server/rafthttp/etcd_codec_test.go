package rafthttp

import (
	"bytes"
	"encoding/binary"
	"io"
	"reflect"
	"testing"

	"github.com/basaltkv/basalt/raft/raftpb"
)

func appMsg(term, logTerm, index, commit uint64, first, n uint64) raftpb.Message {
	m := raftpb.Message{Type: raftpb.MsgApp, From: 2, To: 1, Term: term, LogTerm: logTerm, Index: index, Commit: commit}
	for i := range n {
		m.Entries = append(m.Entries, raftpb.Entry{Term: term, Index: first + i, Data: []byte{byte(first + i)}})
	}
	return m
}

// TestEtcdEncodingsRoundTrip: what the encoders write, the decoders read
// back, message for message, through both of etcd's stream encodings and
// the msgappv2 shortcuts.
func TestEtcdEncodingsRoundTrip(t *testing.T) {
	msgs := []raftpb.Message{
		appMsg(3, 2, 10, 9, 11, 2),  // whole: sets term 3, index 12
		appMsg(3, 3, 12, 11, 13, 3), // continues: entries only
		appMsg(3, 3, 15, 15, 16, 0), // continues with no entries (a commit)
		linkHeartbeat,
		appMsg(3, 3, 15, 16, 16, 1), // continues again
		appMsg(4, 3, 16, 16, 17, 1), // new term: whole
		appMsg(4, 3, 10, 16, 11, 1), // a probe back: whole
	}
	for _, tc := range []struct {
		name string
		enc  etcdEncoder
		dec  func(io.Reader) etcdDecoder
	}{
		{"message", messageEncoding{}, func(r io.Reader) etcdDecoder { return newMessageDecoder(r) }},
		{"msgappv2", &msgAppV2Encoding{}, func(r io.Reader) etcdDecoder { return newMsgAppV2Decoder(r, 1, 2) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf []byte
			for i := range msgs {
				var err error
				if buf, err = tc.enc.appendMessage(buf, &msgs[i]); err != nil {
					t.Fatal(err)
				}
			}
			dec := tc.dec(bytes.NewReader(buf))
			total := 0
			for i, want := range msgs {
				got, n, err := dec.next()
				if err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
				total += n
				if isLinkHeartbeat(&want) != isLinkHeartbeat(&got) {
					t.Fatalf("message %d: heartbeat %v, want %v", i, isLinkHeartbeat(&got), isLinkHeartbeat(&want))
				}
				if len(want.Entries) == 0 {
					want.Entries, got.Entries = nil, nil
				}
				if !isLinkHeartbeat(&want) && !reflect.DeepEqual(got, want) {
					t.Fatalf("message %d:\n got %+v\nwant %+v", i, got, want)
				}
			}
			if total != len(buf) {
				t.Fatalf("decoders counted %d bytes of %d", total, len(buf))
			}
			if _, _, err := dec.next(); err != io.EOF {
				t.Fatalf("after the last message: %v, want EOF", err)
			}
		})
	}
}

// TestMsgAppV2Bytes pins the msgappv2 records to etcd's layout: a type
// byte; for entries, a count, each entry as a length and its bytes, and
// the commit index, all big-endian uint64s.
func TestMsgAppV2Bytes(t *testing.T) {
	enc := &msgAppV2Encoding{}
	first := appMsg(3, 3, 10, 9, 11, 1)
	buf, _ := enc.appendMessage(nil, &first)
	if buf[0] != msgAppV2App || binary.BigEndian.Uint64(buf[1:9]) != uint64(first.Size()) || len(buf) != 9+first.Size() {
		t.Fatalf("whole MsgApp encoded as % x", buf)
	}
	next := appMsg(3, 3, 11, 11, 12, 1)
	rec, _ := enc.appendMessage(nil, &next)
	e, _ := next.Entries[0].Marshal()
	want := []byte{msgAppV2AppEntries}
	want = binary.BigEndian.AppendUint64(want, 1)
	want = binary.BigEndian.AppendUint64(want, uint64(len(e)))
	want = append(want, e...)
	want = binary.BigEndian.AppendUint64(want, 11)
	if !bytes.Equal(rec, want) {
		t.Fatalf("continuing MsgApp encoded as % x, want % x", rec, want)
	}
	if hb, _ := enc.appendMessage(nil, &linkHeartbeat); !bytes.Equal(hb, []byte{msgAppV2LinkHeartbeat}) {
		t.Fatalf("link heartbeat encoded as % x", hb)
	}
}

// TestEtcdDecodersRefuseGarbage: truncated or oversized input is an error,
// never a panic or a huge allocation.
func TestEtcdDecodersRefuseGarbage(t *testing.T) {
	huge := binary.BigEndian.AppendUint64(nil, 1<<40)
	message := func(b []byte) etcdDecoder { return newMessageDecoder(bytes.NewReader(b)) }
	msgApp := func(b []byte) etcdDecoder { return newMsgAppV2Decoder(bytes.NewReader(b), 1, 2) }
	cases := []struct {
		name string
		dec  func([]byte) etcdDecoder
		in   []byte
	}{
		{"huge message", message, huge},
		{"truncated message", message, append(binary.BigEndian.AppendUint64(nil, 10), 1, 2)},
		{"unknown msgappv2 record", msgApp, []byte{7}},
		{"huge msgappv2 message", msgApp, append([]byte{msgAppV2App}, huge...)},
		{"huge entry count", msgApp, append([]byte{msgAppV2AppEntries}, huge...)},
		{"truncated entries", msgApp, append(append([]byte{msgAppV2AppEntries}, binary.BigEndian.AppendUint64(nil, 2)...), binary.BigEndian.AppendUint64(nil, 1)...)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := tc.dec(tc.in).next(); err == nil {
				t.Errorf("decoded % x", tc.in)
			}
		})
	}
}
