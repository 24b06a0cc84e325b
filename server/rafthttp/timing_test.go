package rafthttp

import (
	"testing"
	"time"
)

// TestConfiguredTimeouts: --raft-read-timeout and --raft-write-timeout set
// the streams' deadlines, and an idle stream's keep-alive stays well
// within the read deadline.
func TestConfiguredTimeouts(t *testing.T) {
	tests := []struct {
		read, write             time.Duration
		wantRead, wantWrite     time.Duration
		wantKeepalive, wantDial time.Duration
	}{
		{0, 0, DefaultConnTimeout, DefaultConnTimeout, DefaultConnTimeout / 3, time.Second},
		{900 * time.Millisecond, 2 * time.Second, 900 * time.Millisecond, 2 * time.Second, 300 * time.Millisecond, time.Second},
	}
	for _, tt := range tests {
		tm := defaultTiming(Config{ReadTimeout: tt.read, WriteTimeout: tt.write})
		if tm.readTimeout != tt.wantRead || tm.writeTimeout != tt.wantWrite || tm.keepalive != tt.wantKeepalive || tm.dialTimeout != tt.wantDial {
			t.Errorf("read %v write %v: timing %+v", tt.read, tt.write, tm)
		}
	}
}
