package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// binaryEnv names a prebuilt basalt binary to use instead of building.
const binaryEnv = "BASALT_E2E_BIN"

var basaltBin string

// Binary is the basalt binary the harness runs; RunWithBinary (or
// SetBinary) must have set it.
func Binary() string { return basaltBin }

// SetBinary makes the harness run the binary at path.
func SetBinary(path string) { basaltBin = path }

// BuildBinary builds cmd/basalt into dir and returns its path. With
// BASALT_E2E_RACE=1 it builds with the race detector.
func BuildBinary(dir string) (string, error) {
	out := filepath.Join(dir, "basalt")
	args := []string{"build", "-o", out}
	if os.Getenv("BASALT_E2E_RACE") == "1" {
		args = append(args, "-race")
	}
	args = append(args, "github.com/basaltkv/basalt/cmd/basalt")
	cmd := exec.Command("go", args...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build cmd/basalt: %w\n%s", err, b)
	}
	return out, nil
}

// RunWithBinary builds basalt once (or uses $BASALT_E2E_BIN), runs the
// tests and removes the build: call it from TestMain.
func RunWithBinary(m *testing.M) int {
	if p := os.Getenv(binaryEnv); p != "" {
		SetBinary(p)
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "basalt-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin, err := BuildBinary(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	SetBinary(bin)
	return m.Run()
}
