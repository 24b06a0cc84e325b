package embed

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/basaltkv/basalt/pkg/journal"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// logEncoderConfig is etcd's: JSON fields "level", "ts", "caller", "msg",
// timestamps with microseconds.
var logEncoderConfig = zapcore.EncoderConfig{
	TimeKey:       "ts",
	LevelKey:      "level",
	NameKey:       "logger",
	CallerKey:     "caller",
	MessageKey:    "msg",
	StacktraceKey: "stacktrace",
	LineEnding:    zapcore.DefaultLineEnding,
	EncodeLevel:   zapcore.LowercaseLevelEncoder,
	EncodeTime: func(t time.Time, enc zapcore.PrimitiveArrayEncoder) {
		enc.AppendString(t.Format("2006-01-02T15:04:05.000000Z0700"))
	},
	EncodeDuration: zapcore.StringDurationEncoder,
	EncodeCaller:   zapcore.ShortCallerEncoder,
}

func (cfg *Config) validateLogging() error {
	_, err := cfg.loggerConfig()
	return err
}

// loggerSetup is how the member logs: zap's configuration, and whether
// its one output is the systemd journal (whose socket is then
// reachable).
type loggerSetup struct {
	zap     zap.Config
	journal bool
}

// loggerConfig turns --logger, --log-level, --log-format and
// --log-outputs into a zap configuration.
func (cfg *Config) loggerConfig() (loggerSetup, error) {
	zc, journalOut, err := cfg.zapConfig()
	if err != nil || !journalOut {
		return loggerSetup{zap: zc}, err
	}
	if len(cfg.LogOutputs) > 1 {
		return loggerSetup{}, fmt.Errorf("running with systemd/journal but other '--log-outputs' values (%q) are configured with 'default'; override 'default' value with something else", cfg.LogOutputs)
	}
	if err := journal.Check(journal.Socket()); err != nil {
		return loggerSetup{}, fmt.Errorf("can't find journal (%w)", err)
	}
	return loggerSetup{zap: zc, journal: true}, nil
}

// zapConfig is loggerConfig's zap configuration; journalOut is true
// when the systemd journal is among the outputs (it has no zap path).
func (cfg *Config) zapConfig() (zc zap.Config, journalOut bool, err error) {
	switch cfg.Logger {
	case "zap":
	case "capnslog":
		return zc, false, errors.New("--logger=capnslog is removed in v3.5")
	default:
		return zc, false, fmt.Errorf("unknown logger option %q", cfg.Logger)
	}
	outputs := cfg.LogOutputs
	if len(outputs) == 0 {
		outputs = []string{DefaultLogOutput}
	}
	if len(outputs) > 1 && slices.Contains(outputs, DefaultLogOutput) {
		return zc, false, fmt.Errorf("multi logoutput for %q is not supported yet", DefaultLogOutput)
	}
	var rot rotation
	if cfg.EnableLogRotation {
		var err error
		if rot, err = rotationConfig(outputs, cfg.LogRotationConfigJSON); err != nil {
			return zc, false, err
		}
	}
	var paths []string
	for _, o := range outputs {
		switch o {
		case DefaultLogOutput, StdErrLogOutput:
			paths = append(paths, StdErrLogOutput)
		case StdOutLogOutput:
			paths = append(paths, StdOutLogOutput)
		case JournalLogOutput:
			journalOut = true
		case "":
			return zc, false, errors.New("--log-outputs has an empty output")
		default:
			if cfg.EnableLogRotation {
				o = rotatedPath(o, rot)
			}
			paths = append(paths, o)
		}
	}
	slices.Sort(paths)
	paths = slices.Compact(paths)
	var level zapcore.Level
	if err := level.Set(cfg.LogLevel); err != nil {
		return zc, false, fmt.Errorf("invalid --log-level %q (only supports debug, info, warn, error, panic, or fatal)", cfg.LogLevel)
	}
	encoding := cfg.LogFormat
	switch encoding {
	case "":
		encoding = DefaultLogFormat
	case "json", "console":
	default:
		return zc, false, fmt.Errorf("unknown log format: %s, supported values json, console", cfg.LogFormat)
	}
	zc = zap.Config{
		Level:            zap.NewAtomicLevelAt(level),
		Sampling:         &zap.SamplingConfig{Initial: 100, Thereafter: 100},
		Encoding:         encoding,
		EncoderConfig:    logEncoderConfig,
		OutputPaths:      paths,
		ErrorOutputPaths: paths,
	}
	return zc, journalOut, nil
}

// NewLogger builds the member's logger as etcd configures its own: to
// the systemd journal (unsampled, as etcd's), or to zap's outputs.
func (cfg *Config) NewLogger() (*zap.Logger, error) {
	ls, err := cfg.loggerConfig()
	if err != nil {
		return nil, err
	}
	if ls.journal {
		enc := zapcore.NewJSONEncoder(ls.zap.EncoderConfig)
		if ls.zap.Encoding == "console" {
			enc = zapcore.NewConsoleEncoder(ls.zap.EncoderConfig)
		}
		w := journal.NewWriter(journal.Socket(), os.Stderr)
		return zap.New(journal.Core(enc, ls.zap.Level, w), zap.AddCaller(), zap.ErrorOutput(zapcore.Lock(os.Stderr))), nil
	}
	lg, err := ls.zap.Build()
	if err != nil {
		return nil, fmt.Errorf("build logger: %w", err)
	}
	return lg, nil
}

// DefaultLogger is the logger used before the configuration is known
// (etcd's: info level, JSON to stderr).
func DefaultLogger() *zap.Logger {
	c := NewConfig()
	lg, err := c.NewLogger()
	if err != nil {
		panic(err)
	}
	return lg
}

// TLSRejectionLogger returns the handshake-failure callback that logs
// refused connections as etcd does ("rejected connection on client
// endpoint"); io.EOF (a client that hung up) is logged at debug.
func TLSRejectionLogger(lg *zap.Logger, msg string) func(*tls.Conn, error) {
	return func(conn *tls.Conn, err error) {
		logf := lg.Warn
		if errors.Is(err, io.EOF) {
			logf = lg.Debug
		}
		st := conn.ConnectionState()
		fields := []zap.Field{
			zap.String("remote-addr", conn.RemoteAddr().String()),
			zap.String("server-name", st.ServerName),
		}
		if len(st.PeerCertificates) > 0 {
			cert := st.PeerCertificates[0]
			ips := make([]string, len(cert.IPAddresses))
			for i, ip := range cert.IPAddresses {
				ips[i] = ip.String()
			}
			fields = append(fields, zap.Strings("ip-addresses", ips), zap.Strings("dns-names", cert.DNSNames))
		}
		logf(msg, append(fields, zap.Error(err))...)
	}
}
