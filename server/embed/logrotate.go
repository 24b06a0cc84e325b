package embed

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sync"

	"go.uber.org/zap"
	"gopkg.in/natefinch/lumberjack.v2"
)

// DefaultLogRotationConfig is etcd's --log-rotation-config-json.
const DefaultLogRotationConfig = `{"maxsize": 100, "maxage": 0, "maxbackups": 0, "localtime": false, "compress": false}`

// ErrLogRotationInvalidLogOutput is etcd's error for rotation without
// exactly one file among the log outputs.
var ErrLogRotationInvalidLogOutput = errors.New("--log-outputs requires a single file path when --log-rotate-config-json is defined")

// rotation is --log-rotation-config-json: lumberjack's settings.
type rotation struct {
	MaxSize    int  `json:"maxsize"`    // MB
	MaxAge     int  `json:"maxage"`     // days
	MaxBackups int  `json:"maxbackups"` // files
	LocalTime  bool `json:"localtime"`
	Compress   bool `json:"compress"`
}

// rotatingSink is a lumberjack file as a zap sink.
type rotatingSink struct{ *lumberjack.Logger }

func (rotatingSink) Sync() error { return nil }

// Rotated files are zap sinks under the "rotate" scheme, registered once
// per process; each path's settings are kept here.
var (
	rotateOnce     sync.Once
	rotateSettings sync.Map // file path -> rotation
)

// rotationConfig checks --enable-log-rotation's conditions as etcd does
// and reads --log-rotation-config-json (lumberjack's settings: maxsize in
// MB, maxage in days, maxbackups, localtime, compress).
func rotationConfig(outputs []string, configJSON string) (rotation, error) {
	var lc rotation
	files := 0
	for _, o := range outputs {
		switch o {
		case DefaultLogOutput, StdErrLogOutput, StdOutLogOutput:
		default:
			files++
		}
	}
	if len(outputs) == 1 && files == 0 || files > 1 {
		return lc, ErrLogRotationInvalidLogOutput
	}
	if configJSON == "" {
		configJSON = DefaultLogRotationConfig
	}
	if err := json.Unmarshal([]byte(configJSON), &lc); err != nil {
		var syntax *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syntax):
			return lc, fmt.Errorf("improperly formatted log rotation config: %w", err)
		case errors.As(err, &typ):
			return lc, fmt.Errorf("invalid log rotation config: %w", err)
		}
		return lc, fmt.Errorf("fail to unmarshal log rotation config: %w", err)
	}
	return lc, nil
}

// rotatedPath is the zap output path of a log file that lumberjack
// rotates with lc's settings.
func rotatedPath(path string, lc rotation) string {
	rotateOnce.Do(func() {
		_ = zap.RegisterSink("rotate", func(u *url.URL) (zap.Sink, error) {
			file := u.Path[1:]
			v, ok := rotateSettings.Load(file)
			if !ok {
				return nil, fmt.Errorf("no rotation settings for %s", file)
			}
			r := v.(rotation)
			return rotatingSink{&lumberjack.Logger{Filename: file, MaxSize: r.MaxSize, MaxAge: r.MaxAge,
				MaxBackups: r.MaxBackups, LocalTime: r.LocalTime, Compress: r.Compress}}, nil
		})
	})
	rotateSettings.Store(path, lc)
	if path[0] == '/' {
		return "rotate:/%2F" + path[1:]
	}
	return "rotate:/" + path
}
