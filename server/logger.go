package server

import (
	"log/slog"

	"go.uber.org/zap"
	"go.uber.org/zap/exp/zapslog"
)

// raftLogger adapts zap to raft's Logger.
type raftLogger struct{ s *zap.SugaredLogger }

func (l raftLogger) Debugf(format string, args ...any)   { l.s.Debugf(format, args...) }
func (l raftLogger) Infof(format string, args ...any)    { l.s.Infof(format, args...) }
func (l raftLogger) Warningf(format string, args ...any) { l.s.Warnf(format, args...) }

// slogFor hands zap to the storage packages, which log through slog.
func slogFor(lg *zap.Logger) *slog.Logger {
	return slog.New(zapslog.NewHandler(lg.Core()))
}
