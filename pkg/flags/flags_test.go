package flags

import (
	"flag"
	"net/url"
	"strings"
	"testing"
)

func TestParseURLs(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr string
	}{
		{"http://127.0.0.1:2379", "http://127.0.0.1:2379", ""},
		{"https://b:1, http://a:2", "http://a:2,https://b:1", ""},
		{"unix://sock", "unix://sock", ""},
		{"unixs://sock:0", "unixs://sock:0", ""},
		{"foo://x", "", "URL scheme must be http, https, unix, or unixs: foo://x"},
		{"http://127.0.0.1", "", `URL address does not have the form "host:port": http://127.0.0.1`},
		{"http://127.0.0.1:2379/v2", "", "URL must not contain a path: http://127.0.0.1:2379/v2"},
		{"127.0.0.1:2379", "", "first path segment in URL cannot contain colon"},
		{"", "", "URL scheme must be"},
	}
	for _, tt := range tests {
		got, err := ParseURLs(strings.Split(tt.in, ","))
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseURLs(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || URLsString(got) != tt.want {
			t.Errorf("ParseURLs(%q) = %q, %v; want %q", tt.in, URLsString(got), err, tt.want)
		}
	}
}

func TestValues(t *testing.T) {
	var us []url.URL
	uv := NewURLs(&us)
	if err := uv.Set("http://b:1,http://a:1,http://b:1"); err != nil || uv.String() != "http://a:1,http://b:1" {
		t.Errorf("URLs = %q, %v", uv.String(), err)
	}
	if err := uv.Set(""); err != nil || uv.String() != "http://a:1,http://b:1" {
		t.Errorf("empty Set changed URLs to %q (%v)", uv.String(), err)
	}
	var ss []string
	if sv := NewStrings(&ss, true); sv.Set("b,a,b") != nil || sv.String() != "a,b" {
		t.Errorf("unique Strings = %q", sv.String())
	}
	if sv := NewStrings(&ss, false); sv.Set("b,a,b") != nil || sv.String() != "b,a,b" {
		t.Errorf("Strings = %q", sv.String())
	}
	s := "new"
	cv := NewChoice(&s, "new", "existing")
	if err := cv.Set("old"); err == nil || s != "new" {
		t.Errorf("Choice accepted %q", s)
	}
	if err := cv.Set("existing"); err != nil || s != "existing" {
		t.Errorf("Choice = %q, %v", s, err)
	}
}

func TestSetFromEnv(t *testing.T) {
	tests := []struct {
		name         string
		args         []string
		env          []string
		wantName     string
		wantUsed     string
		wantUnrec    string
		wantShadowed string
		wantErr      string
	}{
		{name: "env sets an unset flag", env: []string{"ETCD_NAME=a", "PATH=/bin"}, wantName: "a", wantUsed: "ETCD_NAME=a"},
		{name: "empty env value is not used", env: []string{"ETCD_NAME="}, wantName: "default"},
		{name: "flag and env", args: []string{"--name=b"}, env: []string{"ETCD_NAME=a"}, wantName: "b", wantShadowed: "ETCD_NAME"},
		{name: "unknown variable", env: []string{"ETCD_NAMES=x"}, wantName: "default", wantUnrec: "ETCD_NAMES=x"},
		{name: "skipped variable", env: []string{"ETCD_SKIP=1"}, wantName: "default"},
		{name: "dashes to underscores", env: []string{"ETCD_DATA_DIR=/d"}, wantName: "default", wantUsed: "ETCD_DATA_DIR=/d"},
		{name: "bad value", env: []string{"ETCD_TICKS=many"}, wantName: "default", wantErr: `invalid value "many" for ETCD_TICKS`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			name := fs.String("name", "default", "")
			fs.String("data-dir", "", "")
			fs.Int("ticks", 1, "")
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			rep, err := SetFromEnv(fs, "ETCD", tt.env, "ETCD_SKIP")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if *name != tt.wantName {
				t.Errorf("name = %q, want %q", *name, tt.wantName)
			}
			if got := strings.Join(rep.Used, ","); got != tt.wantUsed {
				t.Errorf("Used = %q, want %q", got, tt.wantUsed)
			}
			if got := strings.Join(rep.Unrecognized, ","); got != tt.wantUnrec {
				t.Errorf("Unrecognized = %q, want %q", got, tt.wantUnrec)
			}
			if got := strings.Join(rep.Shadowed, ","); got != tt.wantShadowed {
				t.Errorf("Shadowed = %q, want %q", got, tt.wantShadowed)
			}
		})
	}
}
