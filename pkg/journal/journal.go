// Package journal sends log entries to the systemd journal over its
// native protocol, as etcd's --log-outputs=systemd/journal does: each
// entry is one datagram of fields (MESSAGE, PRIORITY, PACKAGE,
// SYSLOG_IDENTIFIER), and an entry too large for a datagram goes in a
// file whose descriptor is passed instead. An entry the journal refuses
// is written to a fallback writer (stderr), as etcd's writer does.
package journal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"go.uber.org/zap/zapcore"
)

// DefaultSocket is where journald listens.
const DefaultSocket = "/run/systemd/journal/socket"

// TestSocketEnv names a socket that replaces DefaultSocket, for tests,
// which cannot own the system's journal (etcd has no such setting).
const TestSocketEnv = "BASALT_TEST_JOURNAL_SOCKET"

// Socket is the journal's socket: DefaultSocket, or TestSocketEnv's.
func Socket() string {
	if s := os.Getenv(TestSocketEnv); s != "" {
		return s
	}
	return DefaultSocket
}

// Check dials the journal's socket, as etcd does before it logs there.
func Check(socket string) error {
	conn, err := net.Dial("unixgram", socket)
	if err != nil {
		return err
	}
	return conn.Close()
}

// Priorities, syslog's.
const (
	PriCrit    = 2
	PriErr     = 3
	PriWarning = 4
	PriInfo    = 6
	PriDebug   = 7
)

// Writer sends entries to one journal socket.
type Writer struct {
	addr     *net.UnixAddr
	fallback io.Writer

	mu   sync.Mutex
	conn *net.UnixConn
}

// NewWriter sends to socket, writing to fallback what it cannot send.
func NewWriter(socket string, fallback io.Writer) *Writer {
	return &Writer{addr: &net.UnixAddr{Name: socket, Net: "unixgram"}, fallback: fallback}
}

// Send sends message with priority and extra fields (upper-case names).
func (w *Writer) Send(message string, priority int, fields map[string]string) error {
	data := encode(message, priority, fields)
	if err := w.send(data); err != nil {
		if _, ferr := io.WriteString(w.fallback, message); ferr != nil {
			return errors.Join(err, ferr)
		}
	}
	return nil
}

func (w *Writer) send(data []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.conn == nil {
		conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Net: "unixgram"})
		if err != nil {
			return fmt.Errorf("open a socket for the journal: %w", err)
		}
		w.conn = conn
	}
	_, _, err := w.conn.WriteMsgUnix(data, nil, w.addr)
	if err == nil {
		return nil
	}
	if !errors.Is(err, syscall.EMSGSIZE) && !errors.Is(err, syscall.ENOBUFS) {
		return err
	}
	// Too large for a datagram: pass a file holding it.
	f, err := os.CreateTemp("/dev/shm", "basalt-journal.*")
	if err != nil {
		if f, err = os.CreateTemp("", "basalt-journal.*"); err != nil {
			return fmt.Errorf("file for a large journal entry: %w", err)
		}
	}
	defer f.Close()
	if err := os.Remove(f.Name()); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	_, _, err = w.conn.WriteMsgUnix(nil, syscall.UnixRights(int(f.Fd())), w.addr)
	return err
}

// Close closes the writer's socket.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.conn == nil {
		return nil
	}
	err := w.conn.Close()
	w.conn = nil
	return err
}

// encode is the native protocol's datagram: NAME=value lines, or, for a
// value holding a newline, NAME, a newline, its length (64-bit little
// endian) and the value.
func encode(message string, priority int, fields map[string]string) []byte {
	var b bytes.Buffer
	put := func(name, value string) {
		if !strings.Contains(value, "\n") {
			b.WriteString(name + "=" + value + "\n")
			return
		}
		b.WriteString(name + "\n")
		_ = binary.Write(&b, binary.LittleEndian, uint64(len(value)))
		b.WriteString(value + "\n")
	}
	put("MESSAGE", message)
	put("PRIORITY", strconv.Itoa(priority))
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		put(n, fields[n])
	}
	return b.Bytes()
}

// Decode parses a datagram of the native protocol (for tests and
// stand-ins of journald).
func Decode(data []byte) (map[string]string, error) {
	out := map[string]string{}
	for len(data) > 0 {
		nl := bytes.IndexByte(data, '\n')
		if nl < 0 {
			return nil, errors.New("journal: field without a newline")
		}
		line := data[:nl]
		if eq := bytes.IndexByte(line, '='); eq >= 0 {
			out[string(line[:eq])] = string(line[eq+1:])
			data = data[nl+1:]
			continue
		}
		data = data[nl+1:]
		if len(data) < 8 {
			return nil, errors.New("journal: binary field without its length")
		}
		n := binary.LittleEndian.Uint64(data[:8])
		data = data[8:]
		if uint64(len(data)) < n+1 || data[n] != '\n' {
			return nil, errors.New("journal: binary field shorter than its length")
		}
		out[string(line)] = string(data[:n])
		data = data[n+1:]
	}
	return out, nil
}

// Core is a zap core that sends each entry, encoded by enc, to w with the
// priority of its level and etcd's fields: PACKAGE, the caller's
// directory, and SYSLOG_IDENTIFIER, the program's name.
func Core(enc zapcore.Encoder, level zapcore.LevelEnabler, w *Writer) zapcore.Core {
	return &core{LevelEnabler: level, enc: enc, w: w, ident: filepath.Base(os.Args[0])}
}

type core struct {
	zapcore.LevelEnabler
	enc   zapcore.Encoder
	w     *Writer
	ident string
}

func (c *core) With(fields []zapcore.Field) zapcore.Core {
	enc := c.enc.Clone()
	for _, f := range fields {
		f.AddTo(enc)
	}
	return &core{LevelEnabler: c.LevelEnabler, enc: enc, w: c.w, ident: c.ident}
}

func (c *core) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *core) Write(e zapcore.Entry, fields []zapcore.Field) error {
	buf, err := c.enc.EncodeEntry(e, fields)
	if err != nil {
		return err
	}
	defer buf.Free()
	extra := map[string]string{"SYSLOG_IDENTIFIER": c.ident}
	if e.Caller.Defined {
		extra["PACKAGE"] = filepath.Dir(e.Caller.TrimmedPath())
	}
	return c.w.Send(buf.String(), priority(e.Level), extra)
}

func (c *core) Sync() error { return nil }

// priority is a zap level's journal priority, as etcd maps them.
func priority(l zapcore.Level) int {
	switch l {
	case zapcore.DebugLevel:
		return PriDebug
	case zapcore.InfoLevel:
		return PriInfo
	case zapcore.WarnLevel:
		return PriWarning
	case zapcore.ErrorLevel:
		return PriErr
	default:
		return PriCrit
	}
}
