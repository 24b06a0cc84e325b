package journal

import (
	"bytes"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func TestEncodeDecode(t *testing.T) {
	tests := []struct {
		name   string
		msg    string
		fields map[string]string
	}{
		{"one line", `{"msg":"hello"}`, map[string]string{"PACKAGE": "embed"}},
		{"a newline in the message", "line one\nline two\n", map[string]string{"SYSLOG_IDENTIFIER": "basalt"}},
		{"empty", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode(encode(tt.msg, PriWarning, tt.fields))
			if err != nil {
				t.Fatal(err)
			}
			if got["MESSAGE"] != tt.msg || got["PRIORITY"] != "4" {
				t.Errorf("decoded %q", got)
			}
			for k, v := range tt.fields {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

// journald is a stand-in for the journal's socket.
func journald(t *testing.T) (string, *net.UnixConn) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "journal.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return path, conn
}

// receive reads one entry, following a passed file descriptor.
func receive(t *testing.T, conn *net.UnixConn) map[string]string {
	t.Helper()
	buf, oob := make([]byte, 1<<20), make([]byte, 1024)
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		t.Fatal(err)
	}
	data := buf[:n]
	if oobn > 0 {
		msgs, err := syscall.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			t.Fatal(err)
		}
		fds, err := syscall.ParseUnixRights(&msgs[0])
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		chunk := make([]byte, 1<<16)
		for off := int64(0); ; {
			m, err := syscall.Pread(fds[0], chunk, off)
			if err != nil {
				t.Fatal(err)
			}
			if m == 0 {
				break
			}
			b.Write(chunk[:m])
			off += int64(m)
		}
		syscall.Close(fds[0])
		data = b.Bytes()
	}
	fields, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	return fields
}

// TestCore: a logger on Core sends each entry with etcd's fields and the
// priority of its level; an entry too large for a datagram arrives
// through a file; with the journal gone, entries go to the fallback.
func TestCore(t *testing.T) {
	path, conn := journald(t)
	var fallback bytes.Buffer
	w := NewWriter(path, &fallback)
	defer w.Close()
	enc := zapcore.NewJSONEncoder(zapcore.EncoderConfig{MessageKey: "msg", LevelKey: "level", CallerKey: "caller",
		EncodeLevel: zapcore.LowercaseLevelEncoder, EncodeCaller: zapcore.ShortCallerEncoder})
	lg := zap.New(Core(enc, zapcore.InfoLevel, w), zap.AddCaller()).With(zap.String("member", "m0"))

	lg.Debug("not sent")
	lg.Warn("slow", zap.String("detail", "a\nb"))
	got := receive(t, conn)
	if got["PRIORITY"] != "4" || got["PACKAGE"] != "journal" || got["SYSLOG_IDENTIFIER"] == "" ||
		!strings.Contains(got["MESSAGE"], `"msg":"slow"`) || !strings.Contains(got["MESSAGE"], `"member":"m0"`) {
		t.Errorf("warn entry %q", got)
	}

	big := strings.Repeat("x", 1<<18)
	lg.Error("big", zap.String("blob", big))
	got = receive(t, conn)
	if got["PRIORITY"] != "3" || !strings.Contains(got["MESSAGE"], big) {
		t.Errorf("large entry: priority %q, %d bytes", got["PRIORITY"], len(got["MESSAGE"]))
	}

	conn.Close()
	lg.Info("to stderr")
	if !strings.Contains(fallback.String(), `"msg":"to stderr"`) {
		t.Errorf("fallback got %q", fallback.String())
	}
}

func TestCheck(t *testing.T) {
	path, _ := journald(t)
	if err := Check(path); err != nil {
		t.Errorf("check of a listening journal: %v", err)
	}
	if err := Check(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Error("check of a missing journal succeeded")
	}
}
