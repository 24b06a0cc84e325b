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
func BuildBinary(dir string) (string, error) { return BuildCommand(dir, "basalt") }

// BuildCommand builds cmd/<name> into dir and returns its path, with the
// race detector under BASALT_E2E_RACE=1.
func BuildCommand(dir, name string) (string, error) {
	out := filepath.Join(dir, name)
	args := []string{"build", "-o", out}
	if os.Getenv("BASALT_E2E_RACE") == "1" {
		args = append(args, "-race")
	}
	args = append(args, "github.com/basaltkv/basalt/cmd/"+name)
	cmd := exec.Command("go", args...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build cmd/%s: %w\n%s", name, err, b)
	}
	return out, nil
}

var commands = map[string]string{}

// Command is the path of a command RunWithBinary built for the tests.
func Command(name string) string { return commands[name] }

// RunWithBinary builds basalt once (or uses $BASALT_E2E_BIN) and the other
// commands named (see Command), runs the tests and removes the builds:
// call it from TestMain.
func RunWithBinary(m *testing.M, others ...string) int {
	dir, err := os.MkdirTemp("", "basalt-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if p := os.Getenv(binaryEnv); p != "" {
		SetBinary(p)
	} else {
		bin, err := BuildBinary(dir)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		SetBinary(bin)
	}
	for _, name := range others {
		bin, err := BuildCommand(dir, name)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		commands[name] = bin
	}
	return m.Run()
}
